"""Model Garden's `official` and ours (`official.hub_export`) import together
in every way the project runs: scripts from the repo root or elsewhere, pytest."""
import glob
import os
import subprocess
import sys

import pytest

from conftest import ROOT, script_env

SCRIPTS = sorted(glob.glob(os.path.join(ROOT, 'export_scripts', '*.py')))

# Runs a script's top level exactly as `python SCRIPT` would (sys.path[0] is
# the script's folder), but with a run_name other than __main__ so that it
# stops before exporting; then imports both halves of the namespace.
PROBE = r'''
import os, runpy, sys
script = sys.argv[1]
sys.path[0] = os.path.dirname(script)
runpy.run_path(script, run_name='import_probe')
import official.nlp.modeling, official.vision.modeling, official.hub_export.spec
print(official.nlp.modeling.__file__)
print(official.hub_export.spec.__file__)
'''


def test_pytest_sees_both_halves():
  import official.hub_export.driver  # pylint: disable=g-import-not-at-top
  import official.nlp.modeling  # pylint: disable=g-import-not-at-top
  assert official.hub_export.driver.__file__.startswith(ROOT)
  assert 'site-packages' in official.nlp.modeling.__file__


# Every script from another directory (the harder case: nothing relative to
# the cwd helps); the seed recipe from the root as well.
CASES = [(s, 'elsewhere') for s in SCRIPTS] + [
    (os.path.join(ROOT, 'export_scripts', 'mul_export.py'), 'root')]


@pytest.mark.parametrize('script,cwd', CASES,
                         ids=[f'{os.path.basename(s)}-{c}' for s, c in CASES])
def test_script_imports_both_halves(script, cwd, tmp_path):
  proc = subprocess.run(
      [sys.executable, '-c', PROBE, script],
      cwd=ROOT if cwd == 'root' else str(tmp_path), env=script_env(),
      capture_output=True, text=True, check=False, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  mg, ours = proc.stdout.split()[-2:]
  assert 'site-packages' in mg
  assert ours.startswith(ROOT)


def test_script_runs_from_another_directory(tmp_path):
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'export_scripts', 'mul_export.py'),
       '--helpshort'], cwd=str(tmp_path), env=script_env(),
      capture_output=True, text=True, check=False, timeout=300)
  # absl exits 1 after printing help; what matters is that the script and
  # the library imported from elsewhere and list the common flags.
  assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
  assert '--gin_file' in proc.stdout and '--export_dir' in proc.stdout

"""Shared test helpers.

Recipes are tested end to end through their real command line
(`run_script`), against the in-memory source model (the export's own
verification) and against golden outputs committed under
`tests/testdata/<recipe>/golden/` (`assert_golden`).
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if sys.path[0] != ROOT:
  sys.path.insert(0, ROOT)  # Our `official` must extend Model Garden's.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import numpy as np  # pylint: disable=g-import-not-at-top
import pytest  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

tf.get_logger().setLevel('ERROR')

TESTDATA = os.path.join(ROOT, 'tests', 'testdata')


def script_env():
  env = dict(os.environ)
  env.pop('PYTHONPATH', None)
  env['TF_CPP_MIN_LOG_LEVEL'] = '3'
  return env


def run_script(name, *args, cwd=ROOT, timeout=900):
  """Runs export_scripts/<name> as a user would; returns CompletedProcess."""
  script = os.path.join(ROOT, 'export_scripts', name)
  return subprocess.run([sys.executable, script, *args], cwd=cwd,
                        env=script_env(), capture_output=True, text=True,
                        timeout=timeout, check=False)


def assert_ok(proc):
  assert proc.returncode == 0, (
      f'exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n'
      f'{proc.stderr[-4000:]}')


def assert_one_line_error(proc, *fragments, code=None):
  """A failed run printed `error: ...` naming the problem, no traceback."""
  assert proc.returncode != 0, proc.stdout
  if code is not None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
  assert 'Traceback' not in proc.stderr, proc.stderr
  errors = [l for l in proc.stderr.splitlines() if l.startswith('error: ')]
  assert len(errors) == 1, proc.stderr
  for f in fragments:
    assert f in proc.stderr, (f, proc.stderr)
  return errors[0]


def assert_golden(saved_model_dir, golden_npz, atol=1e-6):
  """The export reproduces the committed golden outputs within `atol`."""
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  from official.hub_export.checker import cases as cases_lib  # pylint: disable=g-import-not-at-top
  obj = hub.load(saved_model_dir)
  cases = cases_lib.load_cases(golden_npz)
  assert cases, golden_npz
  for i, case in enumerate(cases):
    target = getattr(obj, case['target']) if case['target'] else obj
    try:
      out = target(case['inputs'], training=False, **case['kwargs'])
    except TypeError:
      out = target(case['inputs'], **case['kwargs'])
    got = dict(cases_lib.leaves(out))
    want = dict(cases_lib.leaves(case['expected']))
    if len(want) == 1 and '' in want and len(got) == 1:
      got = {'': next(iter(got.values()))}
    for key, w in want.items():
      assert key in got, (i, key, sorted(got))
      g = cases_lib.as_array(got[key])
      w = cases_lib.as_array(w)
      assert g.shape == w.shape, (i, key, g.shape, w.shape)
      if w.dtype.kind in 'iubS':
        np.testing.assert_array_equal(g, w, err_msg=f'case {i} {key}')
      else:
        np.testing.assert_allclose(g, w, rtol=0, atol=atol,
                                   err_msg=f'case {i} {key}')


@pytest.fixture(scope='session')
def session_tmp(tmp_path_factory):
  return tmp_path_factory.mktemp('session')

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


def assert_golden(saved_model_dir, golden_npz, atol=1e-5):
  """The export reproduces the committed golden outputs within `atol`.

  The default is the recipes' declared output tolerance: the same weights
  and graph sum in another order when the traced graph's structure or the
  machine's load changes the kernels oneDNN picks (BERT `.mlm` logits move
  by ~2e-6); ids and strings must be equal.
  """
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


def card_code_blocks(saved_model_dir):
  """The ```python blocks of an export's model card, split by consumer:
  (tf_keras blocks, Keras 3 blocks)."""
  import re  # pylint: disable=g-import-not-at-top
  with open(os.path.join(saved_model_dir, 'assets.extra', 'README.md')) as f:
    text = f.read()
  blocks = re.findall(r'^```python\n(.*?)^```', text, re.M | re.S)
  assert blocks, saved_model_dir
  code = [b.replace('"HANDLE"', repr(str(saved_model_dir))) for b in blocks]
  keras3 = [c for c in code if re.search(r'^import keras\b', c, re.M)]
  return [c for c in code if c not in keras3], keras3


def assert_card_code_runs(*saved_model_dirs):
  """Every code block of the exports' model cards runs: the tf_keras blocks
  in one tf_keras process, the Keras 3 blocks in one Keras 3 process (each
  block in a namespace of its own)."""
  import json  # pylint: disable=g-import-not-at-top
  tf_keras_blocks, keras3_blocks = [], []
  for d in saved_model_dirs:
    a, b = card_code_blocks(d)
    tf_keras_blocks += a
    keras3_blocks += b
  runner = ('import json, sys\n'
            'for i, code in enumerate(json.load(open(sys.argv[1]))):\n'
            '  exec(compile(code, f"<card block {i}>", "exec"), {})\n'
            'print("RAN", i + 1)\n')
  import tempfile  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as tmp:
    procs = []
    for blocks, legacy in ((tf_keras_blocks, True), (keras3_blocks, False)):
      if not blocks:
        continue
      env = script_env()
      if legacy:
        env['TF_USE_LEGACY_KERAS'] = '1'
      else:
        env.pop('TF_USE_LEGACY_KERAS', None)
      name = os.path.join(tmp, 'tf_keras' if legacy else 'keras3')
      with open(name + '.json', 'w') as f:
        json.dump(blocks, f)
      out = open(name + '.out', 'w+')
      procs.append((blocks, out, subprocess.Popen(
          [sys.executable, '-I', '-c', runner, name + '.json'], env=env,
          cwd=tmp, stdout=out, stderr=subprocess.STDOUT, text=True)))
    for blocks, out, proc in procs:
      proc.wait(timeout=600)
      out.seek(0)
      log = out.read()
      out.close()
      assert proc.returncode == 0 and f'RAN {len(blocks)}' in log, (
          '\n\n'.join(blocks) + '\n' + log[-3000:])
  return tf_keras_blocks, keras3_blocks

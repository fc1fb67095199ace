"""Verification catches broken exports (official/hub_export/checker/).

Each test saves a SavedModel with one deliberate defect, bypassing the
writer, and checks that `verify.verify` fails on exactly that defect.
"""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from official.hub_export import spec
from official.hub_export import verify
from official.hub_export import writer
from official.hub_export.spec import ExportError

SPEC = spec.single(tf.TensorSpec([None, 3], tf.float32, name='x'), 'logits',
                   spec.Output('logits', tolerance=1e-6))
CASES = [spec.Case(np.random.RandomState(0).normal(size=[1, 3]).astype('f')),
         spec.Case(np.random.RandomState(1).normal(size=[3, 3]).astype('f'))]


class Linear(writer.Reusable):
  """y = x @ w (+ optional defects)."""

  def __init__(self, softmax=False, dead=False, bad_loss=False, stray=False,
               noise=0.0):
    super().__init__()
    self.noise = noise
    self.w = tf.Variable(np.arange(6, dtype=np.float32).reshape(3, 2) / 6)
    self.unused = tf.Variable(1.0)
    self.variables = [self.w] + ([self.unused] if dead else [])
    self.trainable_variables = [self.w] + ([self.unused] if dead or stray
                                           else [])
    loss = ((lambda: tf.fill([2], 0.1)) if bad_loss
            else (lambda: 0.01 * tf.reduce_sum(self.w**2)))
    self.regularization_losses = [tf.function(loss, input_signature=[])]
    self.softmax = softmax

  @tf.function
  def __call__(self, x, training=False):
    y = tf.matmul(x, self.w)
    if self.noise:  # Random also with training=False.
      y += self.noise * tf.random.uniform(tf.shape(y))
    return tf.nn.softmax(y) if self.softmax else y


def reference(case):
  w = np.arange(6, dtype=np.float32).reshape(3, 2) / 6
  return case.inputs @ w


def _save(obj, path, trace_training=(True, False), batch=None):
  for t in trace_training:
    obj.__call__.get_concrete_function(
        tf.TensorSpec([batch, 3], tf.float32), training=t)
  sig = obj.__call__.get_concrete_function(
      tf.TensorSpec([batch, 3], tf.float32, name='x'), training=False)
  tf.saved_model.save(obj, path, signatures={'serving_default': sig})
  return path


def _failures(path, cases=CASES, ref=reference):
  with pytest.raises(ExportError) as e:
    verify.verify(path, SPEC, cases, ref)
  lines = str(e.value).splitlines()
  assert lines[0].startswith('verification failed')
  return '\n'.join(lines[1:])


def test_good_export_passes(tmp_path):
  obj = Linear()
  writer.write(obj, str(tmp_path / 'm'), SPEC)
  result = verify.verify(str(tmp_path / 'm'), SPEC, CASES, reference)
  assert result['failed'] == 0
  names = [c['name'] for c in result['checks']]
  assert 'hub.KerasLayer fit step updates weights' in names
  assert 'root every trainable variable gets a gradient' in names
  # The Keras 3 consumer ran too (its own process), and mixed precision.
  assert 'Keras 3 TFSMLayer(serve) fit step updates weights' in names
  assert 'Keras 3 TFSMLayer(serve) losses reach model.losses' in names
  assert 'hub.KerasLayer under mixed_float16' in names
  assert 'Keras 3 TFSMLayer under mixed_bfloat16' in names
  assert result['info']['keras3']['keras_version'].startswith('3.')


def test_wrong_numbers(tmp_path):
  path = _save(Linear(), str(tmp_path / 'm'))
  fails = _failures(path, ref=lambda c: reference(c) + 1e-3)
  assert 'FAIL root output logits equals source: max abs diff 0.001' in fails


def test_missing_training_trace(tmp_path):
  path = _save(Linear(), str(tmp_path / 'm'), trace_training=(False,))
  assert 'FAIL root.__call__(training=True)' in _failures(path)


def test_softmax_output_declared_as_logits(tmp_path):
  path = _save(Linear(softmax=True), str(tmp_path / 'm'))
  fails = _failures(path, ref=lambda c: tf.nn.softmax(reference(c)))
  assert 'FAIL root output logits is logits' in fails
  assert 'looks like softmax output' in fails
  assert 'FAIL graph has no final softmax/sigmoid before logits: Softmax' in fails


def test_split_checks_run_once_in_the_keras3_process(tmp_path):
  """Beside the Keras 3 consumer, a sub-object's numerical checks and the
  re-save round trip run in that process (so the two take about as long):
  each is reported once, and a sub-object output that differs from the
  source still fails the export."""
  obj = Linear()
  obj.head = Linear()
  s = dataclasses.replace(SPEC, subobjects={'head': SPEC})
  cases = CASES + [spec.Case(c.inputs, target='head') for c in CASES]
  path = str(tmp_path / 'm')
  writer.write(obj, path, s)
  result = verify.verify(path, s, cases, reference)
  names = [c['name'] for c in result['checks']]
  assert names.count('head every trainable variable gets a gradient') == 1
  assert names.count('head output logits equals source') == 1
  assert names.count('load -> re-save -> load the copy alone') == 1
  for group in ('head checks', 'self-contained'):
    assert group in result['info']['keras3']['seconds']
    assert group not in result['info']['seconds']
  wrong = lambda c: reference(c) + (0.5 if c.target == 'head' else 0.0)
  with pytest.raises(ExportError) as e:
    verify.verify(path, s, cases, wrong)
  assert 'FAIL head output logits equals source' in str(e.value)
  assert 'FAIL root output' not in str(e.value)


class _FileOfTheOriginal(Linear):
  """Reads a file by a path string baked into its graph (not an Asset): a
  re-saved copy still reads the original's file."""

  def __init__(self, path):
    super().__init__()
    self.table = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
        tf.constant(path), tf.string, 0, tf.int64, 1, delimiter=' '), -1)

  @tf.function
  def __call__(self, x, training=False):
    one = tf.cast(self.table.lookup(tf.constant('a')), tf.float32)
    return tf.matmul(x, self.w) * one


def test_copy_that_names_files_of_the_original_fails(tmp_path):
  path = tmp_path / 'm'
  path.mkdir()
  (path / 'vocab.txt').write_text('a 1\n')
  _save(_FileOfTheOriginal(str(path / 'vocab.txt')), str(path))
  fails = _failures(str(path))
  assert 'FAIL load -> re-save -> load the copy alone: its graphs name ' \
      'files of the original' in fails


def test_one_pair_of_processes_checks_a_run_s_exports_in_turn(tmp_path):
  """As the driver verifies a run: the two processes that checked the first
  export take the next (no second start-up), the next's result is its own,
  and it still fails on its own defect."""
  import time  # pylint: disable=g-import-not-at-top
  first, second = str(tmp_path / 'first'), str(tmp_path / 'second')
  writer.write(Linear(), first, SPEC)
  writer.write(Linear(), second, SPEC)
  verifier = verify.Verifier()
  try:
    verifier.add(first, SPEC, CASES, reference)
    while not verifier.jobs[0].done:  # (The recipe traces the next export.)
      verifier.poll()
      time.sleep(0.05)
    assert verifier.jobs[0].result()['failed'] == 0
    with pytest.raises(ExportError) as e:
      verifier.add(second, SPEC, CASES, lambda c: reference(c) + 0.5)
      verifier.finish()
    assert f'verification failed for {second}' in str(e.value)
    assert 'FAIL root output logits equals source' in str(e.value)
    assert verifier._started == 2  # pylint: disable=protected-access
  finally:
    verifier.close()


def test_float_noise_between_calls_within_tolerance_passes(tmp_path):
  # As oneDNN's run-to-run rounding on CPU (BERT-base: ~3e-6).
  path = str(tmp_path / 'm')
  writer.write(Linear(noise=1e-7), path, SPEC)
  result = verify.verify(path, SPEC, CASES, reference)
  assert result['failed'] == 0
  det = [c for c in result['checks']
         if c['name'] == 'root deterministic with training=False']
  assert det and det[0]['status'] == 'PASS'


def test_random_outputs_with_training_false_fail(tmp_path):
  path = _save(Linear(noise=0.1), str(tmp_path / 'm'))
  fails = _failures(path, ref=lambda c: reference(c) + 0.05)
  assert 'FAIL root deterministic with training=False' in fails
  assert 'dropout or sampling active with training=False?' in fails


def test_dead_variable(tmp_path):
  path = _save(Linear(dead=True), str(tmp_path / 'm'))
  fails = _failures(path)
  assert 'FAIL root every trainable variable gets a gradient' in fails
  assert 'zero: Variable' in fails


def test_non_scalar_regularization_loss(tmp_path):
  path = _save(Linear(bad_loss=True), str(tmp_path / 'm'))
  assert 'FAIL root.regularization_losses are finite scalars' in _failures(path)


def test_trainable_variable_missing_from_variables(tmp_path):
  path = _save(Linear(stray=True), str(tmp_path / 'm'))
  assert 'FAIL root.trainable_variables ⊆ variables' in _failures(path)


def test_export_without_keras3_endpoints_or_half_traces(tmp_path):
  # Saved as before the writer added them: Keras 3 and mixed-precision
  # consumers cannot use it.
  fails = _failures(_save(Linear(), str(tmp_path / 'm')))
  assert 'FAIL Keras 3 endpoints serve, call_training exist' in fails
  assert 'FAIL hub.KerasLayer under mixed_float16' in fails
  assert 'FAIL Keras 3 TFSMLayer under mixed_bfloat16' in fails


def test_training_endpoint_that_ignores_training(tmp_path):
  obj = Normalized()  # Batch norm: training=True differs.
  obj.serve = tf.function(lambda x: obj.__call__(x, training=False))
  obj.call_training = tf.function(lambda x: obj.__call__(x, training=False))
  for fn in (obj.serve, obj.call_training):
    fn.get_concrete_function(tf.TensorSpec([None, 3], tf.float32))
  path = _save(obj, str(tmp_path / 'm'))
  fails = _failures(path, ref=lambda c: obj(tf.constant(c.inputs)).numpy())
  assert ('FAIL Keras 3 TFSMLayer(serve) training=True uses the training '
          'graph: identical to training=False') in fails


def test_fixed_batch_dimension(tmp_path):
  path = _save(Linear(), str(tmp_path / 'm'), batch=3)
  fails = _failures(path)
  assert 'FAIL serving_default inputs match the declared API' in fails
  assert 'FAIL root case 0' in fails  # The batch-1 sample cannot be fed.


class Normalized(writer.Reusable):
  """x @ w, then batch norm (`frozen_bn`: ignores `training`) or layer norm."""

  def __init__(self, norm='batch', frozen_bn=False):
    super().__init__()
    import tf_keras  # pylint: disable=g-import-not-at-top
    self.w = tf.Variable(np.arange(6, dtype=np.float32).reshape(3, 2) / 6)
    self.norm = (tf_keras.layers.BatchNormalization() if norm == 'batch'
                 else tf_keras.layers.LayerNormalization())
    self.norm.build([None, 2])
    self.variables = [self.w] + self.norm.variables
    self.trainable_variables = [self.w] + self.norm.trainable_variables
    self.regularization_losses = []
    self.frozen_bn = frozen_bn

  @tf.function
  def __call__(self, x, training=False):
    return self.norm(tf.matmul(x, self.w),
                     training=False if self.frozen_bn else training)


def _training_mode_checks(obj, path):
  writer.write(obj, path, SPEC)
  result = verify.verify(path, SPEC, CASES,
                         lambda c: obj(tf.constant(c.inputs)).numpy())
  return {c['name']: (c['status'], c['value']) for c in result['checks']}


def test_batch_norm_frozen_in_training_mode_warns(tmp_path):
  checks = _training_mode_checks(Normalized(frozen_bn=True),
                                 str(tmp_path / 'm'))
  status, value = checks['training=True updates batch-norm statistics']
  assert status == 'WARN' and '2 moving mean/variance variables' in value


def test_batch_norm_in_training_mode_passes(tmp_path):
  checks = _training_mode_checks(Normalized(), str(tmp_path / 'm'))
  assert 'training=True updates batch-norm statistics' not in checks
  assert checks['training=True mode differs from inference'] == (
      'PASS', 'batch-norm updates in the graph; outputs differ')
  # Keras 3: TFSMLayer(training=True) runs the writer's call_training.
  assert checks['Keras 3 TFSMLayer(serve) training=True uses the training '
                'graph'][0] == 'PASS'


def test_layer_norm_is_not_taken_for_batch_norm(tmp_path):
  checks = _training_mode_checks(Normalized(norm='layer'),
                                 str(tmp_path / 'm'))
  assert checks['training=True mode'] == (
      'PASS', 'no dropout or batch-norm updates in the graph')


def test_checker_process_imports_nothing_else_of_the_repository(tmp_path):
  """The checker runs as `python -I checker`: a consumer's view, where this
  repository's library (and Model Garden's namespace half of ours) is absent."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  from official.hub_export import verify as verify_lib  # pylint: disable=g-import-not-at-top
  probe = tmp_path / 'probe.py'
  probe.write_text(
      'import runpy, sys\n'
      'sys.argv = ["checker", "--help"]\n'
      'try:\n'
      f'  runpy.run_path({verify_lib.CHECKER!r}, run_name="__main__")\n'
      'except SystemExit:\n'
      '  pass\n'
      'mods = sorted(m for m in sys.modules if m.startswith("official"))\n'
      'print("MODULES", mods)\n')
  proc = subprocess.run([sys.executable, '-I', str(probe)], cwd=str(tmp_path),
                        env=verify_lib.consumer_env(), capture_output=True,
                        text=True, check=False, timeout=300)
  assert '--saved_model' in proc.stdout, proc.stderr[-2000:]
  assert 'MODULES []' in proc.stdout, proc.stdout[-2000:]


def test_model_errors_fail_checker_errors_are_errors():
  """Who is at fault: the model raising (in a call into it, or a runtime
  error of its graph) is a FAIL; the checker raising is an ERROR, which
  does not judge the model."""
  from official.hub_export.checker import report  # pylint: disable=g-import-not-at-top
  r = report.Report()
  def model_fn():
    raise ValueError('Could not find matching concrete function')
  r.guard('a call', lambda: report.model_call(model_fn))
  r.guard('a graph', lambda: tf.debugging.assert_equal(1, 2))
  assert [c['status'] for c in r.checks] == ['FAIL', 'FAIL']
  assert r.verdict()[0] == 'FAIL'
  r = report.Report()
  r.guard('a check', lambda: {}['pooled_output'])
  (check,) = r.checks
  assert check['status'] == 'ERROR'
  assert check['value'].startswith('internal error of the checker: KeyError')
  verdict, reason = r.verdict()
  assert verdict == 'ERROR' and 'not a verdict on the model' in reason


def test_internal_error_of_the_checker_exits_3(tmp_path):
  """A checker that cannot finish says so (exit 3, ERROR lines), instead of
  failing a good model: here the declared API it is given lacks outputs."""
  import json  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  path = str(tmp_path / 'm')
  writer.write(Linear(), path, SPEC)
  broken = SPEC.to_json()
  del broken['outputs']
  spec_path = tmp_path / 'spec.json'
  spec_path.write_text(json.dumps(broken))
  cases_path = str(tmp_path / 'cases.npz')
  verify.write_cases(cases_path, CASES, reference)
  proc = subprocess.run(
      [sys.executable, '-I', verify.CHECKER, f'--saved_model={path}',
       f'--spec={spec_path}', f'--cases={cases_path}'], cwd=str(tmp_path), env=verify.consumer_env(),
      capture_output=True, text=True, check=False, timeout=600)
  assert proc.returncode == 3, proc.stdout + proc.stderr[-2000:]
  assert 'ERROR root checks: internal error of the checker: KeyError at ' \
      'reusable.py:' in proc.stdout
  assert 'FAIL' not in proc.stdout
  assert 'verdict: ERROR: internal error of the checker in' in proc.stdout


_SLOT_NAMES = '''
import json, sys
import keras
import numpy as np
from official.hub_export.checker import keras3, report

class Layer:  # What the check reads of a TFSMLayer: its trainable weights.
  trainable_weights = [keras.Variable(np.zeros([2], 'float32'), name=n)
                       for n in sys.argv[1:]]

r = report.Report()
keras3._guard(r, 'layer Adam slot names',
              lambda: keras3._slot_names(r, 'layer', Layer()))
print(json.dumps([(c['status'], c['name']) for c in r.checks]))
'''


@pytest.mark.parametrize('names,status', [
    (['dense_kernel', 'dense_bias'], 'PASS'),
    # A plain TFSMLayer keeps TF's ':0' suffix: Adam's slot scope refuses it.
    (['dense_kernel', 'dense_kernel:0'], 'FAIL')])
def test_adam_slot_names_check_fails_on_names_a_scope_refuses(names, status):
  import json  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = dict(verify.consumer_env(keras3=True), PYTHONPATH=root)
  proc = subprocess.run([sys.executable, '-c', _SLOT_NAMES] + names, env=env,
                        capture_output=True, text=True, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  checks = json.loads(proc.stdout.strip().splitlines()[-1])
  assert [status, 'layer Adam slot names'] in checks, checks

"""export_scripts/verify_export.py: any SavedModel against the reusable API
and the common API of its task, through the real command line."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import TESTDATA, assert_ok, assert_one_line_error, run_script
from official.hub_export import writer


class Images(writer.Reusable):
  """A tiny image model; `scale_255` makes it expect [0, 255] pixels."""

  def __init__(self, scale_255=False, leak=False, softmax=False):
    super().__init__()
    self.w = tf.Variable(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4))
    self.variables = [self.w]
    self.trainable_variables = [self.w]
    self.regularization_losses = []
    self.scale_255, self.leak, self.softmax = scale_255, leak, softmax

  @tf.function
  def __call__(self, images, training=False):
    x = images / 255.0 if self.scale_255 else images
    y = tf.matmul(tf.reduce_mean(x, axis=[1, 2]), self.w)
    if self.leak:
      y += tf.cast(tf.strings.length('/home/alice/models/vocab.txt'),
                   tf.float32) * 0.0
    return tf.nn.softmax(y) if self.softmax else y


def _save(obj, path):
  spec = tf.TensorSpec([None, None, None, 3], tf.float32)
  for t in (True, False):
    obj.__call__.get_concrete_function(spec, training=t)
  tf.saved_model.save(obj, path, signatures={
      'serving_default': obj.__call__.get_concrete_function(
          tf.TensorSpec([None, None, None, 3], tf.float32, name='images'),
          training=False)})
  return path


def _check(path, task='image-classification', json_out=False):
  args = [f'--saved_model={path}', f'--task={task}']
  return run_script('verify_export.py', *args, *(['--json'] if json_out else []))


def test_good_model_passes(tmp_path):
  proc = _check(_save(Images(), str(tmp_path / 'm')))
  assert_ok(proc)
  assert 'PASS image inputs are in [0, 1]' in proc.stdout
  assert 'PASS load -> re-save -> load the copy alone' in proc.stdout
  assert ' 0 failed' in proc.stdout


def test_json_output(tmp_path):
  proc = _check(_save(Images(), str(tmp_path / 'm')), json_out=True)
  assert_ok(proc)
  result = json.loads(proc.stdout)
  assert result['failed'] == 0
  assert result['info']['sizes']['saved_model_pb'] > 0
  assert result['info']['load_seconds'] > 0


@pytest.mark.parametrize('defect,task,expected', [
    (dict(scale_255=True), 'image-feature-vector',
     'FAIL image inputs are in [0, 1]: RealDiv by 255'),
    (dict(softmax=True), 'image-classification',
     'FAIL graph has no final softmax/sigmoid before logits: Softmax'),
    (dict(leak=True), 'image-feature-vector',
     'FAIL no absolute paths in saved_model.pb: /home/alice/models/vocab.txt'),
])
def test_defects_are_caught(tmp_path, defect, task, expected):
  proc = _check(_save(Images(**defect), str(tmp_path / 'm')), task)
  assert proc.returncode == 1, proc.stdout
  assert expected in proc.stdout, proc.stdout


def test_missing_asset_is_caught(tmp_path):
  vocab = tmp_path / 'vocab.txt'
  vocab.write_text('a\nb\nc\n')

  class Lookup(writer.Reusable):

    def __init__(self):
      super().__init__()
      self.table = tf.lookup.StaticHashTable(
          tf.lookup.TextFileInitializer(
              str(vocab), tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
              tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER), -1)
      self.variables, self.trainable_variables = [], []
      self.regularization_losses = []

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, words):
      return self.table.lookup(words)

  path = str(tmp_path / 'm')
  tf.saved_model.save(Lookup(), path)
  os.remove(os.path.join(path, 'assets', 'vocab.txt'))
  proc = _check(path, 'custom')
  assert proc.returncode == 1
  assert "FAIL every asset is present: 1 assets (missing: ['vocab.txt'])" in \
      proc.stdout


def test_export_record_task_is_the_default(tmp_path):
  out = str(tmp_path / 'mul')
  assert_ok(run_script('mul_export.py', '--gin_file=configs/mul/tiny.gin',
                       f'--checkpoint_path={TESTDATA}/mul/ckpt',
                       f'--export_dir={out}', '--noverify'))
  proc = run_script('verify_export.py', f'--saved_model={out}')
  assert_ok(proc)
  assert '(task custom)' in proc.stdout


def test_not_a_saved_model(tmp_path):
  proc = run_script('verify_export.py', f'--saved_model={tmp_path}')
  assert_one_line_error(proc, 'is not a SavedModel directory', code=1)

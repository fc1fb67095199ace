"""restore.skip_initializers(): build without running initializers, then a
strict restore fills every exported weight (or fails)."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from official.hub_export import restore
from official.hub_export.spec import ExportError


def _model():
  model = tf_keras.Sequential([
      tf_keras.Input([3]),
      tf_keras.layers.Dense(4, kernel_initializer='glorot_uniform',
                            bias_initializer='ones'),
      tf_keras.layers.BatchNormalization()])
  model(tf.zeros([1, 3]))
  return model


def test_variables_start_at_zero_and_concrete_values_are_kept():
  with restore.skip_initializers():
    model = _model()
    kept = tf.Variable([1.5, 2.5])
    counter = tf.Variable(7, dtype=tf.int64)
  assert all(not np.any(v.numpy()) for v in model.variables)
  # BN's moving variance (initializer 'ones') too: nothing ran.
  assert {v.shape for v in model.variables} == {(3, 4), (4,)}
  np.testing.assert_array_equal(kept.numpy(), [1.5, 2.5])
  assert int(counter.numpy()) == 7
  outside = _model()  # The scope ends with the block.
  assert np.any(outside.layers[0].kernel.numpy())


def test_strict_restore_fills_every_weight(tmp_path):
  source = _model()
  for v in source.variables:
    v.assign(tf.random.normal(v.shape, seed=1))
  prefix = tf.train.Checkpoint(model=source).write(str(tmp_path / 'ckpt'))
  with restore.skip_initializers():
    model = _model()
  restore.restore(prefix, [restore.Layout('m', model=model)],
                  required=model.variables)
  for a, b in zip(model.variables, source.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_weight_the_checkpoint_lacks_still_fails(tmp_path):
  source = tf_keras.Sequential([tf_keras.Input([3]), tf_keras.layers.Dense(4)])
  source(tf.zeros([1, 3]))
  prefix = tf.train.Checkpoint(model=source).write(str(tmp_path / 'ckpt'))
  with restore.skip_initializers():
    model = _model()  # Has a BatchNormalization the checkpoint lacks.
  with pytest.raises(ExportError):
    restore.restore(prefix, [restore.Layout('m', model=model)],
                    required=model.variables)

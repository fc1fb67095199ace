"""The reusable SavedModel writer (official/hub_export/writer.py)."""
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub
import tf_keras

from official.hub_export import spec
from official.hub_export import writer

L2 = tf_keras.regularizers.L2


def _trained_model():
  tf_keras.utils.set_random_seed(0)
  inp = tf_keras.Input([4])
  h = tf_keras.layers.Dense(8, kernel_regularizer=L2(1e-3), name='a')(inp)
  h = tf_keras.layers.BatchNormalization(name='bn')(h)
  h = tf_keras.layers.Dropout(0.3)(h)
  out = tf_keras.layers.Dense(3, kernel_regularizer=L2(2e-3),
                              bias_regularizer=L2(1e-3), name='b')(h)
  model = tf_keras.Model(inp, out)
  model.compile(tf_keras.optimizers.Adam(0.01), 'mse')
  model.fit(np.ones([8, 4]), np.ones([8, 3]), verbose=0)  # Optimizer slots.
  return model


SPEC = spec.single(tf.TensorSpec([None, 4], tf.float32, name='x'), 'logits',
                   spec.Output('logits'))


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
  model = _trained_model()
  path = str(tmp_path_factory.mktemp('writer') / 'm')
  writer.write(writer.from_keras(model), path, SPEC)
  return model, path


def test_regularizers_become_regularization_losses(exported):
  model, path = exported
  obj = hub.load(path)
  assert len(obj.regularization_losses) == 3 == len(model.losses)
  np.testing.assert_allclose(
      sorted(float(f()) for f in obj.regularization_losses),
      sorted(float(l) for l in model.losses), rtol=1e-6)


def test_no_optimizer_and_no_keras_object_graph(exported):
  model, path = exported
  keys = [k for k, _ in tf.train.list_variables(os.path.join(path, 'variables',
                                                             'variables'))]
  assert not [k for k in keys if 'OPTIMIZER' in k or 'optimizer' in k]
  values = [k for k in keys if k.endswith('VARIABLE_VALUE')]
  assert len(values) == len(model.variables)
  assert not os.path.exists(os.path.join(path, 'keras_metadata.pb'))


def test_both_training_traces_and_variables(exported):
  model, path = exported
  obj = hub.load(path)
  x = tf.ones([2, 4])
  np.testing.assert_allclose(obj(x, training=False).numpy(),
                             model(x, training=False).numpy(), atol=1e-6)
  obj(x, training=True)  # Must exist (dropout, batch norm in training mode).
  assert len(obj.variables) == len(model.variables)
  assert len(obj.trainable_variables) == len(model.trainable_variables)


def test_serving_default_equals_call(exported):
  _, path = exported
  obj = hub.load(path)
  x = tf.random.stateless_normal([3, 4], seed=[1, 2])
  out = obj.signatures['serving_default'](x=x)
  assert list(out) == ['logits']
  np.testing.assert_array_equal(out['logits'].numpy(),
                                obj(x, training=False).numpy())


def test_list_outputs_are_flattened_in_the_signature(tmp_path):
  v = tf.Variable(2.0)
  obj = writer.reusable(
      lambda x, training=False: {'default': x * v, 'layers': [x, x * v]},
      [v], [v])
  s = spec.ExportSpec(inputs={'a': tf.TensorSpec([None], tf.float32)},
                      outputs={'default': spec.Output(),
                               'layers': spec.Output()})
  obj.__call__ = tf.function(
      lambda inputs, training=False: {'default': inputs['a'] * v,
                                      'layers': [inputs['a'], inputs['a'] * v]})
  writer.write(obj, str(tmp_path / 'm'), s)
  sig = hub.load(str(tmp_path / 'm')).signatures['serving_default']
  out = sig(a=tf.constant([1., 2.]))
  assert sorted(out) == ['default', 'layers_0', 'layers_1']
  np.testing.assert_array_equal(out['layers_1'].numpy(), [2., 4.])


def test_refuses_a_non_empty_directory(tmp_path):
  (tmp_path / 'm').mkdir()
  (tmp_path / 'm' / 'x').write_text('x')
  v = tf.Variable(1.0)
  with pytest.raises(FileExistsError):
    writer.write(writer.reusable(lambda x, training=False: x * v, [v], [v]),
                 str(tmp_path / 'm'), SPEC)


def test_trainable_must_be_subset():
  a, b = tf.Variable(1.0), tf.Variable(2.0)
  with pytest.raises(ValueError, match='trainable variables missing'):
    writer.reusable(lambda x: x, [a], [a, b])

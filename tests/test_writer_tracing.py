"""writer.write traces each declared function once (not again inside
tf.saved_model.save), saved_model.pb holds one graph per training mode, and
tracing is without AutoGraph unless asked for."""
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from tensorflow.core.protobuf import saved_model_pb2

from official.hub_export import spec
from official.hub_export import writer


def _saved_functions(path):
  sm = saved_model_pb2.SavedModel()
  with open(os.path.join(path, 'saved_model.pb'), 'rb') as f:
    sm.ParseFromString(f.read())
  return [f.signature.name for f in sm.meta_graphs[0].graph_def.library.function]


def _ops(path, name):
  sm = saved_model_pb2.SavedModel()
  with open(os.path.join(path, 'saved_model.pb'), 'rb') as f:
    sm.ParseFromString(f.read())
  fn = next(f for f in sm.meta_graphs[0].graph_def.library.function
            if f.signature.name == name)
  return {n.op for n in fn.node_def}


def test_each_training_mode_traced_and_saved_once(tmp_path):
  model = tf_keras.Sequential([tf_keras.Input([3]), tf_keras.layers.Dense(4),
                               tf_keras.layers.Dropout(0.5)])
  model(tf.zeros([1, 3]))

  traces = []

  def call(x, training=False):
    traces.append((x.dtype, training))
    return {'y': model(x, training=training)}

  obj = writer.from_keras(model, call=call)
  export_spec = spec.ExportSpec(
      inputs=tf.TensorSpec([None, 3], tf.float32, name='x'),
      outputs={'y': spec.Output('features', 1e-5, 'y')}, task='custom')
  path = str(tmp_path / 'sm')
  writer.write(obj, path, export_spec)

  # Traced for training=True and False, and not again by the save, nor for
  # the Keras 3 endpoints or the float16/bfloat16 variants (thin functions
  # calling the float32 traces).
  assert sorted(traces, key=str) == [(tf.float32, False), (tf.float32, True)]
  # saved_model.pb holds the model's graph (its MatMul) twice, once per
  # training mode: no copy for serving_default, the Keras 3 endpoints or the
  # half-float variants (which call those two).
  names = _saved_functions(path)
  with_model = [n for n in names if 'MatMul' in _ops(path, n)]
  assert len(with_model) == 2, names

  loaded = tf.saved_model.load(path)
  x = np.ones([2, 3], np.float32)
  want = model(x, training=False).numpy()
  np.testing.assert_allclose(loaded(x, training=False)['y'].numpy(), want)
  np.testing.assert_allclose(
      loaded.signatures['serving_default'](x=tf.constant(x))['y'].numpy(), want)
  dropped = loaded(np.ones([64, 3], np.float32), training=True)['y'].numpy()
  assert (dropped == 0).any()  # The training=True graph has the dropout.


def _branchy_layer_model():
  class Branchy(tf_keras.layers.Layer):
    """Branches on a tensor's value: needs AutoGraph in a graph."""

    def call(self, x):
      if tf.reduce_sum(x) > 0:
        return x * 2.0
      return -x

  inp = tf_keras.Input([3])
  return tf_keras.Model(inp, Branchy()(inp))


BRANCHY_SPEC = spec.single(tf.TensorSpec([None, 3], tf.float32, name='x'),
                           'y', spec.Output('features'), task='custom')


def test_tensor_branch_without_autograph_is_a_clear_error(tmp_path):
  model = _branchy_layer_model()
  path = str(tmp_path / 'sm')
  with pytest.raises(TypeError, match=r'autograph=True'):
    writer.write(writer.from_keras(model), path, BRANCHY_SPEC)
  assert not os.path.exists(path)


def test_autograph_true_exports_tensor_branches(tmp_path):
  model = _branchy_layer_model()
  path = str(tmp_path / 'sm')
  writer.write(writer.from_keras(model, autograph=True), path, BRANCHY_SPEC)
  loaded = tf.saved_model.load(path)
  for x in (np.ones([2, 3], np.float32), -np.ones([2, 3], np.float32)):
    np.testing.assert_allclose(loaded(x, training=False).numpy(),
                               model(x).numpy())


def test_no_autograph_builds_without_converting_layer_calls():
  from tensorflow.python.autograph.core import ag_ctx  # pylint: disable=g-import-not-at-top,g-direct-tensorflow-import
  seen = []

  class Probe(tf_keras.layers.Layer):

    def call(self, x):
      seen.append(ag_ctx.control_status_ctx().status)
      return x

  with writer.no_autograph():
    inp = tf_keras.Input([3])
    tf_keras.Model(inp, Probe()(inp))
  assert seen == [ag_ctx.Status.DISABLED]


def test_declared_variants_with_tensor_kwargs_are_not_traced_again_by_save(
    tmp_path):
  traced = []
  v = tf.Variable(2.0)

  def call(x, scale=1):
    traced.append(scale)
    return x * v * tf.cast(scale, tf.float32)

  obj = writer.reusable(call, [v], [v])
  export_spec = spec.ExportSpec(
      inputs=tf.TensorSpec([None], tf.float32, name='x'),
      outputs={'y': spec.Output('features', 0, 'y')}, task='custom',
      returns_dict=False, training_arg=False,
      # An unnamed spec, as a recipe would write it.
      traces=[(tf.TensorSpec([None], tf.float32),
               {'scale': tf.TensorSpec([], tf.int32)})])
  writer.write(obj, str(tmp_path / 'sm'), export_spec)
  assert len(traced) == 2, traced  # The default and the declared variant.
  loaded = tf.saved_model.load(str(tmp_path / 'sm'))
  np.testing.assert_allclose(
      loaded(tf.constant([1.0, 2.0]), scale=tf.constant(3)).numpy(), [6, 12])


def test_unnamed_input_specs_in_a_dict_are_not_traced_again_by_save(tmp_path):
  traced = []
  v = tf.Variable(2.0)

  def call(inputs, training=False):
    traced.append(training)
    return {'y': inputs['a'] * v + inputs['b']}

  obj = writer.reusable(call, [v], [v])
  unnamed = lambda shape: tf.TensorSpec(shape, tf.float32)
  export_spec = spec.ExportSpec(
      inputs={'a': unnamed([None]), 'b': unnamed([None])},
      outputs={'y': spec.Output('features', 0, 'y')}, task='custom',
      traces=[({'a': unnamed([None, 2]), 'b': unnamed([None, 2])}, {})])
  writer.write(obj, str(tmp_path / 'sm'), export_spec)
  assert len(traced) == 4, traced  # 2 input shapes x 2 training modes.
  loaded = tf.saved_model.load(str(tmp_path / 'sm'))
  out = loaded.signatures['serving_default'](a=tf.constant([1.0]),
                                             b=tf.constant([3.0]))
  np.testing.assert_allclose(out['y'].numpy(), [5.0])

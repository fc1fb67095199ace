"""writer.write traces each declared function once (not again inside
tf.saved_model.save) and saved_model.pb holds one graph per training mode."""
import os

import numpy as np
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


def test_each_training_mode_traced_and_saved_once(tmp_path):
  model = tf_keras.Sequential([tf_keras.Input([3]), tf_keras.layers.Dense(4),
                               tf_keras.layers.Dropout(0.5)])
  model(tf.zeros([1, 3]))

  def call(x, training=False):
    return {'y': model(x, training=training)}

  obj = writer.from_keras(model, call=call)
  export_spec = spec.ExportSpec(
      inputs=tf.TensorSpec([None, 3], tf.float32, name='x'),
      outputs={'y': spec.Output('features', 1e-5, 'y')}, task='custom')
  path = str(tmp_path / 'sm')
  writer.write(obj, path, export_spec)

  # Traced for training=True and False, and not again by the save.
  assert len(obj.__call__._list_all_concrete_functions()) == 2  # pylint: disable=protected-access
  names = [n for n in _saved_functions(path) if n.startswith('__inference_call_')]
  assert len(names) == 2, names  # No second copy for serving_default.

  loaded = tf.saved_model.load(path)
  x = np.ones([2, 3], np.float32)
  want = model(x, training=False).numpy()
  np.testing.assert_allclose(loaded(x, training=False)['y'].numpy(), want)
  np.testing.assert_allclose(
      loaded.signatures['serving_default'](x=tf.constant(x))['y'].numpy(), want)
  dropped = loaded(np.ones([64, 3], np.float32), training=True)['y'].numpy()
  assert (dropped == 0).any()  # The training=True graph has the dropout.

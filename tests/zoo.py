"""A zoo of SavedModels written by other tools, for the checker's verdicts.

Each `build_<name>(directory)` writes one SavedModel with the tool a user
would have used (tf_keras, Keras 3, hand-made `tf.Module` /
`tf.train.Checkpoint` objects, TF1's builder, Model Garden's exporters) and
returns its path. `HOSTILE` SavedModels act on the machine when called
(tests/test_opscan.py): they must be refused before anything runs.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf

from conftest import ROOT, TESTDATA


# ------------------------------------------------------------- tf_keras

def _keras_classifier(size):
  """A small tf_keras image classifier (logits) for `size` x `size` images
  (None: any size)."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  tf_keras.utils.set_random_seed(0)
  return tf_keras.Sequential([
      tf_keras.Input([size, size, 3]),
      tf_keras.layers.Conv2D(4, 3, activation='relu'),
      tf_keras.layers.BatchNormalization(),
      tf_keras.layers.GlobalAveragePooling2D(),
      tf_keras.layers.Dropout(0.2),
      # Named: Keras numbers unnamed layers per process (dense_35).
      tf_keras.layers.Dense(10, name='logits')])


def build_keras_fixed_tf_saved_model_save(directory):
  path = os.path.join(directory, 'keras_fixed_tfsave')
  tf.saved_model.save(_keras_classifier(32), path)
  return path


def build_keras_fixed_model_save(directory):
  path = os.path.join(directory, 'keras_fixed_modelsave')
  _keras_classifier(32).save(path, save_format='tf')
  return path


def build_keras_dynamic_tf_saved_model_save(directory):
  path = os.path.join(directory, 'keras_dynamic_tfsave')
  tf.saved_model.save(_keras_classifier(None), path)
  return path


def build_keras_dynamic_model_save(directory):
  path = os.path.join(directory, 'keras_dynamic_modelsave')
  _keras_classifier(None).save(path, save_format='tf')
  return path


# --------------------------------------------------------------- Keras 3

_KERAS3 = textwrap.dedent('''
    import os, sys
    os.environ.pop('TF_USE_LEGACY_KERAS', None)
    import keras
    assert keras.__version__.startswith('3'), keras.__version__
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input([32, 32, 3]),
                              keras.layers.Conv2D(4, 3, activation='relu'),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(10)])
    model.export(sys.argv[1], verbose=False)
''')


def build_keras3_export(directory):
  """Keras 3 `model.export()`, in its own process (Keras 3 and tf_keras
  cannot both be the Keras of one process)."""
  path = os.path.join(directory, 'keras3_export')
  env = {k: v for k, v in os.environ.items()
         if k not in ('TF_USE_LEGACY_KERAS', 'PYTHONPATH')}
  env['TF_CPP_MIN_LOG_LEVEL'] = '3'
  proc = subprocess.run([sys.executable, '-I', '-c', _KERAS3, path], env=env,
                        capture_output=True, text=True, check=False,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return path


# ------------------------------------------------- hand-made tf.Modules

class MyMulModel(tf.train.Checkpoint):
  """TF Hub's example of a reusable SavedModel (tensorflow_hub's docs)."""

  def __init__(self, v_init):
    super().__init__()
    self.v = tf.Variable(v_init)
    self.variables = [self.v]
    self.trainable_variables = [self.v]
    self.regularization_losses = [
        tf.function(input_signature=[])(lambda: 0.001 * self.v**2)]

  @tf.function(input_signature=[tf.TensorSpec(shape=None, dtype=tf.float32)])
  def __call__(self, inputs):
    return tf.multiply(inputs, self.v)


def build_my_mul_model(directory):
  path = os.path.join(directory, 'my_mul_model')
  tf.saved_model.save(MyMulModel(2.0), path)
  return path


class _Affine(tf.Module):
  """A plain tf.Module: `variables` are computed properties, not saved."""

  def __init__(self):
    super().__init__()
    self.w = tf.Variable(np.ones([3, 2], np.float32))

  @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
  def __call__(self, x):
    return tf.matmul(x, self.w)


def build_tf_module(directory):
  path = os.path.join(directory, 'tf_module')
  tf.saved_model.save(_Affine(), path)
  return path


def build_signatures_only(directory):
  """`tf.saved_model.save` of a module whose only entry is a signature."""
  path = os.path.join(directory, 'signatures_only')
  module = tf.Module()
  module.w = tf.Variable(np.ones([3, 2], np.float32))
  serve = tf.function(lambda x: {'y': tf.matmul(x, module.w)},
                      input_signature=[tf.TensorSpec([None, 3], tf.float32,
                                                     name='x')])
  tf.saved_model.save(module, path, signatures={'serving_default': serve})
  return path


def build_tf1_saved_model(directory):
  """A TF1 SavedModel (graph, session, signature_def), as TF1 hub modules
  and Estimators wrote them."""
  path = os.path.join(directory, 'tf1_saved_model')
  v1 = tf.compat.v1
  with tf.Graph().as_default():
    x = v1.placeholder(tf.float32, [None, 3], name='x')
    w = v1.get_variable('w', initializer=np.ones([3, 2], np.float32))
    y = tf.matmul(x, w, name='y')
    with v1.Session() as sess:
      sess.run(v1.global_variables_initializer())
      builder = v1.saved_model.Builder(path)
      sig = v1.saved_model.predict_signature_def({'x': x}, {'y': y})
      builder.add_meta_graph_and_variables(
          sess, [v1.saved_model.tag_constants.SERVING],
          signature_def_map={'serving_default': sig})
      builder.save()
  return path


# ---------------------------------------------------------- Model Garden

def _bert_checkpoint(directory):
  sys.path.insert(0, os.path.join(TESTDATA, 'bert'))
  import make_checkpoint as mc  # pylint: disable=g-import-not-at-top
  encoder, pretrainer = mc.build(mc.bert_config())
  tf.train.Checkpoint(model=pretrainer, **pretrainer.checkpoint_items).read(
      mc.CKPT).assert_existing_objects_matched()
  prefix = os.path.join(directory, 'mg_bert_ckpt', 'ckpt')
  return mc, tf.train.Checkpoint(
      model=pretrainer, **pretrainer.checkpoint_items).save(prefix)


def build_model_garden_bert_encoder(directory):
  """Model Garden's `export_tfhub --export_type=model_with_mlm`."""
  from official.nlp.tools import export_tfhub_lib  # pylint: disable=g-import-not-at-top
  mc, ckpt = _bert_checkpoint(directory)
  path = os.path.join(directory, 'mg_bert_encoder')
  export_tfhub_lib.export_model(path, bert_config=mc.bert_config(),
                                model_checkpoint_path=ckpt, with_mlm=True,
                                vocab_file=mc.VOCAB, do_lower_case=True)
  return path


def build_model_garden_bert_preprocessor(directory):
  """Model Garden's `export_tfhub --export_type=preprocessing`."""
  from official.nlp.tools import export_tfhub_lib  # pylint: disable=g-import-not-at-top
  path = os.path.join(directory, 'mg_bert_preprocessor')
  export_tfhub_lib.export_preprocessing(
      path, vocab_file=os.path.join(TESTDATA, 'bert', 'vocab.txt'),
      do_lower_case=True, tokenize_with_offsets=False, default_seq_length=16)
  return path


def build_model_garden_vision(directory):
  """Model Garden's `official.vision.serving.export_tfhub` (feature vector)
  of a tiny MobileNet V3 Small from its `mobilenet_imagenet` experiment, for
  32x32 images."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  from official.core import exp_factory  # pylint: disable=g-import-not-at-top
  from official.vision.configs import image_classification  # pylint: disable=g-import-not-at-top,unused-import
  from official.vision.modeling import factory  # pylint: disable=g-import-not-at-top
  from official.vision.serving import export_tfhub_lib  # pylint: disable=g-import-not-at-top
  params = exp_factory.get_exp_config('mobilenet_imagenet')
  params.override({'task': {'model': {'num_classes': 10, 'backbone': {
      'mobilenet': {'model_id': 'MobileNetV3Small',
                    'filter_size_scale': 0.1}}}}}, is_strict=True)
  model = factory.build_classification_model(
      tf_keras.layers.InputSpec(shape=[None, None, None, 3]),
      params.task.model)
  # Its exporter asserts a `save_counter`, as its trainer writes: save().
  ckpt = tf.train.Checkpoint(model=model).save(
      os.path.join(directory, 'mg_vision_ckpt', 'ckpt'))
  path = os.path.join(directory, 'mg_vision_feature_vector')
  export_tfhub_lib.export_model_to_tfhub(None, [32, 32], params, ckpt, path,
                                         skip_logits_layer=True)
  return path


BUILDERS = {name[len('build_'):]: fn for name, fn in globals().items()
            if name.startswith('build_')}


# ---------------------------------------------------------------- hostile

class _Hostile(tf.train.Checkpoint):
  """A reusable SavedModel in every respect, except what `act` does when
  `__call__` runs (`act(x, target)` gets the input and a path)."""

  def __init__(self, act, target):
    super().__init__()
    self.v = tf.Variable(2.0)
    self.variables = [self.v]
    self.trainable_variables = [self.v]
    self.regularization_losses = []
    self._act, self._target = act, target

  @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
  def __call__(self, x):
    with tf.control_dependencies(self._act(x, self._target)):
      return x * self.v


def _table_from_file(x, target):
  table = tf.raw_ops.HashTableV2(key_dtype=tf.string, value_dtype=tf.int64)
  init = tf.raw_ops.InitializeTableFromTextFileV2(
      table_handle=table, filename=tf.constant(target), key_index=-2,
      value_index=-1)
  del x
  return [init]


# name -> (the op the scan must name, act(x, target)). Each writes or reads
# `target` (a path in the test's directory) when called, never when saved.
HOSTILE = {
    'write_file': ('WriteFile', lambda x, t: [tf.io.write_file(
        t, tf.strings.as_string(x[0]))]),
    'read_file': ('ReadFile', lambda x, t: [tf.io.read_file(t)]),
    'print_to_file': ('PrintV2', lambda x, t: [tf.print(
        x, output_stream='file://' + t)]),
    'save_v2': ('SaveV2', lambda x, t: [tf.raw_ops.SaveV2(
        prefix=t, tensor_names=['x'], shape_and_slices=[''], tensors=[x])]),
    'table_from_file': ('InitializeTableFromTextFileV2', _table_from_file),
    'whole_file_reader': ('WholeFileReaderV2', lambda x, t: [
        tf.raw_ops.ReaderReadV2(reader_handle=tf.raw_ops.WholeFileReaderV2(),
                                queue_handle=tf.raw_ops.FIFOQueueV2(
                                    component_types=[tf.string]))[0]]),
    'matching_files': ('MatchingFiles', lambda x, t: [tf.io.matching_files(
        os.path.join(os.path.dirname(t), '*'))]),
}


def build_hostile(name, directory, target):
  """Saves the HOSTILE model `name`; tracing and saving run nothing."""
  path = os.path.join(directory, f'hostile_{name}')
  tf.saved_model.save(_Hostile(HOSTILE[name][1], target), path)
  return path

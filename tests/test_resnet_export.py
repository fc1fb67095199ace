"""Regression tests of the ResNet recipe (export_scripts/resnet_export.py).

Sources: the committed tiny legacy Keras ResNet (tests/testdata/resnet/
legacy_ckpt, `model.save_weights`), a tiny legacy `.h5` and a tiny Model
Garden vision classifier saved by a trainer-style checkpoint with optimizer
slots, both written here. Each is exported once through the real command line
(session fixtures) and compared with the source model built directly.
"""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import (assert_card_code_runs, ROOT, TESTDATA, assert_golden, assert_ok,  # pylint: disable=g-multiple-import
                      assert_one_line_error, run_script)

HERE = os.path.join(TESTDATA, 'resnet')
LEGACY_CKPT = os.path.join(HERE, 'legacy_ckpt')
GOLDEN = os.path.join(HERE, 'golden')
TINY = '--gin_file=configs/resnet/tiny.gin'
LEGACY_MEAN = [123.68, 116.78, 103.94]


def _make_checkpoint_module():
  import importlib.util  # pylint: disable=g-import-not-at-top
  path = os.path.join(HERE, 'make_checkpoint.py')
  mod_spec = importlib.util.spec_from_file_location('resnet_make_ckpt', path)
  module = importlib.util.module_from_spec(mod_spec)
  mod_spec.loader.exec_module(module)
  return module


MC = _make_checkpoint_module()


@pytest.fixture(scope='session')
def recipe():
  return MC.load_recipe()


def _images(n, size, seed=1):
  return np.random.RandomState(seed).uniform(
      0, 1, [n, size, size, 3]).astype(np.float32)


def _legacy_normalize(x):  # imagenet_preprocessing: x * 255 - CHANNEL_MEANS
  from official.legacy.image_classification.resnet import imagenet_preprocessing  # pylint: disable=g-import-not-at-top
  return x * 255.0 - np.array(imagenet_preprocessing.CHANNEL_MEANS, np.float32)


def _vision_normalize(x):  # classification_input: normalize_image on [0, 1]
  from official.vision.ops import preprocess_ops  # pylint: disable=g-import-not-at-top
  return preprocess_ops.normalize_scaled_float_image(
      tf.constant(x), preprocess_ops.MEAN_NORM, preprocess_ops.STDDEV_NORM)


def _layer_output_model(model, layer_type):
  import tf_keras  # pylint: disable=g-import-not-at-top
  layer = [l for l in model.layers if isinstance(l, layer_type)][-1]
  return tf_keras.Model(model.inputs, layer.output)


# ---------------------------------------------------------------------------
# Source checkpoints and exports (once per session).

@pytest.fixture(scope='session')
def legacy_model(recipe):
  """The committed tiny legacy ResNet, restored by Keras itself."""
  model = recipe.legacy_resnet(**MC.TINY).model
  model.load_weights(LEGACY_CKPT).expect_partial()
  return model


@pytest.fixture(scope='session')
def vision_ckpt(session_tmp):
  """A tiny vision classifier (ResNet-10 backbone at 1/8 width) saved as
  Model Garden's trainer does: global_step, model, optimizer (with momentum
  slots after one step) and the model's checkpoint_items (backbone)."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  from official.vision.modeling import backbones  # pylint: disable=g-import-not-at-top
  from official.vision.modeling import classification_model  # pylint: disable=g-import-not-at-top
  l2 = tf_keras.regularizers.l2(1e-4 / 2)
  backbone = backbones.ResNet(model_id=10, depth_multiplier=0.125,
                              norm_momentum=0.9, norm_epsilon=1e-5,
                              kernel_regularizer=l2)
  model = classification_model.ClassificationModel(
      backbone, num_classes=10, kernel_regularizer=l2, norm_momentum=0.9,
      norm_epsilon=1e-5)
  MC.randomize(model, _vision_normalize, seed=2)
  optimizer = tf_keras.optimizers.SGD(0.0, momentum=0.9)  # Slots, same weights.
  x = _vision_normalize(_images(4, 32))
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(model(x, training=False)) + tf.add_n(model.losses)
  optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                model.trainable_variables))
  step = tf.Variable(1, dtype=tf.int64)
  directory = str(session_tmp / 'vision_ckpt')
  tf.train.Checkpoint(global_step=step, model=model, optimizer=optimizer,
                      **model.checkpoint_items).save(
                          os.path.join(directory, 'ckpt'))
  return directory, model


@pytest.fixture(scope='session')
def legacy_h5(session_tmp, recipe):
  model = recipe.legacy_resnet(**MC.TINY).model
  MC.randomize(model, _legacy_normalize, seed=3)
  path = str(session_tmp / 'legacy.h5')
  model.save_weights(path)
  return path, model


def _export(out, *args):
  proc = run_script('resnet_export.py', TINY, f'--export_dir={out}', *args)
  assert_ok(proc)
  return proc


@pytest.fixture(scope='session')
def legacy_export(session_tmp):
  out = str(session_tmp / 'legacy_export')
  return out, _export(out, f'--checkpoint_path={LEGACY_CKPT}')


@pytest.fixture(scope='session')
def vision_export(session_tmp, vision_ckpt):
  out = str(session_tmp / 'vision_export')
  return out, _export(out, f'--checkpoint_path={vision_ckpt[0]}')


@pytest.fixture(scope='session')
def h5_export(session_tmp, legacy_h5):
  """Only the classifier, at L2 strength 0.01 instead of 1e-4."""
  out = str(session_tmp / 'h5_export')
  return out, _export(out, f'--checkpoint_path={legacy_h5[0]}',
                      "--gin_params=EXPORTS = ['classification']",
                      '--gin_params=legacy_resnet.l2_weight_decay = 0.01')


def _record(path):
  with open(os.path.join(path, 'assets.extra', 'export_record.json')) as f:
    return json.load(f)


# ---------------------------------------------------------------------------
# End to end through the command line, one per source kind.

def test_end_to_end_legacy_checkpoint(legacy_export):
  out, proc = legacy_export
  assert sorted(os.listdir(out)) == ['classification', 'feature_vector']
  assert proc.stdout.count('checks passed') == 2, proc.stdout
  for name, task in (('feature_vector', 'image-feature-vector'),
                     ('classification', 'image-classification')):
    rec = _record(os.path.join(out, name))
    assert rec['recipe'] == 'resnet'
    assert rec['api']['task'] == task
    assert rec['verification']['failed'] == 0
    ckpt = rec['source']['checkpoint']
    assert ckpt['layout'] == 'legacy-weights' and ckpt['format'] == 'tf'
  with open(os.path.join(out, 'classification', 'assets.extra',
                         'README.md')) as f:
    card = f.read()
  for words in ('# Module publisher/resnet_tiny_classification/1',
                'tf.nn.softmax', 'index 0 is "background"', 'AdamW',
                '| output | `logits` | float32 | [batch, 10] |'):
    assert words in card, words
  # The classifier needs every weight; the feature vector all but fc1000.
  assert _record(os.path.join(out, 'classification'))['source'][
      'checkpoint']['ignored_checkpoint_values'] == 0


def test_end_to_end_vision_trainer_checkpoint(vision_export):
  out, proc = vision_export
  assert proc.stdout.count('checks passed') == 2, proc.stdout
  ckpt = _record(os.path.join(out, 'classification'))['source']['checkpoint']
  assert ckpt['layout'] == 'vision-trainer'
  # Optimizer slots, iterations, global step: read past, not exported.
  assert ckpt['ignored_checkpoint_values'] > ckpt['restored_variables'] // 2
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  obj = hub.load(os.path.join(out, 'classification'))
  names = [v.name for v in obj.variables]
  assert not any('momentum' in n or 'iteration' in n for n in names), names


def test_end_to_end_legacy_h5(h5_export, legacy_h5):
  out, proc = h5_export
  assert os.listdir(out) == ['classification']
  rec = _record(os.path.join(out, 'classification'))
  assert rec['source']['checkpoint']['format'] == 'h5'
  assert rec['verification']['failed'] == 0
  # The configured L2 strength is what the export carries: 0.01 * sum(w**2)
  # over the conv kernels and the final layer's kernel and bias.
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  obj = hub.load(os.path.join(out, 'classification'))
  model = legacy_h5[1]
  want = 0.01 * sum(float(tf.reduce_sum(tf.square(w))) for w in model.weights
                    if w.name.split('/')[-1].startswith(('kernel', 'bias')))
  got = sum(float(f()) for f in obj.regularization_losses)
  assert len(obj.regularization_losses) == sum(
      1 for w in model.weights
      if w.name.split('/')[-1].startswith(('kernel', 'bias')))
  np.testing.assert_allclose(got, want, rtol=1e-5)


def test_golden_outputs(legacy_export):
  for name in ('feature_vector', 'classification'):
    assert_golden(os.path.join(legacy_export[0], name),
                  os.path.join(GOLDEN, f'{name}.npz'), atol=1e-5)


# ---------------------------------------------------------------------------
# The exports equal the source models (built here, not by the recipe's cut).

def _check_against_source(out, model, normalize, size):
  import tf_keras  # pylint: disable=g-import-not-at-top
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  x = _images(3, size)
  x_norm = normalize(x)
  # The source run as a graph, as in training and serving (eager execution
  # rounds differently: ~1e-7 relative per op, 7e-5 on ResNet-50 logits).
  run = lambda m: tf.function(lambda t: m(t, training=False))(x_norm).numpy()
  # Pre-softmax output of the source: the final Dense layer's output.
  dense = [l for l in model.layers if isinstance(l, tf_keras.layers.Dense)][-1]
  pre_softmax = run(tf_keras.Model(model.inputs, dense.output))
  out_model = run(model)
  probs = (out_model if np.allclose(out_model.sum(-1), 1, atol=1e-4)
           else tf.nn.softmax(out_model).numpy())
  pooled = run(_layer_output_model(model,
                                   tf_keras.layers.GlobalAveragePooling2D))
  logits = hub.load(os.path.join(out, 'classification'))(
      x, training=False).numpy()
  features = hub.load(os.path.join(out, 'feature_vector'))(
      x, training=False).numpy()
  assert logits.shape == pre_softmax.shape and features.shape == pooled.shape
  np.testing.assert_allclose(logits, pre_softmax, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), probs, atol=1e-5)
  np.testing.assert_allclose(features, pooled, rtol=1e-5, atol=1e-5)
  assert not np.allclose(logits.sum(-1), 1)  # Logits, not probabilities.


def test_legacy_export_equals_source(legacy_export, legacy_model):
  _check_against_source(legacy_export[0], legacy_model, _legacy_normalize, 32)


def test_vision_export_equals_source(vision_export, vision_ckpt):
  _check_against_source(vision_export[0], vision_ckpt[1], _vision_normalize,
                        40)


def test_dynamic_batch_and_image_size(legacy_export):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  obj = hub.load(os.path.join(legacy_export[0], 'feature_vector'))
  for n, size in ((1, 32), (5, 48), (2, 64)):
    assert obj(_images(n, size), training=False).shape == [n, 128]
  sig = obj.signatures['serving_default']
  assert sig.structured_input_signature[1]['images'].shape.as_list() == [
      None, None, None, 3]


# ---------------------------------------------------------------------------
# Fine-tuning through hub.KerasLayer.

def _classifier(path, trainable):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  layer = hub.KerasLayer(path, trainable=trainable)
  model = tf_keras.Sequential([tf_keras.Input([32, 32, 3]), layer,
                               tf_keras.layers.Dense(3)])
  model.compile(optimizer=tf_keras.optimizers.SGD(0.05, momentum=0.9),
                loss=tf_keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True))
  return layer, model


def test_fine_tuning_updates_weights_and_moving_statistics(legacy_export):
  tf_keras = pytest.importorskip('tf_keras')
  tf_keras.utils.set_random_seed(0)
  path = os.path.join(legacy_export[0], 'feature_vector')
  x, y = _images(16, 32, seed=4), np.arange(16) % 3
  layer, model = _classifier(path, trainable=True)
  trainable_before = [w.numpy().copy() for w in layer.trainable_weights]
  stats = [w for w in layer.weights if 'moving_' in w.name]
  stats_before = [w.numpy().copy() for w in stats]
  assert stats and layer.losses  # BN statistics and L2 losses are there.
  losses = model.fit(x, y, epochs=8, batch_size=8, verbose=0).history['loss']
  assert losses[-1] < losses[0], losses
  assert all(not np.array_equal(b, w.numpy())
             for b, w in zip(trainable_before, layer.trainable_weights))
  assert all(not np.array_equal(b, w.numpy())
             for b, w in zip(stats_before, stats))


def test_frozen_use_changes_nothing(legacy_export):
  path = os.path.join(legacy_export[0], 'feature_vector')
  layer, model = _classifier(path, trainable=False)
  before = [w.numpy().copy() for w in layer.weights]
  assert not layer.trainable_weights and before
  model.fit(_images(8, 32, seed=5), np.arange(8) % 3, epochs=2, batch_size=4,
            verbose=0)
  for b, w in zip(before, layer.weights):
    np.testing.assert_array_equal(b, w.numpy(), err_msg=w.name)


# ---------------------------------------------------------------------------
# Bad inputs: one-line errors, nothing written.

def _fails(tmp_path, *args):
  out = str(tmp_path / 'out')
  proc = run_script('resnet_export.py', TINY, f'--export_dir={out}', *args)
  assert not os.path.exists(out), os.listdir(out)
  assert not [p for p in os.listdir(tmp_path) if p.startswith('.out')]
  return proc


def test_wrong_depth_for_checkpoint(tmp_path, vision_ckpt):
  proc = _fails(tmp_path, f'--checkpoint_path={vision_ckpt[0]}',
                '--gin_params=DEPTH = 18')
  assert_one_line_error(proc, 'does not match the exported model',
                        'DEPTH', code=1)


def test_wrong_number_of_classes(tmp_path):
  proc = _fails(tmp_path, f'--checkpoint_path={LEGACY_CKPT}',
                '--gin_params=NUM_CLASSES = 1001')
  assert_one_line_error(proc, 'wrong shape', 'NUM_CLASSES', code=1)
  assert 'model [128, 1001], checkpoint [128, 10]' in proc.stderr


def test_missing_cut_layer(tmp_path):
  proc = _fails(tmp_path, f'--checkpoint_path={LEGACY_CKPT}',
                "--gin_params=FEATURE_LAYER = 'avg_pool'")
  line = assert_one_line_error(proc, "'avg_pool'", 'FEATURE_LAYER', code=1)
  assert 'global_average_pooling2d (output [None, 128])' in line


# ---------------------------------------------------------------------------
# The recipe's parts, called directly.

def test_legacy_builder_is_model_garden_resnet50(recipe):
  """At depth 50 the rebuilt legacy model is Model Garden's resnet50() layer
  for layer (names, weights, checkpoint keys) and computes the same."""
  from official.hub_export import restore  # pylint: disable=g-import-not-at-top
  from official.legacy.image_classification.resnet import resnet_model  # pylint: disable=g-import-not-at-top
  mg = resnet_model.resnet50(1001)
  ours = recipe.legacy_resnet(depth=50, num_classes=1001,
                              input_mean=LEGACY_MEAN).model
  assert [w.name for w in ours.weights] == [w.name for w in mg.weights]
  assert [w.shape for w in ours.weights] == [w.shape for w in mg.weights]
  keys = lambda m: list(restore._variable_keys(m, m.weights).values())  # pylint: disable=protected-access
  assert keys(ours) == keys(mg)
  # A model trained with resnet50(rescale_inputs=True) (a weightless Lambda
  # in front) has the same checkpoint keys; the recipe folds that rescaling.
  assert keys(resnet_model.resnet50(1001, rescale_inputs=True)) == keys(ours)
  assert len(ours.losses) == len(mg.losses) == 55
  ours.set_weights(mg.get_weights())
  x = _legacy_normalize(_images(1, 224))
  np.testing.assert_allclose(ours(x, training=False), mg(x, training=False),
                             atol=1e-6)


def test_cut_point_is_found_structurally_or_by_name(recipe):
  import tf_keras  # pylint: disable=g-import-not-at-top
  source = recipe.vision_resnet(depth=10, num_classes=5, depth_multiplier=0.125,
                                dropout_rate=0.5, input_mean=[0.5] * 3,
                                input_std=[0.2] * 3)
  model = source.model
  cut = recipe.cut_features(model, None)
  # Behind the dropout, not its output.
  assert isinstance(cut._keras_history.layer,  # pylint: disable=protected-access
                    tf_keras.layers.GlobalAveragePooling2D)
  pool = [l.name for l in model.layers
          if isinstance(l, tf_keras.layers.GlobalAveragePooling2D)][0]
  assert recipe.cut_features(model, pool) is cut
  dropout = [l.name for l in model.layers
             if isinstance(l, tf_keras.layers.Dropout)][0]
  with pytest.raises(recipe.spec.ExportError, match='dropout'):
    recipe.cut_features(model, dropout)
  backbone = model.layers[1].name
  with pytest.raises(recipe.spec.ExportError, match='not .batch, num_feat'):
    recipe.cut_features(model, backbone)
  assert recipe.final_dense(model).output.shape.as_list() == [None, 5]


def test_source_detection(recipe, vision_ckpt, legacy_h5):
  assert recipe.detect_source(LEGACY_CKPT) == 'legacy'
  assert recipe.detect_source(legacy_h5[0]) == 'legacy'
  assert recipe.detect_source(vision_ckpt[0]) == 'vision'


def test_config_normalization_is_model_garden_s():
  """The input normalization in base.gin is what Model Garden's input
  pipelines apply (legacy: CHANNEL_MEANS on 0-255; vision: MEAN_NORM and
  STDDEV_NORM on [0, 1])."""
  from official.legacy.image_classification.resnet import imagenet_preprocessing  # pylint: disable=g-import-not-at-top
  from official.vision.ops import preprocess_ops  # pylint: disable=g-import-not-at-top
  text = open(os.path.join(ROOT, 'configs', 'resnet', 'base.gin')).read()
  def value(name):
    line = [l for l in text.splitlines() if l.startswith(name + ' =')][0]
    return eval(line.split('=', 1)[1])  # pylint: disable=eval-used
  assert value('legacy_resnet.input_mean') == imagenet_preprocessing.CHANNEL_MEANS
  np.testing.assert_allclose(value('vision_resnet.input_mean'),
                             preprocess_ops.MEAN_NORM)
  np.testing.assert_allclose(value('vision_resnet.input_std'),
                             preprocess_ops.STDDEV_NORM)
  assert value('legacy_resnet.input_scale') == 255.0
  assert value('vision_resnet.input_scale') == 1.0


# ---------------------------------------------------------------------------
# ResNet-50 size.

@pytest.mark.slow
def test_resnet50_export(tmp_path):
  """Model Garden's own resnet50(), saved with save_weights, exported with
  the shipped config and verified."""
  from official.legacy.image_classification.resnet import resnet_model  # pylint: disable=g-import-not-at-top
  model = resnet_model.resnet50(1001)
  MC.randomize(model, _legacy_normalize, seed=0)
  ckpt = str(tmp_path / 'resnet50' / 'ckpt')
  model.save_weights(ckpt)
  out = str(tmp_path / 'out')
  proc = run_script('resnet_export.py',
                    '--gin_file=configs/resnet/resnet50_imagenet.gin',
                    f'--checkpoint_path={ckpt}', f'--export_dir={out}')
  assert_ok(proc)
  assert proc.stdout.count('checks passed') == 2, proc.stdout
  _check_against_source(out, model, _legacy_normalize, 224)


# ---------------------------------------------------------------------------
# Fine-tuning controls (tunable batch-norm momentum, top groups only).

def test_stage_groups(legacy_export, vision_export):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  stages = ['stem', 'stage_1', 'stage_2', 'stage_3', 'stage_4']
  for out, _ in (legacy_export, vision_export):
    for name, head in (('feature_vector', []), ('classification', ['head'])):
      obj = hub.load(os.path.join(out, name))
      assert [g.name.numpy().decode() for g in obj.variable_groups] == (
          stages + head), (out, name)


def test_batch_norm_momentum_tunable(vision_export):
  """momentum m moves the moving statistics (1 - m) / (1 - 0.9) times as far
  as the configured 0.9 in one training step; inference is unaffected."""
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  obj = hub.load(os.path.join(vision_export[0], 'feature_vector'))
  x = tf.constant(_images(4, 32))
  infer = obj(x, training=False).numpy()
  np.testing.assert_array_equal(
      obj(x, training=False, batch_norm_momentum=0.5), infer)
  moving = [v for v in obj.variables if 'moving_mean' in v.name]
  start = [v.numpy() for v in moving]
  def step(**kw):
    obj(x, training=True, **kw)
    moved = sum(float(np.abs(v.numpy() - s).sum())
                for v, s in zip(moving, start))
    for v, s in zip(moving, start):
      v.assign(s)
    return moved
  assert step(batch_norm_momentum=0.5) == pytest.approx(5 * step(), rel=1e-3)
  assert step(batch_norm_momentum=1.0) == 0
  with open(os.path.join(vision_export[0], 'feature_vector', 'assets.extra',
                         'README.md')) as f:
    assert '| `batch_norm_momentum` | 0.9 | decay of the batch-norm' in f.read()


def test_fine_tune_top_groups_with_card_snippets(vision_export):
  import finetune_consumer  # pylint: disable=g-import-not-at-top
  path = os.path.join(vision_export[0], 'feature_vector')
  for run in (finetune_consumer.tf_keras_top_groups,
              finetune_consumer.keras3_top_groups):
    got = run(path, _images(4, 32))
    assert got['groups'][-2:] == ['stage_3', 'stage_4']
    assert not got['frozen_changed'], (run.__name__, got)
    assert not got['top_unmoved'], (run.__name__, got)


def test_model_card_code_runs(legacy_export):
  """Every code block of the model cards runs as published (tf_keras with
  hub.KerasLayer, Keras 3 with TFSMLayer), against this export."""
  out = legacy_export[0]
  tf_keras_blocks, keras3_blocks = assert_card_code_runs(os.path.join(out, 'feature_vector'), os.path.join(out, 'classification'))
  assert tf_keras_blocks and keras3_blocks

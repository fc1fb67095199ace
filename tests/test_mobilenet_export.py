"""Regression tests of the MobileNet recipe (export_scripts/mobilenet_export.py).

Sources: the committed tiny MobileNet V2 trainer checkpoint (tests/testdata/
mobilenet/ckpt-1: global_step, model, optimizer with momentum slots,
backbone), a tiny MobileNet V3 Small built here by Model Garden's own factory
from its `mobilenet_imagenet` experiment config and saved as
`tf.train.Checkpoint(model=...)` (what Model Garden's `export_tfhub`
restores), and a backbone-only checkpoint. Each is exported once through the
real command line (session fixtures) and compared with the source model
built by Model Garden directly; the comparison with Model Garden's own
exporter (`export_tfhub_lib`, ~30 s per SavedModel here) is `slow`.
"""
import importlib.util
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import (assert_card_code_runs, TESTDATA, assert_golden, assert_ok,  # pylint: disable=g-multiple-import
                      assert_one_line_error, run_script)

HERE = os.path.join(TESTDATA, 'mobilenet')
GOLDEN = os.path.join(HERE, 'golden')
TINY = '--gin_file=configs/mobilenet/tiny.gin'
V3_SMALL = '--gin_file=configs/mobilenet/mobilenet_v3_small_100_224.gin'
# A tiny MobileNet V3 Small that Model Garden's config system can describe
# (finegrain_classification_mode stays True: its last layer keeps 1024).
V3_TINY = dict(model_id='MobileNetV3Small', filter_size_scale=0.1,
               num_classes=10)
V3_FLAGS = ('--gin_params=FILTER_SIZE_SCALE = 0.1',
            '--gin_params=NUM_CLASSES = 10', '--gin_params=IMAGE_SIZE = 32')

# By path, under its own name: other tests have a make_checkpoint.
_MC_SPEC = importlib.util.spec_from_file_location(
    'mobilenet_make_checkpoint', os.path.join(HERE, 'make_checkpoint.py'))
MC = importlib.util.module_from_spec(_MC_SPEC)
_MC_SPEC.loader.exec_module(MC)


def _images(n, size, seed=1):
  return np.random.RandomState(seed).uniform(
      0, 1, [n, size, size, 3]).astype(np.float32)


def _vision_normalize(x):  # classification_input: normalize_image on [0, 1]
  from official.vision.ops import preprocess_ops  # pylint: disable=g-import-not-at-top
  return preprocess_ops.normalize_scaled_float_image(
      tf.constant(x), preprocess_ops.MEAN_NORM, preprocess_ops.STDDEV_NORM)


def _experiment(**model):
  """Model Garden's mobilenet_imagenet experiment config, overridden."""
  from official.core import exp_factory  # pylint: disable=g-import-not-at-top
  from official.vision.configs import image_classification  # pylint: disable=g-import-not-at-top,unused-import  (registers the experiment)
  params = exp_factory.get_exp_config('mobilenet_imagenet')
  params.override({'task': {'model': {
      'num_classes': model['num_classes'],
      'backbone': {'mobilenet': {
          'model_id': model['model_id'],
          'filter_size_scale': model['filter_size_scale']}}}}},
                  is_strict=True)
  return params


def _mg_model(params, l2=None):
  """The classifier as Model Garden's factory builds it from a config."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  from official.vision.modeling import factory  # pylint: disable=g-import-not-at-top
  return factory.build_classification_model(
      tf_keras.layers.InputSpec(shape=[None, None, None, 3]),
      params.task.model, l2)


def _record(path):
  with open(os.path.join(path, 'assets.extra', 'export_record.json')) as f:
    return json.load(f)


def _export(out, *args, verify=True):
  proc = run_script('mobilenet_export.py', f'--export_dir={out}', *args,
                    *(() if verify else ('--noverify',)))
  assert_ok(proc)
  return proc


# ---------------------------------------------------------------------------
# Sources and exports (once per session).

@pytest.fixture(scope='session')
def tiny_model():
  """The committed tiny V2 classifier, built from Model Garden's classes
  (not the recipe) and restored by TF itself."""
  from official.vision.modeling import classification_model  # pylint: disable=g-import-not-at-top
  from official.vision.modeling.backbones import mobilenet  # pylint: disable=g-import-not-at-top
  backbone = mobilenet.MobileNet(model_id='MobileNetV2',
                                 filter_size_scale=0.1,
                                 finegrain_classification_mode=False,
                                 norm_momentum=0.997, norm_epsilon=1e-3)
  model = classification_model.ClassificationModel(
      backbone, num_classes=10, dropout_rate=0.2, norm_momentum=0.997,
      norm_epsilon=1e-3)
  tf.train.Checkpoint(model=model).read(
      os.path.join(HERE, 'ckpt-1')).assert_existing_objects_matched()
  return model


@pytest.fixture(scope='session')
def trainer_export(session_tmp):
  out = str(session_tmp / 'trainer_export')
  return out, _export(out, TINY, f'--checkpoint_path={HERE}')


@pytest.fixture(scope='session')
def v3_ckpt(session_tmp):
  """A tiny V3 Small from Model Garden's factory and experiment config,
  saved as tf.train.Checkpoint(model=...)."""
  model = _mg_model(_experiment(**V3_TINY))
  MC.randomize(model, seed=5)
  path = tf.train.Checkpoint(model=model).save(
      str(session_tmp / 'v3_ckpt' / 'ckpt'))
  return path, model


@pytest.fixture(scope='session')
def v3_export(session_tmp, v3_ckpt):
  out = str(session_tmp / 'v3_export')
  return out, _export(out, V3_SMALL, *V3_FLAGS,
                      f'--checkpoint_path={v3_ckpt[0]}', verify=False)


@pytest.fixture(scope='session')
def backbone_ckpt(session_tmp, tiny_model):
  """The committed model's backbone alone, as Model Garden's
  init_checkpoint_modules='backbone' reads it."""
  return tf.train.Checkpoint(backbone=tiny_model.backbone).write(
      str(session_tmp / 'backbone_ckpt' / 'ckpt'))


# ---------------------------------------------------------------------------
# End to end through the command line.

def test_end_to_end_trainer_checkpoint(trainer_export):
  out, proc = trainer_export
  assert sorted(os.listdir(out)) == ['classification', 'feature_vector']
  assert proc.stdout.count('checks passed') == 2, proc.stdout
  for name, task in (('feature_vector', 'image-feature-vector'),
                     ('classification', 'image-classification')):
    rec = _record(os.path.join(out, name))
    assert rec['recipe'] == 'mobilenet'
    assert rec['api']['task'] == task
    assert rec['verification']['failed'] == 0
    ckpt = rec['source']['checkpoint']
    assert ckpt['layout'] == 'vision-trainer'
    # Optimizer slots, iterations, global step: read past, not exported.
    assert ckpt['ignored_checkpoint_values'] > ckpt['restored_variables'] // 2
  with open(os.path.join(out, 'classification', 'assets.extra',
                         'README.md')) as f:
    card = f.read()
  for words in ('# Module publisher/mobilenet_tiny_classification/1',
                'tf.nn.softmax', 'index 0 is "background"', 'MobileNet',
                '| output | `logits` | float32 | [batch, 10] |'):
    assert words in card, words
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  names = [v.name for v in hub.load(os.path.join(out, 'classification')
                                    ).variables]
  assert not any('momentum' in n or 'iteration' in n for n in names), names


def test_golden_outputs(trainer_export):
  for name in ('feature_vector', 'classification'):
    assert_golden(os.path.join(trainer_export[0], name),
                  os.path.join(GOLDEN, f'{name}.npz'), atol=1e-5)


def _check_against_source(out, model, size):
  """Logits = the classifier's output, features = its pooled features
  (the GlobalAveragePooling2D output), the source fed normalized images."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  x = _images(3, size)
  pool = [l for l in model.layers
          if isinstance(l, tf_keras.layers.GlobalAveragePooling2D)][-1]
  both = tf_keras.Model(model.inputs, [model.output, pool.output])
  want_logits, want_features = tf.function(
      lambda t: both(t, training=False))(_vision_normalize(x))
  logits = hub.load(os.path.join(out, 'classification'))(x, training=False)
  features = hub.load(os.path.join(out, 'feature_vector'))(x, training=False)
  assert logits.shape == want_logits.shape
  assert features.shape == want_features.shape
  np.testing.assert_allclose(logits, want_logits, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(features, want_features, rtol=1e-5, atol=1e-5)
  assert not np.allclose(np.sum(logits, -1), 1)  # Logits, not probabilities.


def test_trainer_export_equals_source(trainer_export, tiny_model):
  _check_against_source(trainer_export[0], tiny_model, 40)


def test_end_to_end_v3_model_checkpoint(v3_export, v3_ckpt):
  """A V3 Small built by Model Garden's factory from its experiment config:
  the export computes what that model computes, and carries the task's
  L2 exactly as the task's model has it."""
  out, _ = v3_export
  ckpt = _record(os.path.join(out, 'classification'))['source']['checkpoint']
  assert ckpt['layout'] == 'vision-model'
  _check_against_source(out, v3_ckpt[1], 32)
  _check_against_source(out, v3_ckpt[1], 48)
  import tf_keras  # pylint: disable=g-import-not-at-top
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  params = _experiment(**V3_TINY)
  task_model = _mg_model(params, tf_keras.regularizers.l2(
      params.task.losses.l2_weight_decay / 2.0))
  tf.train.Checkpoint(model=task_model).read(v3_ckpt[0]).expect_partial()
  obj = hub.load(os.path.join(out, 'classification'))
  assert len(obj.regularization_losses) == len(task_model.losses) > 10
  np.testing.assert_allclose(
      sum(float(f()) for f in obj.regularization_losses),
      float(tf.add_n(task_model.losses)), rtol=1e-5)


def test_end_to_end_backbone_checkpoint(session_tmp, backbone_ckpt,
                                        trainer_export):
  out = str(session_tmp / 'backbone_export')
  _export(out, TINY, f'--checkpoint_path={backbone_ckpt}',
          "--gin_params=EXPORTS = ['feature_vector']", verify=False)
  assert os.listdir(out) == ['feature_vector']
  # The trainer's layout (model=, backbone=) finds every backbone variable
  # under backbone/ and nothing else is in the checkpoint.
  ckpt = _record(os.path.join(out, 'feature_vector'))['source']['checkpoint']
  assert ckpt['layout'] == 'vision-trainer'
  assert ckpt['ignored_checkpoint_values'] == 0
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  x = _images(2, 32, seed=3)
  np.testing.assert_array_equal(
      hub.load(os.path.join(out, 'feature_vector'))(x),
      hub.load(os.path.join(trainer_export[0], 'feature_vector'))(x))


def test_dynamic_batch_and_image_size(trainer_export):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  obj = hub.load(os.path.join(trainer_export[0], 'feature_vector'))
  dims = None
  for n, size in ((1, 32), (5, 48), (2, 64)):
    shape = obj(_images(n, size), training=False).shape
    assert shape[0] == n
    dims = dims or shape[1]
    assert shape[1] == dims
  sig = obj.signatures['serving_default']
  assert sig.structured_input_signature[1]['images'].shape.as_list() == [
      None, None, None, 3]


# ---------------------------------------------------------------------------
# Fine-tuning and batch norm through hub.KerasLayer.

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


def test_fine_tuning_updates_weights_and_moving_statistics(trainer_export):
  tf_keras = pytest.importorskip('tf_keras')
  tf_keras.utils.set_random_seed(0)
  path = os.path.join(trainer_export[0], 'feature_vector')
  x, y = _images(16, 32, seed=4), np.arange(16) % 3
  layer, model = _classifier(path, trainable=True)
  # Adam on full batches: batch statistics of 8 tiny images are too noisy
  # for SGD's loss to fall steadily.
  model.compile(optimizer=tf_keras.optimizers.Adam(1e-3),
                loss=tf_keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True))
  trainable_before = [w.numpy().copy() for w in layer.trainable_weights]
  stats = [w for w in layer.weights if 'moving_' in w.name]
  stats_before = [w.numpy().copy() for w in stats]
  assert stats and layer.losses  # BN statistics and L2 losses are there.
  losses = model.fit(x, y, epochs=10, batch_size=16,
                     verbose=0).history['loss']
  assert losses[-1] < 0.8 * losses[0], losses
  changed = [not np.array_equal(b, w.numpy())
             for b, w in zip(trainable_before, layer.trainable_weights)]
  assert sum(changed) > 0.9 * len(changed), sum(changed)
  assert all(not np.array_equal(b, w.numpy())
             for b, w in zip(stats_before, stats))


def test_frozen_use_and_inference_change_nothing(trainer_export):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  path = os.path.join(trainer_export[0], 'feature_vector')
  layer, model = _classifier(path, trainable=False)
  before = [w.numpy().copy() for w in layer.weights]
  assert not layer.trainable_weights and before
  model.fit(_images(8, 32, seed=5), np.arange(8) % 3, epochs=2, batch_size=4,
            verbose=0)
  for b, w in zip(before, layer.weights):
    np.testing.assert_array_equal(b, w.numpy(), err_msg=w.name)
  # Directly: training=False leaves the moving statistics, training=True
  # moves them (1 - 0.997) of the way to the batch's (momentum 0.997, as
  # configured; the batch's: momentum 0). Some are within float precision of
  # the batch's already, so not every one changes bitwise.
  obj = hub.load(path)
  stats = [v for v in obj.variables if 'moving_mean' in v.name]
  before = [v.numpy().copy() for v in stats]
  images = _images(4, 32, seed=6)
  obj(images, training=False)
  assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, stats))
  obj(images, training=True, batch_norm_momentum=0.0)
  batch = [v.numpy().copy() for v in stats]
  for v, b in zip(stats, before):
    v.assign(b)
  obj(images, training=True)
  for b, m, v in zip(before, batch, stats):
    np.testing.assert_allclose(v.numpy() - b, 0.003 * (m - b), atol=1e-6,
                               err_msg=v.name)
  assert sum(not np.array_equal(b, v.numpy())
             for b, v in zip(before, stats)) > len(stats) // 2


# ---------------------------------------------------------------------------
# Bad inputs: one-line errors, nothing written.

def _fails(tmp_path, *args):
  out = str(tmp_path / 'out')
  proc = run_script('mobilenet_export.py', TINY, f'--export_dir={out}', *args)
  assert not os.path.exists(out), os.listdir(out)
  assert not [p for p in os.listdir(tmp_path) if p.startswith('.out')]
  return proc


def test_wrong_width_for_checkpoint(tmp_path):
  proc = _fails(tmp_path, f'--checkpoint_path={HERE}',
                '--gin_params=FILTER_SIZE_SCALE = 0.25')
  assert_one_line_error(proc, 'wrong shape', 'FILTER_SIZE_SCALE', code=1)


def test_backbone_checkpoint_has_no_classifier(tmp_path, backbone_ckpt):
  proc = _fails(tmp_path, f'--checkpoint_path={backbone_ckpt}')
  assert_one_line_error(proc, "EXPORTS = ['feature_vector']", code=1)


def test_unknown_model_id(tmp_path):
  proc = _fails(tmp_path, f'--checkpoint_path={HERE}',
                "--gin_params=MODEL_ID = 'MobileNetV9'")
  assert_one_line_error(proc, "'MobileNetV9'", 'MobileNetV3Large', code=1)


# ---------------------------------------------------------------------------
# The recipe's builder is Model Garden's.

def test_builder_is_model_garden_factory_s():
  """At Model Garden's settings (finegrain_classification_mode=True) the
  recipe's classifier is the factory's from the mobilenet_imagenet
  experiment: same variables, shapes and checkpoint keys, same L2 losses."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  from official.hub_export import restore  # pylint: disable=g-import-not-at-top
  recipe = MC.load_recipe()
  mg_cfg = dict(model_id='MobileNetV2', filter_size_scale=1.0,
                num_classes=1001)
  params = _experiment(**mg_cfg)
  mg = _mg_model(params, tf_keras.regularizers.l2(
      params.task.losses.l2_weight_decay / 2.0))
  ours = recipe.vision_mobilenet(input_mean=MC.MEAN, input_std=MC.STD,
                                 **mg_cfg).model
  assert [w.shape for w in ours.weights] == [w.shape for w in mg.weights]
  keys = lambda m: list(restore._variable_keys(m, m.weights).values())  # pylint: disable=protected-access
  assert keys(ours) == keys(mg)
  assert len(ours.losses) == len(mg.losses)
  cfg = params.task.model
  dropout = [l for l in ours.layers if isinstance(l, tf_keras.layers.Dropout)]
  assert dropout[0].rate == cfg.dropout_rate
  norms = [l for l in ours._flatten_layers()  # pylint: disable=protected-access
           if isinstance(l, tf_keras.layers.BatchNormalization)]
  assert {(l.momentum, l.epsilon) for l in norms} == {
      (cfg.norm_activation.norm_momentum, cfg.norm_activation.norm_epsilon)}


# ---------------------------------------------------------------------------
# Model Garden's own exporter, and a real size (slow).

@pytest.mark.slow
def test_equals_model_garden_export_tfhub(session_tmp, v3_ckpt, v3_export):
  """Model Garden's `export_tfhub_lib` on the same checkpoint: the same
  numbers once its input is normalized by hand (it expects normalized
  images; ours normalizes inside), logits both, L2 dropped by it."""
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  from official.vision.serving import export_tfhub_lib  # pylint: disable=g-import-not-at-top
  params = _experiment(**V3_TINY)
  x = _images(3, 32, seed=8)
  for name, skip in (('classification', False), ('feature_vector', True)):
    mg_dir = str(session_tmp / f'mg_{name}')
    export_tfhub_lib.export_model_to_tfhub(None, [32, 32], params,
                                           v3_ckpt[0], mg_dir,
                                           skip_logits_layer=skip)
    mg = hub.load(mg_dir)
    ours = hub.load(os.path.join(v3_export[0], name))
    want = mg(_vision_normalize(x), training=False)
    np.testing.assert_allclose(ours(x, training=False), want, rtol=1e-5,
                               atol=1e-5)
    assert not mg.regularization_losses and ours.regularization_losses


@pytest.mark.slow
def test_mobilenet_v3_large_export(tmp_path):
  """MobileNet V3 Large at width 1.0 from the shipped config, built by
  Model Garden's factory, trainer-style checkpoint, --noverify."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  cfg = dict(model_id='MobileNetV3Large', filter_size_scale=1.0,
             num_classes=1001)
  params = _experiment(**cfg)
  model = _mg_model(params, tf_keras.regularizers.l2(5e-6))
  MC.randomize(model, seed=0, size=224)
  directory = str(tmp_path / 'ckpt')
  MC.save_trainer_checkpoint(model, directory, size=224)
  out = str(tmp_path / 'out')
  _export(out, '--gin_file=configs/mobilenet/mobilenet_v3_large_100_224.gin',
          f'--checkpoint_path={directory}', verify=False)
  _check_against_source(out, model, 224)


def test_variable_groups_and_momentum(trainer_export):
  """Blocks bottom to top (the classifier adds its head); the batch-norm
  momentum defaults to the configured one and is tunable per call."""
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  out = trainer_export[0]
  fv = hub.load(os.path.join(out, 'feature_vector'))
  names = [g.name.numpy().decode() for g in fv.variable_groups]
  assert names == [f'block_{i}' for i in range(len(names))]
  cls = hub.load(os.path.join(out, 'classification'))
  assert [g.name.numpy().decode() for g in cls.variable_groups] == (
      names + ['head'])
  import inspect  # pylint: disable=g-import-not-at-top
  default = inspect.signature(fv.__call__).parameters[
      'batch_norm_momentum'].default
  assert default == pytest.approx(0.997)


def test_model_card_code_runs(trainer_export):
  """Every code block of the model cards runs as published (tf_keras with
  hub.KerasLayer, Keras 3 with TFSMLayer), against this export."""
  out = trainer_export[0]
  tf_keras_blocks, keras3_blocks = assert_card_code_runs(os.path.join(out, 'feature_vector'), os.path.join(out, 'classification'))
  assert tf_keras_blocks and keras3_blocks

"""Tests of the ResNet recipe (export_scripts/resnet_export.py).

The image family's contract (tests/image_family.py) on the committed tiny
legacy Keras ResNet (tests/testdata/resnet/legacy_ckpt, `save_weights`);
its comparison with Model Garden's `export_tfhub` uses a tiny vision
classifier (ResNet-10 at 1/8 width) that Model Garden's factory builds from
its `resnet_imagenet` experiment config, saved as its trainer does (`slow`:
one more export). Here
only what is particular to ResNet: the legacy model (no working Model Garden
exporter: compared with Model Garden's own Keras model instead), `.h5`
weights and the configured L2 strength, telling the sources apart, and the
pipelines' normalization constants.
"""
import os

import numpy as np
import pytest
import tensorflow as tf

import image_family
from conftest import ROOT, TESTDATA, assert_ok, run_script  # pylint: disable=g-bad-import-order,g-multiple-import

HERE = os.path.join(TESTDATA, 'resnet')
LEGACY_CKPT = os.path.join(HERE, 'legacy_ckpt')
TINY = '--gin_file=configs/resnet/tiny.gin'
LEGACY_MEAN = [123.68, 116.78, 103.94]
VISION = dict(num_classes=10, backbone={'resnet': {
    'model_id': 10, 'depth_multiplier': 0.125}})


def _make_checkpoint_module():
  import importlib.util  # pylint: disable=g-import-not-at-top
  path = os.path.join(HERE, 'make_checkpoint.py')
  mod_spec = importlib.util.spec_from_file_location('resnet_make_ckpt', path)
  module = importlib.util.module_from_spec(mod_spec)
  mod_spec.loader.exec_module(module)
  return module


MC = _make_checkpoint_module()
_images = image_family.images


@pytest.fixture(scope='session')
def recipe():
  return MC.load_recipe()


def _legacy_normalize(x):  # imagenet_preprocessing: x * 255 - CHANNEL_MEANS
  from official.legacy.image_classification.resnet import imagenet_preprocessing  # pylint: disable=g-import-not-at-top
  return x * 255.0 - np.array(imagenet_preprocessing.CHANNEL_MEANS, np.float32)


def _vision_params():
  return image_family.experiment('resnet_imagenet', VISION)


def _vision_checkpoint(directory):
  """The tiny vision classifier from Model Garden's factory, saved as its
  trainer does (global_step, model, optimizer slots, backbone)."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  from official.vision.modeling import factory  # pylint: disable=g-import-not-at-top
  model = factory.build_classification_model(
      tf_keras.layers.InputSpec(shape=[None, None, None, 3]),
      _vision_params().task.model, tf_keras.regularizers.l2(1e-4 / 2))
  MC.randomize(model, image_family.vision_normalize, seed=2)
  return image_family.save_trainer_checkpoint(model, directory), (TINY,)


class TestImageFamily(image_family.Contract):
  member = image_family.Member(
      recipe='resnet', checkpoint='resnet/legacy_ckpt', num_classes=10,
      layout='legacy-weights',
      mismatch=('NUM_CLASSES = 1001', (
          'wrong shape', 'NUM_CLASSES',
          'model [128, 1001], checkpoint [128, 10]')),
      model_garden=image_family.ModelGarden(
          params=_vision_params, image_size=40, checkpoint=_vision_checkpoint,
          slow=True))

  def check_group_names(self, names):
    assert names == ['stem', 'stage_1', 'stage_2', 'stage_3', 'stage_4']

  def test_fine_tune_top_groups_with_card_snippets(self, exported):
    """The card's tf_keras and Keras 3 snippets train only the top two
    stages: every other variable bit-identical, theirs moved."""
    import finetune_consumer  # pylint: disable=g-import-not-at-top
    path = os.path.join(exported[0], 'feature_vector')
    for run in (finetune_consumer.tf_keras_top_groups,
                finetune_consumer.keras3_top_groups):
      got = run(path, _images(4, 32))
      assert got['groups'][-2:] == ['stage_3', 'stage_4']
      assert not got['frozen_changed'], (run.__name__, got)
      assert not got['top_unmoved'], (run.__name__, got)

  def test_legacy_export_equals_model_garden_keras_model(self, exported,
                                                        legacy_model):
    """Model Garden's legacy model restored by Keras: the classifier's
    pre-softmax output, the pooled features, on legacy-normalized images."""
    import tf_keras  # pylint: disable=g-import-not-at-top
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    x = _images(3, 32)
    model = legacy_model
    dense = model.get_layer('fc1000')
    pool = [l for l in model.layers
            if isinstance(l, tf_keras.layers.GlobalAveragePooling2D)][-1]
    both = tf_keras.Model(model.inputs, [dense.output, pool.output,
                                         model.output])
    logits, features, probs = tf.function(
        lambda t: both(t, training=False))(_legacy_normalize(x))
    got = hub.load(os.path.join(exported[0], 'classification'))(x)
    np.testing.assert_allclose(got, logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tf.nn.softmax(got), probs, atol=1e-5)
    np.testing.assert_allclose(
        hub.load(os.path.join(exported[0], 'feature_vector'))(x), features,
        rtol=1e-5, atol=1e-5)


def test_source_detection(recipe, legacy_h5, tmp_path):
  assert recipe.detect_source(LEGACY_CKPT) == 'legacy'
  assert recipe.detect_source(legacy_h5[0]) == 'legacy'
  vision = _vision_checkpoint(str(tmp_path / 'ckpt'))[0]
  assert recipe.detect_source(vision) == 'vision'


@pytest.fixture(scope='session')
def legacy_model(recipe):
  """The committed tiny legacy ResNet, restored by Keras itself."""
  model = recipe.legacy_resnet(**MC.TINY).model
  model.load_weights(LEGACY_CKPT).expect_partial()
  return model


@pytest.fixture(scope='session')
def legacy_h5(session_tmp, recipe):
  model = recipe.legacy_resnet(**MC.TINY).model
  MC.randomize(model, _legacy_normalize, seed=3)
  path = str(session_tmp / 'legacy.h5')
  model.save_weights(path)
  return path, model


def test_end_to_end_legacy_h5_with_configured_l2(session_tmp, legacy_h5):
  """Only the classifier, from .h5, at L2 strength 0.01 instead of 1e-4:
  0.01 * sum(w**2) over the conv kernels and the final kernel and bias."""
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  out = str(session_tmp / 'h5_export')
  assert_ok(run_script('resnet_export.py', TINY, f'--export_dir={out}',
                       f'--checkpoint_path={legacy_h5[0]}',
                       "--gin_params=EXPORTS = ['classification']",
                       '--gin_params=legacy_resnet.l2_weight_decay = 0.01',
                       '--noverify'))  # The legacy path is verified above.
  assert os.listdir(out) == ['classification']
  rec = image_family.record(os.path.join(out, 'classification'))
  assert rec['source']['checkpoint']['format'] == 'h5'
  obj = hub.load(os.path.join(out, 'classification'))
  weights = [w for w in legacy_h5[1].weights
             if w.name.split('/')[-1].startswith(('kernel', 'bias'))]
  assert len(obj.regularization_losses) == len(weights)
  np.testing.assert_allclose(
      sum(float(f()) for f in obj.regularization_losses),
      0.01 * sum(float(tf.reduce_sum(tf.square(w))) for w in weights),
      rtol=1e-5)


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

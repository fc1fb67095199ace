"""Tests of the MobileNet recipe (export_scripts/mobilenet_export.py).

The image family's contract (tests/image_family.py) on the committed tiny
MobileNet V2 trainer checkpoint (tests/testdata/mobilenet/ckpt-1: width 0.1
with `finegrain_classification_mode=False`, which Model Garden's config
cannot express); its comparison with Model Garden's `export_tfhub` uses a
tiny MobileNet V3 Small that Model Garden's factory builds from its
`mobilenet_imagenet` experiment config (`slow`: one more export). Here only
what is particular to MobileNet: the builder is Model Garden's, the task's
L2, the model ids.
"""
import importlib.util
import os

import numpy as np
import pytest
import tensorflow as tf

import image_family
from conftest import TESTDATA, assert_ok, run_script  # pylint: disable=g-bad-import-order

HERE = os.path.join(TESTDATA, 'mobilenet')
# A tiny MobileNet V3 Small that Model Garden's config system can describe
# (finegrain_classification_mode stays True: its last layer keeps 1024).
V3_TINY = dict(model_id='MobileNetV3Small', filter_size_scale=0.1,
               num_classes=10)
V3_FLAGS = ('--gin_file=configs/mobilenet/mobilenet_v3_small_100_224.gin',
            '--gin_params=FILTER_SIZE_SCALE = 0.1',
            '--gin_params=NUM_CLASSES = 10', '--gin_params=IMAGE_SIZE = 32')

# By path, under its own name: other tests have a make_checkpoint.
_MC_SPEC = importlib.util.spec_from_file_location(
    'mobilenet_make_checkpoint', os.path.join(HERE, 'make_checkpoint.py'))
MC = importlib.util.module_from_spec(_MC_SPEC)
_MC_SPEC.loader.exec_module(MC)


def _experiment(**model):
  """Model Garden's mobilenet_imagenet experiment config, overridden."""
  return image_family.experiment('mobilenet_imagenet', {
      'num_classes': model['num_classes'], 'backbone': {'mobilenet': {
          'model_id': model['model_id'],
          'filter_size_scale': model['filter_size_scale']}}})


def _mg_model(params, l2=None):
  """The classifier as Model Garden's factory builds it from a config."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  from official.vision.modeling import factory  # pylint: disable=g-import-not-at-top
  return factory.build_classification_model(
      tf_keras.layers.InputSpec(shape=[None, None, None, 3]),
      params.task.model, l2)


def _v3_checkpoint(directory):
  """The tiny V3 Small from Model Garden's factory, saved as
  tf.train.Checkpoint(model=...) (what its export_tfhub restores)."""
  model = _mg_model(_experiment(**V3_TINY))
  MC.randomize(model, seed=5)
  return tf.train.Checkpoint(model=model).save(directory + '/ckpt'), V3_FLAGS


class TestImageFamily(image_family.Contract):
  member = image_family.Member(
      recipe='mobilenet', checkpoint='mobilenet', num_classes=10,
      layout='vision-trainer',
      mismatch=('FILTER_SIZE_SCALE = 0.25', ('wrong shape',
                                             'FILTER_SIZE_SCALE')),
      model_garden=image_family.ModelGarden(
          params=lambda: _experiment(**V3_TINY), image_size=32,
          checkpoint=_v3_checkpoint, slow=True))

  @pytest.mark.slow
  def check_group_names(self, names):
    assert names == [f'block_{i}' for i in range(len(names))]

  def test_batch_norm_momentum_default(self, exported):
    """The batch-norm momentum is tunable per call and defaults to the
    configured one."""
    import inspect  # pylint: disable=g-import-not-at-top
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    fv = hub.load(os.path.join(exported[0], 'feature_vector'))
    default = inspect.signature(fv.__call__).parameters[
        'batch_norm_momentum'].default
    assert default == pytest.approx(0.997)

  def test_v3_export_carries_the_task_l2(self, model_garden_export):
    """The export carries the L2 of Model Garden's task exactly (its own
    exporter drops it)."""
    import tf_keras  # pylint: disable=g-import-not-at-top
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    ckpt, out = model_garden_export
    params = _experiment(**V3_TINY)
    task_model = _mg_model(params, tf_keras.regularizers.l2(
        params.task.losses.l2_weight_decay / 2.0))
    tf.train.Checkpoint(model=task_model).read(ckpt).expect_partial()
    obj = hub.load(os.path.join(out, 'classification'))
    assert len(obj.regularization_losses) == len(task_model.losses) > 10
    np.testing.assert_allclose(
        sum(float(f()) for f in obj.regularization_losses),
        float(tf.add_n(task_model.losses)), rtol=1e-5)
    assert image_family.record(os.path.join(out, 'classification'))[
        'source']['checkpoint']['layout'] == 'vision-model'


def test_unknown_model_id():
  recipe = image_family.load_recipe('mobilenet')
  with pytest.raises(recipe.spec.ExportError,
                     match="'MobileNetV9'.*MobileNetV3Large"):
    recipe.vision_mobilenet('MobileNetV9', 10, input_mean=MC.MEAN,
                            input_std=MC.STD)


def test_builder_is_model_garden_factory_s():
  """At Model Garden's settings (finegrain_classification_mode=True) the
  recipe's classifier is the factory's from the mobilenet_imagenet
  experiment: same variables, shapes and checkpoint keys, same L2 losses."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  from official.hub_export import restore  # pylint: disable=g-import-not-at-top
  recipe = image_family.load_recipe('mobilenet')
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


@pytest.mark.slow
def test_mobilenet_v3_large_export(tmp_path):
  """MobileNet V3 Large at width 1.0 from the shipped config, built by
  Model Garden's factory, trainer-style checkpoint, verified at 224."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  cfg = dict(model_id='MobileNetV3Large', filter_size_scale=1.0,
             num_classes=1001)
  model = _mg_model(_experiment(**cfg), tf_keras.regularizers.l2(5e-6))
  MC.randomize(model, seed=0, size=224)
  directory = str(tmp_path / 'ckpt')
  MC.save_trainer_checkpoint(model, directory, size=224)
  proc = run_script(
      'mobilenet_export.py',
      '--gin_file=configs/mobilenet/mobilenet_v3_large_100_224.gin',
      f'--checkpoint_path={directory}', f'--export_dir={tmp_path / "out"}')
  assert_ok(proc)
  assert proc.stdout.count('checks passed') == 2, proc.stdout

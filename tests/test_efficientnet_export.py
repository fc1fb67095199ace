"""Tests of the EfficientNet recipe (export_scripts/efficientnet_export.py).

The image family's contract (tests/image_family.py) on the committed tiny
checkpoint (tests/testdata/efficientnet/ckpt-1: B0's blocks at width and
depth scale 0.1, Model Garden trainer layout), including Model Garden's own
`export_tfhub` of it; here only what is particular to EfficientNet.
"""
from unittest import mock

import pytest

import image_family
from conftest import run_script  # pylint: disable=g-bad-import-order

TINY_SCALING = {'b0': dict(width_scale=0.1, depth_scale=0.1)}
MODEL = dict(num_classes=10, dropout_rate=0.2, backbone={
    'type': 'efficientnet', 'efficientnet': {
        'model_id': 'b0', 'se_ratio': 0.25,
        'stochastic_depth_drop_rate': 0.2}}, norm_activation={
            'activation': 'swish', 'norm_momentum': 0.99,
            'norm_epsilon': 1e-3, 'use_sync_bn': False})


def _scaling_map():
  from official.vision.modeling.backbones import efficientnet  # pylint: disable=g-import-not-at-top
  return efficientnet.SCALING_MAP


class TestImageFamily(image_family.Contract):
  member = image_family.Member(
      recipe='efficientnet', checkpoint='efficientnet', num_classes=10,
      layout='vision-trainer',
      mismatch=('NUM_CLASSES = 1001', ('wrong shape', 'NUM_CLASSES')),
      model_garden=image_family.ModelGarden(
          params=lambda: image_family.experiment('image_classification',
                                                 MODEL),
          image_size=32,
          patch=lambda: mock.patch.dict(_scaling_map(), TINY_SCALING)))


def test_builder_is_model_garden_factory_s():
  """The recipe's classifier is the one Model Garden's factory builds from
  the same config (B0's scaling replaced by the tiny one on both sides):
  variables, shapes, checkpoint keys, L2 losses; the tiny scaling replaces
  B0's only while building."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  from official.hub_export import restore  # pylint: disable=g-import-not-at-top
  from official.vision.modeling import factory  # pylint: disable=g-import-not-at-top
  recipe = image_family.load_recipe('efficientnet')
  ours = recipe.vision_efficientnet('b0', num_classes=10, width_scale=0.1,
                                    depth_scale=0.1,
                                    input_mean=image_family.MEAN,
                                    input_std=image_family.STD).model
  assert _scaling_map()['b0'] == dict(width_scale=1.0, depth_scale=1.0)
  params = image_family.experiment('image_classification', MODEL)
  with mock.patch.dict(_scaling_map(), TINY_SCALING):
    mg = factory.build_classification_model(
        tf_keras.layers.InputSpec(shape=[None, None, None, 3]),
        params.task.model, tf_keras.regularizers.l2(1e-5 / 2))
  assert [w.shape for w in ours.weights] == [w.shape for w in mg.weights]
  keys = lambda m: list(restore._variable_keys(m, m.weights).values())  # pylint: disable=protected-access
  assert keys(ours) == keys(mg)
  assert len(ours.losses) == len(mg.losses) > 20


def test_unknown_model_id():
  recipe = image_family.load_recipe('efficientnet')
  with pytest.raises(recipe.spec.ExportError, match="'b9'.*b0, b1"):
    recipe.vision_efficientnet('b9', num_classes=10, input_mean=[0.5] * 3,
                               input_std=[0.5] * 3)


@pytest.mark.slow
def test_efficientnet_b0_export(tmp_path):
  """B0 at full size from the shipped config, trainer-style checkpoint,
  verified at 224."""
  recipe = image_family.load_recipe('efficientnet')
  model = recipe.vision_efficientnet('b0', num_classes=1001,
                                     input_mean=image_family.MEAN,
                                     input_std=image_family.STD).model
  image_family.randomize(model, seed=0, size=224)
  image_family.save_trainer_checkpoint(model, str(tmp_path / 'ckpt'), 224)
  out = str(tmp_path / 'out')
  proc = run_script('efficientnet_export.py',
                    '--gin_file=configs/efficientnet/efficientnet_b0.gin',
                    f'--checkpoint_path={tmp_path / "ckpt"}',
                    f'--export_dir={out}')
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.count('checks passed') == 2, proc.stdout

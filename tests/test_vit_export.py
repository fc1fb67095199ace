"""Tests of the ViT recipe (export_scripts/vit_export.py).

The image family's contract (tests/image_family.py) on the committed tiny
checkpoint (tests/testdata/vit/ckpt-1: hidden size 16, 8x8 patches of 32x32
images, 2 layers, Model Garden trainer layout), including Model Garden's own
`export_tfhub` of it; here only what is particular to ViT: the fixed image
size and Model Garden's size table.
"""
import os
from unittest import mock

import pytest

import image_family
from conftest import run_script  # pylint: disable=g-bad-import-order

SIZES = {'hidden_size': 16, 'patch_size': 8,
         'transformer': {'mlp_dim': 32, 'num_heads': 2, 'num_layers': 2}}
MODEL = dict(num_classes=10, input_size=[32, 32, 3], backbone={
    'type': 'vit', 'vit': {'model_name': 'vit-ti16',
                           'representation_size': 8}})


def _vit_lib():
  from official.vision.modeling.backbones import vit  # pylint: disable=g-import-not-at-top
  return vit


def _tiny_specs():
  return mock.patch.object(_vit_lib(), 'VIT_SPECS',
                           {**_vit_lib().VIT_SPECS, 'vit-ti16': SIZES})


class TestImageFamily(image_family.Contract):
  member = image_family.Member(
      recipe='vit', checkpoint='vit', num_classes=10, layout='vision-trainer',
      mismatch=('IMAGE_SIZE = 48', ('pos_embedding', 'IMAGE_SIZE')),
      model_garden=image_family.ModelGarden(
          params=lambda: image_family.experiment('vit_imagenet_pretrain',
                                                 MODEL),
          image_size=32, patch=_tiny_specs))

  def test_image_size_is_fixed(self, exported):
    """The declared input is [batch, 32, 32, 3]; another size is refused."""
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    obj = hub.load(os.path.join(exported[0], 'feature_vector'))
    sig = obj.signatures['serving_default']
    assert sig.structured_input_signature[1]['images'].shape.as_list() == [
        None, 32, 32, 3]
    assert obj(image_family.images(5, 32)).shape == [5, 8]
    with pytest.raises((ValueError, TypeError)):
      obj(image_family.images(1, 48))


def test_builder_is_model_garden_factory_s():
  """The recipe's classifier is what Model Garden's factory builds from
  vit_imagenet_pretrain (the tiny sizes in its table on both sides):
  variables, shapes, checkpoint keys; the sizes replace the table entry only
  while building."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  from official.hub_export import restore  # pylint: disable=g-import-not-at-top
  from official.vision.modeling import factory  # pylint: disable=g-import-not-at-top
  recipe = image_family.load_recipe('vit')
  ours = recipe.vision_vit('vit-ti16', num_classes=10, image_size=32,
                           sizes=SIZES, representation_size=8,
                           input_mean=image_family.MEAN,
                           input_std=image_family.STD).model
  assert _vit_lib().VIT_SPECS['vit-ti16']['hidden_size'] == 192
  with _tiny_specs():
    mg = factory.build_classification_model(
        tf_keras.layers.InputSpec(shape=[None, 32, 32, 3]),
        image_family.experiment('vit_imagenet_pretrain', MODEL).task.model)
  assert [w.shape for w in ours.weights] == [w.shape for w in mg.weights]
  keys = lambda m: list(restore._variable_keys(m, m.weights).values())  # pylint: disable=protected-access
  assert keys(ours) == keys(mg)
  with pytest.raises(recipe.spec.ExportError, match="'vit-x9'.*vit-b16"):
    recipe.vision_vit('vit-x9', num_classes=10, image_size=32,
                      input_mean=[0.5] * 3, input_std=[0.5] * 3)


@pytest.mark.slow
def test_vit_b16_export(tmp_path):
  """ViT-B/16 at full size from the shipped config, trainer-style
  checkpoint, verified at 224."""
  recipe = image_family.load_recipe('vit')
  model = recipe.vision_vit('vit-b16', num_classes=1001, image_size=224,
                            input_mean=image_family.MEAN,
                            input_std=image_family.STD).model
  image_family.randomize(model, seed=0, size=224)
  image_family.save_trainer_checkpoint(model, str(tmp_path / 'ckpt'), 224)
  out = str(tmp_path / 'out')
  proc = run_script('vit_export.py', '--gin_file=configs/vit/vit_b16.gin',
                    f'--checkpoint_path={tmp_path / "ckpt"}',
                    f'--export_dir={out}')
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.count('checks passed') == 2, proc.stdout
  assert image_family.record(os.path.join(out, 'classification'))[
      'verification']['failed'] == 0

"""Writes tests/testdata/efficientnet/ckpt-1: a tiny Model Garden EfficientNet.

The classifier of configs/efficientnet/tiny.gin (B0's blocks at width and
depth scale 0.1, 10 classes) built by the recipe (Model Garden's factory),
with deterministic weights and batch-norm statistics, saved as Model
Garden's vision trainer does (tests/image_family.py).

    .venv/bin/python tests/testdata/efficientnet/make_checkpoint.py
"""
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))  # tests/

import image_family  # pylint: disable=g-import-not-at-top

TINY = dict(model_id='b0', width_scale=0.1, depth_scale=0.1, num_classes=10,
            input_mean=image_family.MEAN, input_std=image_family.STD)

def activate_squeeze_excitation(model):
  """The tiny blocks squeeze to 2 ReLU units: random weights can leave
  both dead for every image (no gradient, which verification refuses); a
  positive bias keeps them active, as training would."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  for layer in model._flatten_layers():  # pylint: disable=protected-access
    if type(layer).__name__ == 'SqueezeExcitation':
      layer._se_reduce.bias.assign(np.ones(layer._se_reduce.bias.shape))  # pylint: disable=protected-access


if __name__ == '__main__':
  model = image_family.load_recipe('efficientnet').vision_efficientnet(
      **TINY).model
  image_family.randomize(model, seed=0, activate=activate_squeeze_excitation)
  print('wrote', image_family.save_trainer_checkpoint(model, HERE))

"""Writes tests/testdata/vit/ckpt-1: a tiny Model Garden ViT.

The classifier of configs/vit/tiny.gin (hidden size 16, 8x8 patches of 32x32
images, 2 layers, pre-logits layer of 8, 10 classes) built by the recipe
(Model Garden's factory), with deterministic weights, saved as Model
Garden's vision trainer does (tests/image_family.py).

    .venv/bin/python tests/testdata/vit/make_checkpoint.py
"""
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))  # tests/

import image_family  # pylint: disable=g-import-not-at-top

SIZES = {'hidden_size': 16, 'patch_size': 8,
         'transformer': {'mlp_dim': 32, 'num_heads': 2, 'num_layers': 2}}
TINY = dict(model_name='vit-ti16', sizes=SIZES, representation_size=8,
            num_classes=10, image_size=32, input_mean=image_family.MEAN,
            input_std=image_family.STD)

if __name__ == '__main__':
  model = image_family.load_recipe('vit').vision_vit(**TINY).model
  image_family.randomize(model, seed=0)
  print('wrote', image_family.save_trainer_checkpoint(model, HERE))

"""Writes tests/testdata/resnet/legacy_ckpt: a tiny legacy Keras ResNet.

The architecture of configs/resnet/tiny.gin (one bottleneck block per stage,
1/16 width, 10 classes) with deterministic random weights, including
non-trivial batch-norm moving statistics, saved as Model Garden's legacy
trainer does it: `model.save_weights(prefix)` (TF checkpoint format).

    .venv/bin/python tests/testdata/resnet/make_checkpoint.py
"""
import importlib.util
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import numpy as np  # pylint: disable=g-import-not-at-top

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
TINY = dict(depth=50, num_classes=10, block_repeats=[1, 1, 1, 1],
            width_multiplier=0.0625, input_mean=[123.68, 116.78, 103.94])


def load_recipe():
  """The recipe module (export_scripts is not a package)."""
  if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
  path = os.path.join(ROOT, 'export_scripts', 'resnet_export.py')
  mod_spec = importlib.util.spec_from_file_location('resnet_export', path)
  module = importlib.util.module_from_spec(mod_spec)
  mod_spec.loader.exec_module(module)
  return module


def randomize(model, normalize, seed=0):
  """Deterministic weights with the right scale for every kind of variable
  (independent of TF's initializers), batch-norm statistics included."""
  rng = np.random.RandomState(seed)
  for v in model.weights:
    shape = v.shape.as_list()
    name = v.name.split('/')[-1]
    if name.startswith('gamma') or name.startswith('moving_variance'):
      value = rng.uniform(0.5, 1.5, shape)
    elif name.startswith(('beta', 'moving_mean', 'bias')):
      value = rng.normal(0, 0.1, shape)
    else:  # Kernels: He-normal scale.
      fan_in = int(np.prod(shape[:-1])) or 1
      value = rng.normal(0, np.sqrt(2.0 / fan_in), shape)
    v.assign(value.astype(np.float32))
  calibrate(model, normalize, rng)


def calibrate(model, normalize, rng):
  """Batch-norm moving statistics := the statistics of random images (as
  training would leave them), so activations stay O(1) as in a trained net."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  norms = [l for l in model._flatten_layers(include_self=False)  # pylint: disable=protected-access
           if isinstance(l, tf_keras.layers.BatchNormalization)]
  momenta = [l.momentum for l in norms]
  for l in norms:
    l.momentum = 0.0
  shape = [8] + [32 if d is None else d for d in model.inputs[0].shape[1:]]
  images = rng.uniform(0, 1, shape).astype(np.float32)
  model(normalize(images), training=True)
  for l, m in zip(norms, momenta):
    l.momentum = m


if __name__ == '__main__':
  recipe = load_recipe()
  source = recipe.legacy_resnet(**TINY)
  model = source.model
  randomize(model, recipe.normalizer(source), seed=0)
  model.save_weights(os.path.join(HERE, 'legacy_ckpt'))
  print('wrote', os.path.join(HERE, 'legacy_ckpt'))

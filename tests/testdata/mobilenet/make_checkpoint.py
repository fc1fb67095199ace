"""Writes tests/testdata/mobilenet/ckpt-1: a tiny Model Garden MobileNet V2.

The classifier of configs/mobilenet/tiny.gin (`official.vision` MobileNetV2
backbone at width 0.1 with `finegrain_classification_mode=False`,
`ClassificationModel` with 10 classes) with deterministic random weights,
including non-trivial batch-norm moving statistics, saved as Model Garden's
vision trainer does it: `tf.train.Checkpoint(global_step, model, optimizer,
backbone)` through a `CheckpointManager`, after one zero-learning-rate step
of SGD with momentum (so optimizer slots are in it).

    .venv/bin/python tests/testdata/mobilenet/make_checkpoint.py
"""
import importlib.util
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import numpy as np  # pylint: disable=g-import-not-at-top

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
TINY = dict(model_id='MobileNetV2', num_classes=10, filter_size_scale=0.1,
            finegrain_classification_mode=False, input_mean=MEAN,
            input_std=STD)


def load_recipe():
  """The recipe module (export_scripts is not a package)."""
  if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
  path = os.path.join(ROOT, 'export_scripts', 'mobilenet_export.py')
  mod_spec = importlib.util.spec_from_file_location('mobilenet_export', path)
  module = importlib.util.module_from_spec(mod_spec)
  mod_spec.loader.exec_module(module)
  return module


def normalize(images):
  """Model Garden's classification input pipeline on [0, 1] images."""
  return (images - np.float32(MEAN)) / np.float32(STD)


def randomize(model, seed=0, size=64):
  """Deterministic weights with the right scale for every kind of variable
  (independent of TF's initializers), batch-norm statistics included.

  Random deep nets amplify rounding differences (a one-ulp change of the
  input moved the logits of a first version by 4e-4): gammas in [0.5, 1]
  and statistics of 32 images of 64x64 keep it near a trained net's (~5e-6),
  so that equality tests at 1e-5 test the export, not the rounding."""
  rng = np.random.RandomState(seed)
  for v in model.weights:
    shape = v.shape.as_list()
    name = v.name.split('/')[-1]
    if name.startswith('gamma'):
      value = rng.uniform(0.5, 1.0, shape)
    elif name.startswith('moving_variance'):
      value = rng.uniform(0.5, 1.5, shape)
    elif name.startswith(('beta', 'moving_mean', 'bias')):
      value = rng.normal(0, 0.1, shape)
    else:  # Kernels: He-normal scale (depthwise: per channel).
      fan_in = (int(np.prod(shape[:2])) if name.startswith('depthwise')
                else int(np.prod(shape[:-1]))) or 1
      value = rng.normal(0, np.sqrt(2.0 / fan_in), shape)
    v.assign(value.astype(np.float32))
  calibrate(model, rng, size)


def calibrate(model, rng, size):
  """Batch-norm moving statistics := the statistics of random images (as
  training would leave them), so activations stay O(1) as in a trained net."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  norms = [l for l in model._flatten_layers(include_self=False)  # pylint: disable=protected-access
           if isinstance(l, tf_keras.layers.BatchNormalization)]
  momenta = [l.momentum for l in norms]
  for l in norms:
    l.momentum = 0.0
  images = rng.uniform(0, 1, [32, size, size, 3]).astype(np.float32)
  model(normalize(images), training=True)
  for l, m in zip(norms, momenta):
    l.momentum = m


def save_trainer_checkpoint(model, directory, size=32):
  """As Model Garden's trainer: global_step, model, optimizer (momentum
  slots, after a zero-learning-rate step) and model.checkpoint_items."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  optimizer = tf_keras.optimizers.SGD(0.0, momentum=0.9)
  x = normalize(np.random.RandomState(7).uniform(
      0, 1, [2, size, size, 3]).astype(np.float32))
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(model(x, training=False)) + tf.add_n(model.losses)
  optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                model.trainable_variables))
  ckpt = tf.train.Checkpoint(global_step=tf.Variable(1, dtype=tf.int64),
                             model=model, optimizer=optimizer,
                             **model.checkpoint_items)
  return tf.train.CheckpointManager(ckpt, directory, max_to_keep=1,
                                    checkpoint_name='ckpt').save(
                                        checkpoint_number=1)


if __name__ == '__main__':
  recipe = load_recipe()
  tiny_model = recipe.vision_mobilenet(**TINY).model
  randomize(tiny_model, seed=0)
  print('wrote', save_trainer_checkpoint(tiny_model, HERE))

r"""Seed recipe: TF Hub's `MyMulModel` (y = v * x) on the low-level API.

The smallest complete recipe; copy it to start a low-level one. It restores
the scalar `v` from a checkpoint and exports

    obj = hub.load(export_dir)
    obj(inputs, training=False) -> inputs * v     # float32, any shape
    obj.variables == obj.trainable_variables == [v]
    obj.regularization_losses == [l2 * v**2]      # a no-argument tf.function

so that, for the demo checkpoint (v = 2.0, l2 = 0.001),

    layer = hub.KerasLayer(export_dir, trainable=True)
    layer([10., 20.])         # [20., 40.]
    layer.trainable_weights   # [<tf.Variable 2.0>]
    layer.losses              # [0.004]

Usage:
  python export_scripts/mul_export.py --gin_file=configs/mul/my_mul.gin \
      --checkpoint_path=tests/testdata/mul/ckpt --export_dir=/tmp/my_mul

Checkpoint layouts restored: `tf.train.Checkpoint(model=MyMulModel)` (as a
trainer writes it) or a checkpoint whose root is the model itself.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import gin  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from official.hub_export import driver  # pylint: disable=g-import-not-at-top
from official.hub_export import restore  # pylint: disable=g-import-not-at-top
from official.hub_export import spec  # pylint: disable=g-import-not-at-top
from official.hub_export import writer  # pylint: disable=g-import-not-at-top

SPEC = spec.single(
    tf.TensorSpec(None, tf.float32, name='inputs'), 'outputs',
    spec.Output(kind='features', tolerance=0.0,
                description='inputs * v, same shape as the inputs'),
    task='custom')


@gin.configurable
class MyMulModel(writer.Reusable):
  """y = v * x with an L2 penalty on v: the whole reusable API by hand."""

  def __init__(self, l2_regularization=gin.REQUIRED):
    super().__init__()
    self.v = tf.Variable(0.0, name='v')  # Restored from the checkpoint.
    self.variables = [self.v]
    self.trainable_variables = [self.v]
    self.regularization_losses = [tf.function(
        lambda: l2_regularization * self.v**2, input_signature=[])]

  @tf.function
  def __call__(self, inputs, training=False):
    del training  # Same computation in both modes.
    return tf.multiply(inputs, self.v)


def sample_cases():
  """A shape sweep: scalar, batch 1, an odd batch, another rank."""
  rng = np.random.RandomState(0)
  return [spec.Case(np.array([10., 20.], np.float32)),
          spec.Case(rng.normal(size=[1]).astype(np.float32)),
          spec.Case(rng.normal(size=[3, 5]).astype(np.float32)),
          spec.Case(np.float32(1.5))]


def export(ctx: driver.Context):
  model = MyMulModel()
  ctx.restore([restore.Layout('model', model=model),
               restore.Layout('root', root=model)],
              required=model.variables)
  ctx.save('', model, SPEC, sample_cases(),
           reference=lambda case: case.inputs * model.v.numpy())


if __name__ == '__main__':
  driver.run(export, recipe='mul')

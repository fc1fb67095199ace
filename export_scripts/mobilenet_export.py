r"""MobileNet: a feature vector and a logits classifier cut from a trained classifier.

Post-hoc extraction from a Model Garden vision image classifier
(`official.vision` MobileNet backbone + `ClassificationModel`, as the
`mobilenet_imagenet` experiment trains it): the full classifier is rebuilt
and restored strictly, then cut into two reusable SavedModels:

    OUT/feature_vector/   obj(images, training=False) -> [batch, num_features]
                          (the pooled features: the input of the final Dense
                          layer, behind the dropout)
    OUT/classification/   obj(images, training=False) -> [batch, num_classes]
                          LOGITS (apply tf.nn.softmax for probabilities)

Both take float32 images [batch, height, width, 3], RGB in [0, 1], any batch
size and image size (224 by default); the training pipeline's normalization
`(x - MEAN_NORM) / STDDEV_NORM` is inside the graph. `obj.variables` holds
every weight and the batch-norm moving statistics, `obj.trainable_variables`
the trainable ones, `obj.regularization_losses` the task's L2 penalties
(`L2(l2_weight_decay / 2)` on conv and dense kernels). `training=True` runs
batch norm (and dropout, stochastic depth) in training mode.

Usage:
  python export_scripts/mobilenet_export.py \
      --gin_file=configs/mobilenet/mobilenet_v2_100_224.gin \
      --checkpoint_path=CKPT --export_dir=OUT

Checkpoints: Model Garden's trainer (`model=`, `backbone=`, optimizer slots
and global step, which are read past), `tf.train.Checkpoint(model=...)`,
`save_weights`, or a backbone-only `tf.train.Checkpoint(backbone=...)` (then
set EXPORTS = ['feature_vector']; restored through the trainer layout). The shared machinery (cut, normalization,
restore layouts, verification cases) is `official/hub_export/image_models.py`.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from typing import Sequence  # pylint: disable=g-import-not-at-top

import gin  # pylint: disable=g-import-not-at-top

from official.hub_export import driver  # pylint: disable=g-import-not-at-top
from official.hub_export import image_models  # pylint: disable=g-import-not-at-top
from official.hub_export import spec  # pylint: disable=g-import-not-at-top
# Model Garden registers gin configurables on import: import before parsing.
# pylint: disable=g-import-not-at-top,g-bad-import-order
from official.vision.configs import backbones as backbones_cfg
from official.vision.configs import common as common_cfg
from official.vision.configs import image_classification as cls_cfg
from official.vision.modeling.backbones import mobilenet as mobilenet_lib
# pylint: enable=g-import-not-at-top,g-bad-import-order

_HINT = ('Check that MODEL_ID, FILTER_SIZE_SCALE and NUM_CLASSES in the gin '
         'config match the checkpoint (--gin_file/--gin_params) and '
         "--checkpoint_path; a backbone-only checkpoint needs "
         "--gin_params=\"EXPORTS = ['feature_vector']\".")


@gin.configurable
def vision_mobilenet(model_id: str, num_classes: int,
                     filter_size_scale: float = 1.0,
                     finegrain_classification_mode: bool = True,
                     stochastic_depth_drop_rate: float = 0.0,
                     dropout_rate: float = 0.2,
                     add_head_batch_norm: bool = False,
                     norm_momentum: float = 0.997,
                     norm_epsilon: float = 1e-3,
                     l2_weight_decay: float = 1e-5,
                     input_scale: float = 1.0,
                     input_mean: Sequence[float] = gin.REQUIRED,
                     input_std: Sequence[float] = gin.REQUIRED
                     ) -> image_models.Source:
  """Model Garden's vision MobileNet classifier, built by its own classes.

  The arguments are the fields of `ImageClassificationModel`/`MobileNet` in
  `official.vision.configs` (defaults: the `mobilenet_imagenet` experiment);
  `l2_weight_decay` is the task's `losses.l2_weight_decay`.
  `finegrain_classification_mode` is the backbone's constructor argument
  (True in every Model Garden config: the last 1x1 conv keeps its 1280
  filters below width 1.0; tests use False for a tiny model).
  """
  if model_id not in mobilenet_lib.SUPPORTED_SPECS_MAP:
    raise spec.ExportError(
        f'Model Garden has no MobileNet {model_id!r}: set MODEL_ID to one of '
        f'{", ".join(mobilenet_lib.SUPPORTED_SPECS_MAP)}')
  if filter_size_scale <= 0:
    raise spec.ExportError(f'FILTER_SIZE_SCALE {filter_size_scale} must be '
                           'positive (1.0 for the full width)')
  norm = common_cfg.NormActivation(norm_momentum=norm_momentum,
                                   norm_epsilon=norm_epsilon,
                                   use_sync_bn=False)
  # backbones.factory.build_mobilenet, plus finegrain_classification_mode.
  backbone = mobilenet_lib.MobileNet(
      model_id=model_id, filter_size_scale=filter_size_scale,
      input_specs=image_models.input_specs(),
      stochastic_depth_drop_rate=stochastic_depth_drop_rate,
      norm_momentum=norm_momentum, norm_epsilon=norm_epsilon,
      kernel_regularizer=image_models.vision_l2(l2_weight_decay),
      finegrain_classification_mode=finegrain_classification_mode)
  config = cls_cfg.ImageClassificationModel(
      num_classes=num_classes, dropout_rate=dropout_rate,
      add_head_batch_norm=add_head_batch_norm, norm_activation=norm,
      backbone=backbones_cfg.Backbone(
          type='mobilenet', mobilenet=backbones_cfg.MobileNet(
              model_id=model_id, filter_size_scale=filter_size_scale,
              stochastic_depth_drop_rate=stochastic_depth_drop_rate)))
  model = image_models.vision_classifier(config, l2_weight_decay, backbone)
  return image_models.Source('vision', model, image_models.vision_layouts(model),
                             input_scale, input_mean, input_std,
                             configurable='vision_mobilenet')


@spec.export_options('mobilenet')
class Options(image_models.ClassifierOptions):
  """The export choices (configs/mobilenet/base.gin binds each to a macro).

  Attributes (besides `image_models.ClassifierOptions`'):
    model_id: Model Garden's MobileNet id, e.g. 'MobileNetV2'.
    filter_size_scale: the width multiplier (alpha), e.g. 1.0.
  """
  model_id: str = gin.REQUIRED
  filter_size_scale: float = gin.REQUIRED

  def __post_init__(self):
    super().__post_init__()
    self.require('model_id', isinstance(self.model_id, str),
                 "a Model Garden MobileNet id, e.g. 'MobileNetV2'")
    self.require('filter_size_scale',
                 spec.is_number(self.filter_size_scale) and
                 self.filter_size_scale > 0, 'a positive number, e.g. 1.0')


def export(ctx: driver.Context):
  opts = Options()
  build = lambda: vision_mobilenet(  # pylint: disable=g-long-lambda
      model_id=opts.model_id, num_classes=opts.num_classes,
      filter_size_scale=opts.filter_size_scale)
  image_models.export_classifier(ctx, build, opts, hint=_HINT)


if __name__ == '__main__':
  driver.run(export, recipe='mobilenet')

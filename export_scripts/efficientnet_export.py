r"""EfficientNet: a feature vector and a logits classifier cut from a trained classifier.

Post-hoc extraction from a Model Garden vision image classifier
(`official.vision` EfficientNet backbone + `ClassificationModel`, built by
`factory.build_classification_model`): the full classifier is rebuilt and
restored strictly, then cut into two reusable SavedModels (TF Hub's
`efficientnet/b*/feature-vector` and `/classification` API):

    OUT/feature_vector/   obj(images, training=False) -> [batch, num_features]
                          (the pooled features: the input of the final Dense
                          layer, behind the dropout; 1280 for B0)
    OUT/classification/   obj(images, training=False) -> [batch, num_classes]
                          LOGITS (apply tf.nn.softmax for probabilities)

Both take float32 images [batch, height, width, 3], RGB in [0, 1], any batch
size and image size (IMAGE_SIZE, 224 for B0 to 600 for B7, is the documented
one); the training pipeline's `(x - MEAN_NORM) / STDDEV_NORM` is inside the
graph. `obj.variables`, `obj.trainable_variables` and
`obj.regularization_losses` (`L2(l2_weight_decay / 2)` on conv and dense
kernels) are those of the restored classifier; `training=True` runs batch
norm, dropout and stochastic depth in training mode.

Usage:
  python export_scripts/efficientnet_export.py \
      --gin_file=configs/efficientnet/efficientnet_b0.gin \
      --checkpoint_path=CKPT --export_dir=OUT

Checkpoints: Model Garden's trainer (`model=`, `backbone=`, optimizer slots
and global step read past), `tf.train.Checkpoint(model=...)`, `save_weights`,
or a backbone-only `tf.train.Checkpoint(backbone=...)` (with
EXPORTS = ['feature_vector']). The shared machinery (cut, normalization,
layouts, verification cases) is `official/hub_export/image_models.py`.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from typing import Optional, Sequence  # pylint: disable=g-import-not-at-top
from unittest import mock  # pylint: disable=g-import-not-at-top

import gin  # pylint: disable=g-import-not-at-top

from official.hub_export import driver  # pylint: disable=g-import-not-at-top
from official.hub_export import image_models  # pylint: disable=g-import-not-at-top
from official.hub_export import spec  # pylint: disable=g-import-not-at-top
# Model Garden registers gin configurables on import: import before parsing.
# pylint: disable=g-import-not-at-top,g-bad-import-order
from official.vision.configs import backbones as backbones_cfg
from official.vision.configs import common as common_cfg
from official.vision.configs import image_classification as cls_cfg
from official.vision.modeling.backbones import efficientnet as efficientnet_lib
# pylint: enable=g-import-not-at-top,g-bad-import-order

_HINT = ('Check that MODEL_ID (and WIDTH_SCALE/DEPTH_SCALE if set) and '
         'NUM_CLASSES in the gin config match the checkpoint (--gin_file/'
         '--gin_params) and --checkpoint_path.')


@gin.configurable
def vision_efficientnet(model_id: str, num_classes: int,
                        width_scale: Optional[float] = None,
                        depth_scale: Optional[float] = None,
                        se_ratio: float = 0.25, activation: str = 'swish',
                        stochastic_depth_drop_rate: float = 0.2,
                        dropout_rate: float = 0.2,
                        norm_momentum: float = 0.99, norm_epsilon: float = 1e-3,
                        l2_weight_decay: float = 1e-5,
                        input_scale: float = 1.0,
                        input_mean: Sequence[float] = gin.REQUIRED,
                        input_std: Sequence[float] = gin.REQUIRED
                        ) -> image_models.Source:
  """Model Garden's vision EfficientNet classifier, built by its factory.

  The arguments are the fields of `ImageClassificationModel`/`EfficientNet`
  in `official.vision.configs`; `width_scale`/`depth_scale` replace the
  scaling of `model_id` in Model Garden's `SCALING_MAP` (tests use tiny
  ones); `l2_weight_decay` is the task's `losses.l2_weight_decay`.
  """
  if model_id not in efficientnet_lib.SCALING_MAP:
    raise spec.ExportError(
        f'Model Garden has no EfficientNet {model_id!r}: set MODEL_ID to one '
        f'of {", ".join(efficientnet_lib.SCALING_MAP)}')
  scaling = dict(efficientnet_lib.SCALING_MAP[model_id])
  scaling.update({k: v for k, v in (('width_scale', width_scale),
                                    ('depth_scale', depth_scale)) if v})
  config = cls_cfg.ImageClassificationModel(
      num_classes=num_classes, dropout_rate=dropout_rate,
      norm_activation=common_cfg.NormActivation(
          activation=activation, norm_momentum=norm_momentum,
          norm_epsilon=norm_epsilon, use_sync_bn=False),
      backbone=backbones_cfg.Backbone(
          type='efficientnet', efficientnet=backbones_cfg.EfficientNet(
              model_id=model_id, se_ratio=se_ratio,
              stochastic_depth_drop_rate=stochastic_depth_drop_rate)))
  # The backbone reads its scaling from the table by model_id.
  with mock.patch.dict(efficientnet_lib.SCALING_MAP, {model_id: scaling}):
    model = image_models.vision_classifier(config, l2_weight_decay)
  return image_models.Source('vision', model,
                             image_models.vision_layouts(model), input_scale,
                             input_mean, input_std,
                             configurable='vision_efficientnet')


@spec.export_options('efficientnet')
class Options(image_models.ClassifierOptions):
  """The export choices (configs/efficientnet/base.gin binds each to a
  macro).

  Attributes (besides `image_models.ClassifierOptions`'):
    model_id: Model Garden's EfficientNet id, 'b0' to 'b7'.
  """
  model_id: str = gin.REQUIRED

  def __post_init__(self):
    super().__post_init__()
    self.require('model_id', isinstance(self.model_id, str),
                 "an EfficientNet id, 'b0' to 'b7'")


def export(ctx: driver.Context):
  opts = Options()
  build = lambda: vision_efficientnet(model_id=opts.model_id,  # pylint: disable=g-long-lambda
                                      num_classes=opts.num_classes)
  image_models.export_classifier(ctx, build, opts, hint=_HINT)


if __name__ == '__main__':
  driver.run(export, recipe='efficientnet')

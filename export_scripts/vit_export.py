r"""ViT: a feature vector and a logits classifier cut from a trained Vision Transformer.

Post-hoc extraction from a Model Garden vision image classifier
(`official.vision` `vit` backbone + `ClassificationModel`, built by
`factory.build_classification_model` as the `vit_imagenet_*` experiments
train it): the full classifier is rebuilt and restored strictly, then cut
into two reusable SavedModels (TF Hub's ViT feature-vector and image
classifier API):

    OUT/feature_vector/   obj(images, training=False) -> [batch, hidden_size]
                          (the class token after the final layer norm, and
                          the `pre_logits` layer if the model has one: the
                          input of the final Dense layer, behind the dropout)
    OUT/classification/   obj(images, training=False) -> [batch, num_classes]
                          LOGITS (apply tf.nn.softmax for probabilities)

Both take float32 images [batch, IMAGE_SIZE, IMAGE_SIZE, 3], RGB in [0, 1],
any batch size; the image size is fixed (the patch grid and the position
embeddings are built for it: 224 for the published models). The model's own
input normalization (`(x - input_mean) / input_std`, Model Garden's
MEAN_NORM/STDDEV_NORM by default) is inside the graph. `obj.variables`,
`obj.trainable_variables` and `obj.regularization_losses` are those of the
restored classifier; `training=True` runs dropout and stochastic depth.

Usage:
  python export_scripts/vit_export.py --gin_file=configs/vit/vit_b16.gin \
      --checkpoint_path=CKPT --export_dir=OUT

Checkpoints: as for every Model Garden vision classifier (trainer, `model=`,
`save_weights`, backbone-only with EXPORTS = ['feature_vector']); see
`official/hub_export/image_models.py`.
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
from official.vision.configs import image_classification as cls_cfg
from official.vision.modeling.backbones import vit as vit_lib
# pylint: enable=g-import-not-at-top,g-bad-import-order

_HINT = ('Check that MODEL_NAME (and the size overrides if set), '
         'REPRESENTATION_SIZE, NUM_CLASSES and IMAGE_SIZE (the position '
         'embeddings are built for it) in the gin config match the checkpoint '
         '(--gin_file/--gin_params) and --checkpoint_path.')


@gin.configurable
def vision_vit(model_name: str, num_classes: int, image_size: int,
               sizes: Optional[dict] = None, representation_size: int = 0,
               pooler: str = 'token', dropout_rate: float = 0.0,
               attention_dropout_rate: float = 0.0,
               init_stochastic_depth_rate: float = 0.0,
               classifier_dropout_rate: float = 0.0,
               l2_weight_decay: float = 0.0,
               input_scale: float = 1.0,
               input_mean: Sequence[float] = gin.REQUIRED,
               input_std: Sequence[float] = gin.REQUIRED
               ) -> image_models.Source:
  """Model Garden's vision ViT classifier, built by its factory.

  The arguments are the fields of `ImageClassificationModel`/
  `VisionTransformer` in `official.vision.configs`
  (`classifier_dropout_rate` is the model's `dropout_rate`, the others the
  backbone's); `sizes` (`hidden_size`, `patch_size`, `transformer`:
  `mlp_dim`, `num_heads`, `num_layers`) replaces the `VIT_SPECS` entry of
  `model_name` (tests use tiny ones).
  """
  if model_name not in vit_lib.VIT_SPECS:
    raise spec.ExportError(
        f'Model Garden has no ViT {model_name!r}: set MODEL_NAME to one of '
        f'{", ".join(vit_lib.VIT_SPECS)}')
  config = cls_cfg.ImageClassificationModel(
      num_classes=num_classes, dropout_rate=classifier_dropout_rate,
      input_size=[image_size, image_size, 3],
      backbone=backbones_cfg.Backbone(type='vit', vit=backbones_cfg.VisionTransformer(
          model_name=model_name, representation_size=representation_size,
          pooler=pooler, init_stochastic_depth_rate=init_stochastic_depth_rate,
          transformer=backbones_cfg.Transformer(
              dropout_rate=dropout_rate,
              attention_dropout_rate=attention_dropout_rate))))
  # The backbone builder reads its sizes from the table by model_name.
  table = {**vit_lib.VIT_SPECS, model_name: sizes or vit_lib.VIT_SPECS[model_name]}
  with mock.patch.object(vit_lib, 'VIT_SPECS', table):
    model = image_models.vision_classifier(config, l2_weight_decay,
                                           image_size=image_size)
  return image_models.Source('vision', model,
                             image_models.vision_layouts(model), input_scale,
                             input_mean, input_std, configurable='vision_vit')


@spec.export_options('vit')
class Options(image_models.ClassifierOptions):
  """The export choices (configs/vit/base.gin binds each to a macro).

  Attributes (besides `image_models.ClassifierOptions`'):
    model_name: Model Garden's ViT name, e.g. 'vit-b16'. The model takes
      exactly `image_size` (its position embeddings are for that size).
  """
  model_name: str = gin.REQUIRED

  def __post_init__(self):
    super().__post_init__()
    self.require('model_name', isinstance(self.model_name, str),
                 "a Model Garden ViT name, e.g. 'vit-b16'")


def export(ctx: driver.Context):
  opts = Options()
  build = lambda: vision_vit(model_name=opts.model_name,  # pylint: disable=g-long-lambda
                             num_classes=opts.num_classes,
                             image_size=opts.image_size)
  image_models.export_classifier(ctx, build, opts, hint=_HINT, fixed_size=True)


if __name__ == '__main__':
  driver.run(export, recipe='vit')

r"""ResNet: a feature vector and a logits classifier cut from a trained classifier.

Post-hoc extraction: the full trained image classifier is rebuilt and
restored strictly from its checkpoint, then the pieces to share are cut out
of it and exported as two reusable SavedModels:

    OUT/feature_vector/   obj(images, training=False) -> [batch, num_features]
                          (the pooled features: the input of the final Dense
                          layer, behind any dropout)
    OUT/classification/   obj(images, training=False) -> [batch, num_classes]
                          LOGITS (the final Dense layer's output; apply
                          tf.nn.softmax for probabilities)

Both take float32 images [batch, height, width, 3], RGB in [0, 1] (TF Hub's
image convention), any batch size and image size (224 by default); the source
model's own input normalization is part of the exported graph (constants in
the traced function, no Lambda layer), so callers never normalize by hand.
`obj.variables` holds every weight and the batch-norm moving statistics,
`obj.trainable_variables` the trainable ones, and `obj.regularization_losses`
the L2 weight penalties the source used in training (strength from gin).
`training=True` runs batch norm in training mode (and updates its moving
statistics); `hub.KerasLayer(..., trainable=False)` always calls with
`training=False` and changes nothing.

Usage:
  python export_scripts/resnet_export.py \
      --gin_file=configs/resnet/resnet50_imagenet.gin \
      --checkpoint_path=CKPT --export_dir=OUT

Sources (the gin macro SOURCE; 'auto' tells them apart by their checkpoint):
  * 'legacy': Model Garden's Keras ResNet
    (`official.legacy.image_classification.resnet.resnet_model.resnet50`, and
    the same architecture at depths 101 and 152), weights written by
    `model.save_weights` as a TF checkpoint or `.h5`. Inputs are normalized
    as its input pipeline does: `x * 255 - CHANNEL_MEANS`.
  * 'vision': Model Garden's vision image classifier
    (`official.vision` ResNet backbone + `ClassificationModel`, built by
    `official.vision.modeling.factory.build_classification_model`), from a
    checkpoint written by its trainer (`model=`, `backbone=`, optimizer slots
    and global step, which are ignored), `tf.train.Checkpoint(model=...)` or
    `save_weights`. Inputs are normalized as its input pipeline does:
    `(x - MEAN_NORM) / STDDEV_NORM`.

The cut point is found structurally (the input of the final Dense layer,
through any Dropout), so renamed layers do not break it; FEATURE_LAYER names a
layer to cut at instead. The cut, normalization, restore layouts of vision
classifiers and verification cases are shared with the other image recipes:
`official/hub_export/image_models.py`.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from typing import Optional, Sequence  # pylint: disable=g-import-not-at-top

import gin  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top
import tf_keras  # pylint: disable=g-import-not-at-top

from official.hub_export import driver  # pylint: disable=g-import-not-at-top
from official.hub_export import image_models  # pylint: disable=g-import-not-at-top
from official.hub_export import restore  # pylint: disable=g-import-not-at-top
from official.hub_export import spec  # pylint: disable=g-import-not-at-top
# The cut and the normalization, shared with the other image recipes.
from official.hub_export.image_models import Source, cut_features, final_dense, normalizer  # pylint: disable=g-import-not-at-top,g-multiple-import,unused-import
# Model Garden registers gin configurables on import: import before parsing.
# pylint: disable=g-import-not-at-top,g-bad-import-order
from official.vision.configs import backbones as backbones_cfg
from official.vision.configs import common as common_cfg
from official.vision.configs import image_classification as cls_cfg
from official.vision.modeling.backbones import resnet as resnet_lib
# pylint: enable=g-import-not-at-top,g-bad-import-order

SOURCES = ('auto', 'legacy', 'vision')

# Bottleneck blocks per stage of the legacy architecture, by depth.
LEGACY_BLOCKS = {50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}

_HINT = ('Check that DEPTH, NUM_CLASSES and SOURCE in the gin config match '
         'the checkpoint (--gin_file/--gin_params) and --checkpoint_path.')


# ---------------------------------------------------------------------------
# The legacy Keras ResNet (official.legacy.image_classification.resnet).

def _legacy_block(x, filters, stage, block, strides, conv_shortcut, reg,
                  bn_decay, bn_epsilon):
  """`resnet_model.conv_block` / `identity_block`: same layers, same order,
  same names (so TF checkpoints and .h5 files written for them restore)."""
  layers = tf_keras.layers
  f1, f2, f3 = filters
  conv = f'res{stage}{block}_branch'
  bn = f'bn{stage}{block}_branch'
  def conv2d(filters, kernel, name, **kw):
    return layers.Conv2D(filters, kernel, use_bias=False,
                         kernel_initializer='he_normal',
                         kernel_regularizer=reg(), name=name, **kw)
  def norm(name):
    return layers.BatchNormalization(axis=3, momentum=bn_decay,
                                     epsilon=bn_epsilon, name=name)
  y = conv2d(f1, (1, 1), conv + '2a')(x)
  y = norm(bn + '2a')(y)
  y = layers.Activation('relu')(y)
  y = conv2d(f2, 3, conv + '2b', padding='same',
             **({'strides': strides} if conv_shortcut else {}))(y)
  y = norm(bn + '2b')(y)
  y = layers.Activation('relu')(y)
  y = conv2d(f3, (1, 1), conv + '2c')(y)
  y = norm(bn + '2c')(y)
  if conv_shortcut:
    shortcut = conv2d(f3, (1, 1), conv + '1', strides=strides)(x)
    shortcut = norm(bn + '1')(shortcut)
  else:
    shortcut = x
  y = layers.add([y, shortcut])
  return layers.Activation('relu')(y)


@gin.configurable
def legacy_resnet(depth: int, num_classes: int,
                  block_repeats: Optional[Sequence[int]] = None,
                  width_multiplier: float = 1.0,
                  use_l2_regularizer: bool = True,
                  l2_weight_decay: float = 1e-4,
                  batch_norm_decay: float = 0.9,
                  batch_norm_epsilon: float = 1e-5,
                  input_scale: float = 255.0,
                  input_mean: Sequence[float] = gin.REQUIRED,
                  input_std: Sequence[float] = (1.0, 1.0, 1.0)) -> Source:
  """Model Garden's legacy Keras ResNet (v1.5), rebuilt layer for layer.

  At depth 50 this is `resnet_model.resnet50(num_classes,
  use_l2_regularizer, rescale_inputs=False, batch_norm_decay,
  batch_norm_epsilon)` with a dynamic input size (tests check that layer for
  layer); depths 101 and 152 use the same blocks with more repeats.

  Args:
    depth: 50, 101 or 152.
    num_classes: outputs of the final Dense layer (`fc1000`).
    block_repeats: bottleneck blocks per stage, overriding `depth` (tests use
      tiny ones).
    width_multiplier: scales every layer's width (tests use tiny ones).
    use_l2_regularizer: whether training used L2 on the Conv/Dense weights.
    l2_weight_decay: its strength c (the loss is c * sum(w**2), per weight;
      Model Garden's legacy code hard-codes 1e-4).
    batch_norm_decay, batch_norm_epsilon: as in `resnet50()`.
    input_scale, input_mean, input_std: the exported graph computes
      `(images * input_scale - input_mean) / input_std`.
  """
  if block_repeats is None:
    if depth not in LEGACY_BLOCKS:
      raise spec.ExportError(
          f'the legacy ResNet has no depth {depth}: set DEPTH to one of '
          f'{", ".join(map(str, LEGACY_BLOCKS))}')
    block_repeats = LEGACY_BLOCKS[depth]
  layers = tf_keras.layers
  reg = lambda: (tf_keras.regularizers.L2(l2_weight_decay)
                 if use_l2_regularizer else None)
  width = lambda n: max(1, int(n * width_multiplier))
  bn_kw = dict(bn_decay=batch_norm_decay, bn_epsilon=batch_norm_epsilon)

  images = layers.Input(shape=(None, None, 3))
  x = layers.ZeroPadding2D(padding=(3, 3), name='conv1_pad')(images)
  x = layers.Conv2D(width(64), (7, 7), strides=(2, 2), padding='valid',
                    use_bias=False, kernel_initializer='he_normal',
                    kernel_regularizer=reg(), name='conv1')(x)
  x = layers.BatchNormalization(axis=3, momentum=batch_norm_decay,
                                epsilon=batch_norm_epsilon, name='bn_conv1')(x)
  x = layers.Activation('relu')(x)
  x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding='same')(x)
  for i, (repeats, base) in enumerate(zip(block_repeats, [64, 128, 256, 512])):
    stage = i + 2
    filters = [width(base), width(base), width(4 * base)]
    for b in range(repeats):
      name = chr(ord('a') + b) if b < 26 else f'z{b}'
      x = _legacy_block(x, filters, stage, name,
                        strides=(1, 1) if stage == 2 else (2, 2),
                        conv_shortcut=(b == 0), reg=reg, **bn_kw)
  x = layers.GlobalAveragePooling2D()(x)
  x = layers.Dense(
      num_classes,
      kernel_initializer=tf.initializers.random_normal(stddev=0.01),
      kernel_regularizer=reg(), bias_regularizer=reg(), name='fc1000')(x)
  x = layers.Activation('softmax', dtype='float32')(x)
  model = tf_keras.Model(images, x, name=f'resnet{3 * sum(block_repeats) + 2}')
  return Source('legacy', model,
                [restore.Layout('legacy-weights', root=model),
                 restore.Layout('legacy-model', model=model)],
                input_scale, input_mean, input_std,
                configurable='legacy_resnet')


# ---------------------------------------------------------------------------
# The vision image classifier (official.vision).

@gin.configurable
def vision_resnet(depth: int, num_classes: int,
                  depth_multiplier: float = 1.0,
                  stem_type: str = 'v0',
                  resnetd_shortcut: bool = False,
                  replace_stem_max_pool: bool = False,
                  se_ratio: float = 0.0,
                  scale_stem: bool = True,
                  dropout_rate: float = 0.0,
                  add_head_batch_norm: bool = False,
                  norm_momentum: float = 0.9,
                  norm_epsilon: float = 1e-5,
                  l2_weight_decay: float = 1e-4,
                  input_scale: float = 1.0,
                  input_mean: Sequence[float] = gin.REQUIRED,
                  input_std: Sequence[float] = gin.REQUIRED) -> Source:
  """Model Garden's vision ResNet classifier, built by its own factory.

  The arguments are the fields of `ImageClassificationModel`/`ResNet` in
  `official.vision.configs` (defaults: the `resnet_imagenet` experiment);
  `depth` is the backbone's `model_id`. `l2_weight_decay` is the task's
  `losses.l2_weight_decay`: as Model Garden's task does, the model gets
  `L2(l2_weight_decay / 2)` on its conv and dense kernels (0 disables it).
  """
  if depth not in resnet_lib.RESNET_SPECS:
    raise spec.ExportError(
        f'the vision ResNet has no depth (model_id) {depth}: set DEPTH to one '
        f'of {", ".join(map(str, sorted(resnet_lib.RESNET_SPECS)))}')
  config = cls_cfg.ImageClassificationModel(
      num_classes=num_classes,
      backbone=backbones_cfg.Backbone(type='resnet', resnet=backbones_cfg.ResNet(
          model_id=depth, depth_multiplier=depth_multiplier,
          stem_type=stem_type, resnetd_shortcut=resnetd_shortcut,
          replace_stem_max_pool=replace_stem_max_pool, se_ratio=se_ratio,
          scale_stem=scale_stem)),
      dropout_rate=dropout_rate, add_head_batch_norm=add_head_batch_norm,
      norm_activation=common_cfg.NormActivation(
          norm_momentum=norm_momentum, norm_epsilon=norm_epsilon,
          use_sync_bn=False))
  model = image_models.vision_classifier(config, l2_weight_decay)
  return Source('vision', model, image_models.vision_layouts(model),
                input_scale, input_mean, input_std,
                configurable='vision_resnet')


def detect_source(checkpoint_path: str) -> str:
  """'legacy' or 'vision', from the checkpoint's keys (SOURCE = 'auto').

  A `.h5` file is taken for the legacy model (set SOURCE = 'vision' for a
  vision classifier's `save_weights(... .h5)`).
  """
  fmt, path = restore.resolve(checkpoint_path)
  if fmt == 'h5':
    return 'legacy'
  try:
    keys = [k for k, _ in tf.train.list_variables(path)]
  except (tf.errors.OpError, ValueError):
    return 'legacy'  # Unreadable: restore() reports it.
  if any(k.startswith('backbone/') for k in keys) or any(
      k.startswith(('layer_with_weights-0/layer_with_weights-0/',
                    'model/layer_with_weights-0/layer_with_weights-0/'))
      for k in keys):
    return 'vision'  # The backbone is a model nested in the classifier.
  if (restore.value_key('layer_with_weights-0/kernel') in keys or
      restore.value_key('model/layer_with_weights-0/kernel') in keys):
    return 'legacy'  # The first weighted layer is conv1 itself.
  raise spec.ExportError(
      f'cannot tell which ResNet wrote checkpoint {path}: set SOURCE = '
      "'legacy' or 'vision' with --gin_params (its keys start: "
      f'{", ".join(sorted(keys)[:4])})')


@spec.export_options('resnet')
class Options(image_models.ClassifierOptions):
  """The export choices (configs/resnet/base.gin binds each to a macro).

  Attributes (besides `image_models.ClassifierOptions`'):
    source: which model wrote the checkpoint, one of SOURCES: 'legacy'
      (official.legacy Keras ResNet), 'vision' (official.vision classifier)
      or 'auto' (told apart by the checkpoint's keys).
    depth: 50, 101, 152, ... (the ResNet's number of layers).
  """
  source: str = 'auto'
  depth: int = gin.REQUIRED

  def __post_init__(self):
    super().__post_init__()
    self.require('source', self.source in SOURCES,
                 ' or '.join(map(repr, SOURCES)))
    self.require('depth', spec.is_int(self.depth), 'a ResNet depth, e.g. 50')


def build_source(checkpoint_path: str, opts: Options) -> Source:
  kind = opts.source
  if kind == 'auto':
    kind = detect_source(checkpoint_path)
  build = legacy_resnet if kind == 'legacy' else vision_resnet
  return build(depth=opts.depth, num_classes=opts.num_classes)


def export(ctx: driver.Context):
  opts = Options()
  image_models.export_classifier(
      ctx, lambda: build_source(ctx.checkpoint_path, opts), opts, hint=_HINT)


if __name__ == '__main__':
  driver.run(export, recipe='resnet')

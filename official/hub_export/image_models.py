"""Image classifiers cut into a feature vector and a logits classifier.

Model-family library code shared by the image recipes
(`export_scripts/resnet_export.py`, `mobilenet_export.py`,
`efficientnet_export.py`, `vit_export.py`):
everything they have in common once the trained classifier is rebuilt. A
recipe builds its source classifier (a tf_keras functional model ending in a
Dense layer) as a `Source` and calls `export_classifier(ctx, build, ...)`,
which

  * cuts out the pieces to share (post-hoc extraction): the pooled features
    (the input of the final Dense layer, found structurally behind any
    Dropout, or a named layer) and the final Dense layer's logits;
  * restores them strictly (`ctx.restore`, every exported weight required);
  * exports each with the source's input normalization folded into the graph
    (constants, no Lambda layer), so that consumers pass float32 RGB images
    in [0, 1] of any batch size and image size (TF Hub's image API; one
    image size for models built for it, `fixed_size=True`);
  * verifies them on a shape sweep against the restored classifier itself.

Batch-norm momentum/epsilon and the L2 regularizers are whatever the recipe
built into the model (`vision_l2` gives Model Garden vision's convention);
`writer.from_keras` carries them as `regularization_losses`.

Model Garden vision classifiers (`official.vision` backbone +
`ClassificationModel`) are built with `vision_classifier` and restored with
`vision_layouts`: trainer checkpoints (`model=`, `backbone=`, optimizer
slots and step read past), `tf.train.Checkpoint(model=...)`, `save_weights`;
the trainer layout also restores backbone-only checkpoints
(`tf.train.Checkpoint(backbone=...)`, as Model Garden's
`init_checkpoint_modules='backbone'` reads them), enough for the feature
vector.
"""

import dataclasses
import re
from typing import Any, Callable, List, Optional, Sequence

import gin
import numpy as np
import tensorflow as tf
import tf_keras

from official.hub_export import restore
from official.hub_export import spec
from official.hub_export import writer

IMAGES = tf.TensorSpec([None, None, None, 3], tf.float32, name='images')

FEATURE_VECTOR_SPEC = spec.single(
    IMAGES, 'feature_vector',
    spec.Output(kind='features', tolerance=1e-5,
                description='the pooled features (input of the final '
                'layer), no dropout'),
    task='image-feature-vector')

CLASSIFICATION_SPEC = spec.single(
    IMAGES, 'logits',
    spec.Output(kind='logits', tolerance=1e-5,
                description='one score per class (the final Dense layer\'s '
                'output; class indices in the overview);'),
    task='image-classification')

EXPORTS = {'feature_vector': FEATURE_VECTOR_SPEC,
           'classification': CLASSIFICATION_SPEC}


@dataclasses.dataclass(frozen=True)
class ClassifierOptions(spec.Options):
  """The export choices every image recipe has; its `Options` subclass adds
  what it needs to build the model (configs/NAME/base.gin binds each to a
  macro: NUM_CLASSES, EXPORTS, IMAGE_SIZE, FEATURE_LAYER).

  Attributes:
    num_classes: the classifier's number of classes (logits).
    exports: what to write, one or both of EXPORTS: OUT/feature_vector/ and
      OUT/classification/.
    image_size: the size the model was trained at: the documented default
      and the size verification uses (the only size, for models built for
      one).
    feature_layer: None: cut the feature vector at the input of the final
      Dense layer, found structurally (behind any Dropout); a layer name
      overrides that.
  """
  num_classes: int = gin.REQUIRED
  exports: Sequence[str] = tuple(EXPORTS)
  image_size: int = 224
  feature_layer: Optional[str] = None

  def __post_init__(self):
    self.require('num_classes', spec.is_int(self.num_classes),
                 'a positive integer')
    exports = self.exports
    self.require('exports', not isinstance(exports, str) and bool(exports)
                 and all(e in EXPORTS for e in exports),
                 f'one or both of {", ".join(map(repr, EXPORTS))}')
    self.normalize('exports', tuple(exports))
    self.require('image_size', spec.is_int(self.image_size, 16),
                 'an integer >= 16')
    self.require('feature_layer', self.feature_layer is None or (
        isinstance(self.feature_layer, str) and bool(self.feature_layer)),
                 'None or a layer name')


@dataclasses.dataclass
class Source:
  """A rebuilt source classifier: the Keras model, how to restore it, and
  the input normalization its training pipeline applied
  (`(images * input_scale - input_mean) / input_std`). `configurable` names
  the gin configurable that sets the normalization (for error messages)."""
  kind: str
  model: Any
  layouts: List[restore.Layout]
  input_scale: float
  input_mean: Sequence[float]
  input_std: Sequence[float]
  configurable: str = ''


# ---------------------------------------------------------------------------
# Model Garden vision classifiers.

def vision_l2(l2_weight_decay: float):
  """The model regularizer of Model Garden vision's classification task:
  `L2(losses.l2_weight_decay / 2)` on conv and dense kernels (None for 0)."""
  return (tf_keras.regularizers.l2(l2_weight_decay / 2.0) if l2_weight_decay
          else None)


def vision_classifier(model_config, l2_weight_decay: float,
                      backbone: Optional[tf_keras.Model] = None,
                      image_size: Optional[int] = None):
  """`factory.build_classification_model` for an `ImageClassificationModel`
  config, with dynamic batch and image size (`image_size` fixes it) and the
  task's L2 (`vision_l2`); `backbone` replaces the one the config would build
  (built with the same regularizer and input size)."""
  from official.vision.modeling import factory  # pylint: disable=g-import-not-at-top
  return factory.build_classification_model(
      input_specs(image_size), model_config, vision_l2(l2_weight_decay),
      backbone=backbone)


def input_specs(image_size: Optional[int] = None):
  """Model Garden's `input_specs`: dynamic batch, and dynamic image size
  unless `image_size` is given (a ViT's patch grid is fixed at build)."""
  return tf_keras.layers.InputSpec(shape=[None, image_size, image_size, 3])


def fixed_size_exports(image_size: int):
  """EXPORTS for a model built for one image size: `images` is
  [batch, image_size, image_size, 3]."""
  images = tf.TensorSpec([None, image_size, image_size, 3], tf.float32,
                         name='images')
  return {name: dataclasses.replace(s, inputs=images)
          for name, s in EXPORTS.items()}


def vision_layouts(model) -> List[restore.Layout]:
  """Where checkpoints of a vision `ClassificationModel` keep it."""
  return [restore.Layout('vision-trainer', model=model,
                         **model.checkpoint_items),
          restore.Layout('vision-model', model=model),
          restore.Layout('vision-weights', root=model)]


# ---------------------------------------------------------------------------
# Post-hoc extraction.

def _producer(tensor):
  return tensor._keras_history.layer  # pylint: disable=protected-access


def final_dense(model):
  """The Dense layer whose output is the model's (before any activation)."""
  t = model.outputs[0]
  passthrough = (tf_keras.layers.Activation, tf_keras.layers.Softmax)
  layer = _producer(t)
  while isinstance(layer, passthrough):
    t = layer.input
    layer = _producer(t)
  if not isinstance(layer, tf_keras.layers.Dense):
    raise spec.ExportError(
        f'the classifier output comes from {layer.name} '
        f'({type(layer).__name__}), not a Dense layer: check SOURCE')
  return layer


def _candidates(model, dense):
  """Layers before the final Dense layer with [batch, features] outputs."""
  out = []
  for layer in model.layers[:model.layers.index(dense)]:
    shape = getattr(layer.output, 'shape', None)
    if shape is not None and shape.rank == 2:
      out.append(f'{layer.name} (output {shape.as_list()})')
  return out


def cut_features(model, feature_layer: Optional[str]):
  """The pooled-feature tensor of `model`: FEATURE_LAYER's output if named,
  else the input of the final Dense layer, behind any Dropout."""
  dense = final_dense(model)
  if feature_layer:
    names = [l.name for l in model.layers]
    if feature_layer not in names:
      raise spec.ExportError(
          f'feature layer {feature_layer!r} (FEATURE_LAYER) is not in the '
          f'model {model.name}: set FEATURE_LAYER to one of '
          f'{", ".join(_candidates(model, dense)) or "(none)"}, or None to '
          'cut at the input of the final Dense layer')
    layer = model.get_layer(feature_layer)
    if isinstance(layer, tf_keras.layers.Dropout) or layer is dense:
      raise spec.ExportError(
          f'feature layer {feature_layer!r} is a {type(layer).__name__} '
          'layer: the feature vector is the pooled features behind any '
          'dropout; set FEATURE_LAYER to the layer before it or None')
    t = layer.output
    if not hasattr(t, 'shape') or t.shape.rank != 2:
      shape = tf.nest.map_structure(lambda x: x.shape.as_list(), t)
      raise spec.ExportError(
          f'feature layer {feature_layer!r} outputs {shape}, not '
          '[batch, num_features]: set FEATURE_LAYER to one of '
          f'{", ".join(_candidates(model, dense)) or "(none)"}')
    return t
  t = dense.input
  while isinstance(_producer(t), tf_keras.layers.Dropout):
    t = _producer(t).input
  return t


def normalizer(source: Source) -> Callable[[tf.Tensor], tf.Tensor]:
  """images in [0, 1] -> what the source model was trained on (no Lambda:
  constants in the traced graph)."""
  scale = float(source.input_scale)
  mean = np.asarray(source.input_mean, np.float32)
  std = np.asarray(source.input_std, np.float32)
  if mean.shape != (3,) or std.shape != (3,) or np.any(std <= 0):
    name = source.configurable or source.kind
    raise spec.ExportError(
        f'input_mean {mean.tolist()} / input_std {std.tolist()} of the '
        f'{source.kind} model must be 3 values (RGB), std positive: fix '
        f'{name}.input_mean/input_std in the gin config')
  def normalize(images):
    x = tf.convert_to_tensor(images, tf.float32)
    if scale != 1.0:
      x = x * tf.constant(scale, tf.float32)
    x = x - tf.constant(mean)
    if np.any(std != 1.0):
      x = x / tf.constant(std)
    return x
  return normalize


def sample_cases(image_size: int, fixed_size: bool = False):
  """A shape sweep: batch 1 and an odd batch at the configured size, and
  another (odd) size unless the size is fixed."""
  rng = np.random.RandomState(0)
  other = image_size if fixed_size else image_size * 3 // 4 + 1
  def images(n, s):
    return rng.uniform(0, 1, size=[n, s, s, 3]).astype(np.float32)
  return [spec.Case(images(1, image_size)), spec.Case(images(3, image_size)),
          spec.Case(images(2, other))]


# ---------------------------------------------------------------------------
# Fine-tuning controls: tunable batch-norm momentum and variable groups.

BATCH_NORM_MOMENTUM = (
    'decay of the batch-norm moving mean and variance in training mode '
    '(`moving = momentum * moving + (1 - momentum) * batch`); lower it to '
    'adapt the statistics faster to a new data set')


def _leaf_layers(model):
  """Layers in topological order, nested functional models expanded."""
  for layer in model.layers:
    if isinstance(layer, tf_keras.Model) and getattr(
        layer, '_is_graph_network', False):
      yield from _leaf_layers(layer)
    else:
      yield layer


def batch_norm_targets(model):
  """{'batch_norm_momentum': [(BatchNormalization, 'momentum'), ...]}."""
  norms = [l for l in model._flatten_layers(include_self=False)  # pylint: disable=protected-access
           if isinstance(l, (tf_keras.layers.BatchNormalization,
                             tf_keras.layers.experimental.SyncBatchNormalization))]
  return {'batch_norm_momentum': [(l, 'momentum') for l in norms]} if norms \
      else {}


_LEGACY_STAGE = re.compile(r'^(?:res|bn)(\d)[a-z]')
_VISION_STAGE = re.compile(r'^block_group_l(\d+)$')
_VISION_BLOCK = re.compile(r'^block_group_[a-z]+_(\d+)$')


def stage_groups(model):
  """[(name, variables)] bottom to top for a cut of an image classifier.

  ResNets: `stem`, `stage_1` ... `stage_4` (Model Garden's legacy layer
  names `res2a...`/`bn5c...`, or the vision backbone's `block_group_l2..5`
  ends), `head` (what follows: the final Dense layer, any head batch norm).
  MobileNets: `block_0` ... `block_N`, one per block of the vision backbone
  (its `block_group_<type>_<i>` ends), then `head`.
  """
  groups, pending = [], []
  def flush(name):
    variables = [v for l in pending for v in l.weights]
    pending.clear()
    if not variables:
      return
    if groups and groups[-1][0] == name:
      groups[-1][1].extend(variables)
    else:
      groups.append((name, variables))
  for layer in _leaf_layers(model):
    legacy = _LEGACY_STAGE.match(layer.name)
    stage = _VISION_STAGE.match(layer.name)
    block = _VISION_BLOCK.match(layer.name)
    if layer.name in ('conv1', 'bn_conv1'):
      pending.append(layer)
      flush('stem')
    elif legacy:
      flush('stem')
      pending.append(layer)
      flush(f'stage_{int(legacy.group(1)) - 1}')
    elif stage:
      flush(f'stage_{int(stage.group(1)) - 1}')
    elif block:
      flush(f'block_{block.group(1)}')
    elif (type(layer).__name__.endswith('Block') and not groups and
          pending):
      flush('stem')  # The vision ResNet stem ends where its blocks begin.
      pending.append(layer)
    elif layer.weights:
      pending.append(layer)
  flush('head')
  return groups


def export_classifier(ctx, build: Callable[[], Source],
                      opts: ClassifierOptions, hint: str,
                      fixed_size: bool = False) -> None:
  """Builds the source with `build()`, cuts, restores strictly (`hint` is
  the recipe's fix for a mismatch) and saves `opts.exports` (names in
  EXPORTS) into `ctx`, verified at `opts.image_size`.
  `fixed_size`: the model takes only that size (declared in the API)."""
  exports, image_size = opts.exports, opts.image_size
  feature_layer = opts.feature_layer
  # No random initializers (the strict restore fills every weight), no
  # AutoGraph conversion (the writer traces without it).
  with restore.skip_initializers(), writer.no_autograph():
    source = build()
  model = source.model
  dense = final_dense(model)
  parts = {'feature_vector': cut_features(model, feature_layer),
           'classification': dense.output}
  submodels = {name: tf_keras.Model(model.inputs, parts[name],
                                    name=f'{model.name}_{name}')
               for name in exports}
  required = [v for m in submodels.values() for v in m.variables]
  ctx.restore(source.layouts, required=required, hint=hint)

  normalize = normalizer(source)
  # The in-memory source model, for verification: the restored classifier's
  # own layers in inference mode, run as a graph (as in training and
  # serving; eager execution rounds differently, ~1e-7 relative).
  probe = tf_keras.Model(model.inputs, parts)
  cases = sample_cases(int(image_size), fixed_size)
  specs = fixed_size_exports(int(image_size)) if fixed_size else EXPORTS
  run_probe = writer.source_graph(
      lambda images: probe(normalize(images), training=False),
      specs['feature_vector'].inputs)
  def reference(name):
    return lambda case: run_probe(case.inputs)[name]
  for name, submodel in submodels.items():
    # Consumers may set the momentum per call (`batch_norm_momentum=`).
    targets = batch_norm_targets(submodel)
    obj = writer.from_keras(
        submodel, call=writer.tunable_call(_call(submodel, normalize),
                                           targets))
    writer.add_variable_groups(obj, stage_groups(submodel))
    tunables = {n: spec.Tunable(float(getattr(*pairs[0])),
                                BATCH_NORM_MOMENTUM, 'batch_norm_momentum')
                for n, pairs in targets.items()}
    ctx.save(name, obj, dataclasses.replace(
        specs[name], tunables=tunables, variable_groups=True),
             cases, reference(name))


def _call(submodel, normalize):
  def call(images, training=False):
    return submodel(normalize(images), training=training)
  return call

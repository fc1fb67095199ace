"""Direct tests of official/hub_export/image_models.py (no command line).

On a tiny Model Garden vision classifier (ResNet-10 at 1/8 width, dropout
before the final layer) built by `image_models.vision_classifier`: the cut,
the folded normalization against Model Garden's own input pipeline, the
checkpoint layouts, the fixed-size API, batch norm in and out of training
and the errors `export_classifier` raises before anything is written.
"""
import numpy as np
import pytest
import tensorflow as tf

import image_family
from official.hub_export import image_models
from official.hub_export import restore
from official.hub_export import spec

MEAN, STD = image_family.MEAN, image_family.STD


def _source(dropout_rate=0.5, seed=2):
  from official.vision.configs import backbones as backbones_cfg  # pylint: disable=g-import-not-at-top
  from official.vision.configs import image_classification as cls_cfg  # pylint: disable=g-import-not-at-top
  config = cls_cfg.ImageClassificationModel(
      num_classes=5, dropout_rate=dropout_rate,
      backbone=backbones_cfg.Backbone(type='resnet', resnet=backbones_cfg.ResNet(
          model_id=10, depth_multiplier=0.125)))
  model = image_models.vision_classifier(config, 1e-4)
  if seed is not None:
    image_family.randomize(model, seed=seed, size=32)
  return image_models.Source('vision', model,
                             image_models.vision_layouts(model), 1.0, MEAN,
                             STD)


class _Context:
  """What export_classifier needs of driver.Context, keeping the saved
  objects in memory (nothing is written)."""

  def __init__(self, checkpoint_path):
    self.checkpoint_path = checkpoint_path
    self.saved = {}
    self.report = None

  def restore(self, layouts, required, **kwargs):
    self.report = restore.restore(self.checkpoint_path, layouts, required,
                                  **kwargs)
    return self.report

  def save(self, name, obj, export_spec, cases, reference):
    self.saved[name] = (obj, export_spec, cases, reference)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """A source and its checkpoints in each layout Model Garden writes."""
  src = _source()
  d = tmp_path_factory.mktemp('layouts')
  m = src.model
  paths = {
      'vision-trainer': image_family.save_trainer_checkpoint(
          m, str(d / 'trainer')),
      'vision-model': tf.train.Checkpoint(model=m).write(str(d / 'model')),
      'vision-weights': str(d / 'weights' / 'w'),
      'backbone': tf.train.Checkpoint(backbone=m.backbone).write(
          str(d / 'backbone'))}
  m.save_weights(paths['vision-weights'])
  return src, paths


def _export(path, exports=image_family.EXPORTS, build=None,
            fixed_size=False, **kw):
  ctx = _Context(path)
  kw.setdefault('image_size', 32)
  kw.setdefault('num_classes', 5)
  opts = image_models.ClassifierOptions(exports=exports, **kw)
  image_models.export_classifier(
      ctx, build or (lambda: _source(seed=None)), opts, hint='HINT',
      fixed_size=fixed_size)
  return ctx


def test_cut_is_found_structurally_behind_dropout_or_by_name():
  import tf_keras  # pylint: disable=g-import-not-at-top
  model = _source(seed=None).model
  cut = image_models.cut_features(model, None)
  assert isinstance(cut._keras_history.layer,  # pylint: disable=protected-access
                    tf_keras.layers.GlobalAveragePooling2D)
  pool = [l.name for l in model.layers
          if isinstance(l, tf_keras.layers.GlobalAveragePooling2D)][0]
  assert image_models.cut_features(model, pool) is cut
  dropout = [l.name for l in model.layers
             if isinstance(l, tf_keras.layers.Dropout)][0]
  with pytest.raises(spec.ExportError, match='behind any dropout'):
    image_models.cut_features(model, dropout)
  with pytest.raises(spec.ExportError, match=r'not \[batch, num_features\]'):
    image_models.cut_features(model, model.layers[1].name)
  with pytest.raises(spec.ExportError, match=rf"'avg_pool'.*{pool} \(output "
                     r'\[None, 64\]\)'):
    image_models.cut_features(model, 'avg_pool')
  assert image_models.final_dense(model).output.shape.as_list() == [None, 5]
  # A softmax after the Dense layer is looked through; a non-Dense end is not.
  probs = tf_keras.Model(model.inputs, tf_keras.layers.Softmax()(model.output))
  assert image_models.final_dense(probs) is image_models.final_dense(model)
  pooled = tf_keras.Model(model.inputs, cut)
  with pytest.raises(spec.ExportError, match='not a Dense layer'):
    image_models.final_dense(pooled)


def test_folded_normalization_equals_model_garden_input_pipeline():
  from official.vision.ops import preprocess_ops  # pylint: disable=g-import-not-at-top
  from official.legacy.image_classification.resnet import imagenet_preprocessing  # pylint: disable=g-import-not-at-top
  x = image_family.images(2, 8)
  vision = image_models.normalizer(_source(seed=None))
  np.testing.assert_allclose(
      vision(x), preprocess_ops.normalize_scaled_float_image(
          tf.constant(x), preprocess_ops.MEAN_NORM, preprocess_ops.STDDEV_NORM),
      rtol=1e-6)
  legacy = image_models.normalizer(image_models.Source(
      'legacy', None, [], 255.0, imagenet_preprocessing.CHANNEL_MEANS,
      [1.0] * 3))
  np.testing.assert_allclose(
      legacy(x), x * 255.0 - np.float32(imagenet_preprocessing.CHANNEL_MEANS),
      rtol=1e-6)
  for mean, std in (([0.5] * 2, STD), (MEAN, [0.2, 0.0, 0.2])):
    with pytest.raises(spec.ExportError, match='3 values.*fix x.input_mean'):
      image_models.normalizer(image_models.Source('vision', None, [], 1.0,
                                                  mean, std, 'x'))


@pytest.mark.parametrize('layout', ['vision-trainer', 'vision-model',
                                    'vision-weights'])
def test_every_layout_restores_and_exports_the_source(trained, layout):
  """Each export computes the source classifier on normalized images: the
  logits and the pooled features (not the dropout's output)."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  src, paths = trained
  ctx = _export(paths[layout])
  assert ctx.report.layout == layout
  model = src.model
  pooled = image_models.cut_features(model, None)
  both = tf_keras.Model(model.inputs, [model.output, pooled])
  x = image_family.images(3, 40)
  want = tf.function(lambda t: both(t, training=False))(
      image_family.vision_normalize(x))
  for name, w in zip(('classification', 'feature_vector'), want):
    obj, export_spec, cases, _ = ctx.saved[name]
    np.testing.assert_allclose(obj.__call__(x, training=False), w, rtol=1e-5,
                               atol=1e-5)
    assert export_spec.inputs.shape.as_list() == [None, None, None, 3]
    assert [c.inputs.shape for c in cases] == [(1, 32, 32, 3), (3, 32, 32, 3),
                                               (2, 25, 25, 3)]


def test_backbone_only_checkpoint_gives_the_feature_vector(trained):
  paths = trained[1]
  ctx = _export(paths['backbone'], exports=['feature_vector'])
  assert ctx.report.layout == 'vision-trainer' and ctx.report.ignored_values == 0
  with pytest.raises(spec.ExportError, match='HINT'):
    _export(paths['backbone'])  # The classifier's Dense layer is not in it.
  x = image_family.images(2, 32)
  ours = ctx.saved["feature_vector"][0].__call__(x)
  ref = _export(paths['vision-model']).saved['feature_vector'][3]
  np.testing.assert_allclose(ours, ref(spec.Case(x)), rtol=1e-6, atol=1e-6)


def test_fixed_size_api(trained):
  ctx = _export(trained[1]['vision-model'], fixed_size=True, image_size=32)
  assert sorted(ctx.saved) == sorted(image_models.EXPORTS)
  for name, (_, export_spec, cases, _) in ctx.saved.items():
    assert export_spec.inputs.shape.as_list() == [None, 32, 32, 3]
    assert export_spec.outputs == image_models.EXPORTS[name].outputs
    assert {c.inputs.shape[1:] for c in cases} == {(32, 32, 3)}


@pytest.mark.parametrize('kwargs,fragment', [
    (dict(exports=['logits']), r"exports = \['logits'\] is invalid: use "
     "one or both of 'feature_vector', 'classification'"),
    (dict(exports=[]), r'exports = \[\] is invalid'),
    (dict(image_size=8), 'image_size = 8 is invalid: use an integer >= 16'),
    (dict(num_classes=0), 'num_classes = 0 is invalid'),
    (dict(feature_layer='nope'), "feature layer 'nope'")])
def test_export_choices_are_checked(trained, kwargs, fragment):
  with pytest.raises(spec.ExportError, match=fragment):
    _export(trained[1]['vision-model'], **kwargs)


def test_batch_norm_frozen_unless_training(trained):
  """training=False (what hub.KerasLayer(trainable=False) always passes)
  leaves the moving statistics; training=True updates them."""
  ctx = _export(trained[1]['vision-model'], exports=['feature_vector'])
  obj = ctx.saved['feature_vector'][0]
  stats = [v for v in obj.variables if 'moving_mean' in v.name]
  before = [v.numpy().copy() for v in stats]
  assert stats
  obj.__call__(image_family.images(4, 32), training=False)
  assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, stats))
  obj.__call__(image_family.images(4, 32), training=True)
  assert all(not np.array_equal(b, v.numpy()) for b, v in zip(before, stats))


def test_l2_is_model_garden_task_s(trained):
  """The export carries the L2 of Model Garden's classification task
  (`L2(l2_weight_decay / 2)` on conv and dense kernels), one loss each."""
  from official.vision.tasks import image_classification as task_lib  # pylint: disable=g-import-not-at-top
  params = image_family.experiment('resnet_imagenet', dict(
      num_classes=5, dropout_rate=0.5, backbone={'resnet': {
          'model_id': 10, 'depth_multiplier': 0.125}}))
  assert params.task.losses.l2_weight_decay == 1e-4  # As _source builds.
  task_model = task_lib.ImageClassificationTask(params.task).build_model()
  task_model.set_weights(trained[0].model.get_weights())
  ctx = _export(trained[1]['vision-model'], exports=['classification'])
  obj = ctx.saved['classification'][0]
  assert len(obj.regularization_losses) == len(task_model.losses) > 10
  np.testing.assert_allclose(
      sum(float(f()) for f in obj.regularization_losses),
      float(tf.add_n(task_model.losses)), rtol=1e-5)

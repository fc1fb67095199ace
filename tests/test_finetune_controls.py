"""Fine-tuning controls on tiny hand-built models: tunable hyper-parameters
(`writer.tunable_call`) and variable groups (`writer.add_variable_groups`),
written by the writer, reloaded as a consumer does, and checked by the
checker's `finetune` checks, which must also FAIL on broken exports.

The recipes' own exports (BERT, ALBERT, ResNet, MobileNet) run these checks
on every export; their tests fine-tune the top groups with the model card's
snippets.
"""
import collections
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub
import tf_keras

from official.hub_export import spec as spec_lib
from official.hub_export import writer
from official.hub_export.checker import finetune
from official.hub_export.checker import report

X = np.random.RandomState(0).normal(size=[16, 6]).astype(np.float32)
DEFAULTS = {'dropout': 0.25, 'batch_norm_momentum': 0.9}
NAMES = {'dropout': 'dropout_rate', 'batch_norm_momentum':
         'batch_norm_momentum'}


def _model(kind):
  inputs = tf_keras.Input([6])
  h = tf_keras.layers.Dense(32, name='lower')(inputs)
  if kind == 'dropout':
    h = tf_keras.layers.Dropout(DEFAULTS[kind], name='drop')(h)
  else:
    h = tf_keras.layers.BatchNormalization(momentum=DEFAULTS[kind],
                                           name='norm')(h)
  out = tf_keras.layers.Dense(4, name='upper')(h)
  return tf_keras.Model(inputs, out)


def _spec(kind, **kw):
  return spec_lib.single(
      tf.TensorSpec([None, 6], tf.float32, name='x'), 'y',
      spec_lib.Output('features', 1e-5), variable_groups=True,
      tunables={NAMES[kind]: spec_lib.Tunable(DEFAULTS[kind], 'what', kind)},
      **kw)


def _export(path, kind, broken=None):
  """Writes a tiny model with one tunable; `broken` makes one mistake."""
  model = _model(kind)
  layer = model.get_layer('drop' if kind == 'dropout' else 'norm')
  attr = 'rate' if kind == 'dropout' else 'momentum'
  targets = {NAMES[kind]: [(layer, attr)]}
  if broken == 'ignored':  # The value goes to a layer the model never runs.
    stray = (tf_keras.layers.Dropout(DEFAULTS[kind]) if kind == 'dropout'
             else tf_keras.layers.BatchNormalization(momentum=DEFAULTS[kind]))
    targets = {NAMES[kind]: [(stray, attr)]}

  def call(x, training=False):
    y = model(x, training=training)
    if broken == 'inference':  # The value leaks into inference.
      y = y * (1.0 + tf.cast(getattr(layer, attr), tf.float32))
    return y

  obj = writer.from_keras(model, call=writer.tunable_call(call, targets))
  groups = [('lower', model.get_layer('lower').variables),
            ('upper', model.get_layer('upper').variables)]
  if kind != 'dropout':
    groups.insert(1, ('norm', layer.variables))
  writer.add_variable_groups(obj, groups)
  if broken == 'groups':  # A trainable variable in no group.
    obj.variable_groups = obj.variable_groups[1:]
  spec = _spec(kind)
  if broken == 'baked':  # A training=True trace with the value a constant
    # (made on the __call__ that write() keeps: its half-float dispatch).
    writer._half_precision_dispatch(obj, spec)  # pylint: disable=protected-access
    obj.__call__.get_concrete_function(
        tf.TensorSpec([None, 6], tf.float32, name='x'), training=True)
  writer.write(obj, path, spec)
  return model


def _check(path, kind, spec_json=None):
  obj = hub.load(path)
  spec_json = spec_json or _spec(kind).to_json()
  cases = [{'inputs': tf.constant(X), 'kwargs': {}, 'target': ''}]
  r = report.Report()
  finetune.check_tunables(r, path, obj, spec_json, cases)
  finetune.check_keras_layer_arguments(r, obj, spec_json, cases)
  finetune.check_variable_groups(r, obj, 'root', spec_json)
  return r


def _failed(r):
  return [c['name'] for c in r.checks if c['status'] == report.FAIL]


@pytest.fixture(scope='module', params=['dropout', 'batch_norm_momentum'])
def good(request, tmp_path_factory):
  path = str(tmp_path_factory.mktemp('good') / request.param)
  model = _export(path, request.param)
  return request.param, path, model


def test_tunable_export_passes_every_check(good):
  kind, path, _ = good
  r = _check(path, kind)
  assert not _failed(r), list(r.lines())
  names = [c['name'] for c in r.checks]
  assert f'tunable {NAMES[kind]} defaults to the trained value' in names
  assert 'hub.KerasLayer(arguments=tunables) training=True' in names
  assert 'root.variable_groups partition the variables' in names
  if kind == 'dropout':
    assert 'dropout omitted acts as the trained rates passed explicitly' in names
  else:
    assert (f'{kind} omitted equals the trained value bit for bit' in names)


def test_one_trace_per_training_value(tmp_path):
  """Tunables are tensor inputs of the two traces, not a retrace per value."""
  model = _model('dropout')
  traced = []
  def model_call(x, training=False):
    traced.append(training)  # Python runs once per trace.
    return model(x, training=training)
  call = writer.tunable_call(
      model_call, {'dropout_rate': [(model.get_layer('drop'), 'rate')]})
  obj = writer.from_keras(model, call=call)
  writer.add_variable_groups(obj, [('all', model.variables)])
  writer.write(obj, str(tmp_path / 'm'), _spec('dropout'))
  assert sorted(traced) == [False, True]
  loaded = hub.load(str(tmp_path / 'm'))
  float32 = [f for f in loaded.__call__.concrete_functions
             if f.structured_input_signature[0][0].dtype == tf.float32]
  assert len(float32) == 2  # (Half-float inputs: thin casts onto these.)


@pytest.mark.parametrize('shape', [[None, 6], [None, 2, 2, 6]],
                         ids=['2d', 'fused_4d'])
def test_tensor_momentum_costs_one_update_op_per_statistic(shape):
  """A traced momentum updates each moving statistic with one
  ResourceApplyGradientDescent (tf_keras alone builds five ops each), with
  tf_keras's own arithmetic, and leaves the layer as it was."""
  inputs = tf_keras.Input(shape[1:])
  model = tf_keras.Model(inputs, tf_keras.layers.BatchNormalization(
      momentum=0.9, name='norm')(inputs))
  norm = model.get_layer('norm')
  ref = tf_keras.models.clone_model(model)
  x = tf.constant(np.random.RandomState(1).normal(
      size=[8] + shape[1:]).astype(np.float32))
  call = tf.function(writer.tunable_call(
      lambda v, training=False: model(v, training=training),
      {'batch_norm_momentum': [(norm, 'momentum')]}), autograph=False)
  graph = call.get_concrete_function(
      tf.TensorSpec(shape, tf.float32), training=True,
      batch_norm_momentum=tf.TensorSpec([], tf.float32)).graph
  types = collections.Counter(op.type for op in graph.get_operations())
  assert types['ResourceApplyGradientDescent'] == 2, types
  assert not types['AssignSubVariableOp'], types
  assert '_assign_moving_average' not in vars(norm) and norm.momentum == 0.9
  call(x, training=True, batch_norm_momentum=tf.constant(0.7))
  ref.get_layer('norm').momentum = tf.constant(0.7)
  tf.function(lambda v: ref(v, training=True), autograph=False)(x)
  for ours, theirs in zip(norm.non_trainable_weights,
                          ref.get_layer('norm').non_trainable_weights):
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
  assert not np.array_equal(norm.moving_mean.numpy(), np.zeros(shape[-1]))


def test_python_floats_after_hub_load_and_through_keras_layer(good):
  """A Python float (what `arguments=` passes) is matched against the traced
  float32 scalar: rate 0 turns dropout off in training mode; a momentum
  changes how far one training step moves the moving mean."""
  kind, path, _ = good
  obj = hub.load(path)
  x = tf.constant(X)
  infer = obj(x, training=False).numpy()
  if kind == 'dropout':
    np.testing.assert_array_equal(obj(x, training=True, dropout_rate=0.0),
                                  infer)
    assert not np.array_equal(obj(x, training=True, dropout_rate=0.6), infer)
    layer = hub.KerasLayer(path, trainable=True,
                           arguments=dict(dropout_rate=0.0))
    np.testing.assert_array_equal(layer(x, training=True), infer)
  else:
    mean = [v for v in obj.variables if 'moving_mean' in v.name][0]
    start = mean.numpy()
    obj(x, training=True, batch_norm_momentum=0.5)
    step = mean.numpy() - start
    mean.assign(start)
    obj(x, training=True)  # The trained 0.9.
    np.testing.assert_allclose(step, (mean.numpy() - start) * 5, rtol=1e-4,
                               atol=1e-6)
    layer = hub.KerasLayer(path, trainable=True,
                           arguments=dict(batch_norm_momentum=0.0))
    np.testing.assert_allclose(layer(x, training=False), infer, atol=1e-6)
    layer(x, training=True)  # Momentum 0: the moving mean is the batch's.
    lmean = [v for v in layer.non_trainable_weights
             if 'moving_mean' in v.name][0]
    kernel, bias = [[v for v in layer.trainable_weights if n in v.name][0]
                    for n in ('lower/kernel', 'lower/bias')]
    np.testing.assert_allclose(
        lmean.numpy(), (X @ kernel.numpy() + bias.numpy()).mean(0),
        rtol=1e-4, atol=1e-5)


def test_variable_groups_survive_save_and_load_in_order(good):
  kind, path, model = good
  obj = hub.load(path)
  names = [g.name.numpy().decode() for g in obj.variable_groups]
  assert names == (['lower', 'upper'] if kind == 'dropout'
                   else ['lower', 'norm', 'upper'])
  ids = {id(v) for v in obj.trainable_variables}
  for g, name in zip(obj.variable_groups, names):
    want = [v.name for v in model.get_layer(name).variables]
    assert [v.name for v in g.variables] == want
    assert all(id(v) in ids for v in g.trainable_variables)


def test_objects_with_the_same_group_share_one_saved_group(tmp_path):
  """BERT's `.mlm` has the encoder's groups plus its head: the shared ones
  are saved once (one name variable each) and load as one object."""
  model = _model('dropout')
  lower, upper = (model.get_layer(n).variables for n in ('lower', 'upper'))
  encoder, head = writer.from_keras(model), writer.from_keras(model)
  writer.add_variable_groups(encoder, [('lower', lower), ('upper', upper)])
  writer.add_variable_groups(head, [('lower', lower), ('top', upper)])
  assert encoder.variable_groups[0] is head.variable_groups[0]
  assert encoder.variable_groups[1] is not head.variable_groups[1]
  root = tf.Module()
  root.encoder, root.head = encoder, head
  tf.saved_model.save(root, str(tmp_path / 'm'))
  loaded = tf.saved_model.load(str(tmp_path / 'm'))
  assert loaded.encoder.variable_groups[0] is loaded.head.variable_groups[0]
  names = [g.name.numpy().decode() for g in loaded.head.variable_groups]
  assert names == ['lower', 'top']
  saved = [n for n, _ in tf.train.list_variables(str(tmp_path / 'm' /
                                                     'variables' / 'variables'))
           if 'name/.ATTRIBUTES' in n]
  assert len(saved) == 3, saved


@pytest.mark.parametrize('kind,broken,fails', [
    ('dropout', 'ignored', ['dropout_rate=0.5 changes training=True outputs']),
    ('batch_norm_momentum', 'ignored',
     ['batch_norm_momentum=0.5 changes the moving-statistics update']),
    ('dropout', 'inference', ['tunables leave training=False unchanged']),
    ('batch_norm_momentum', 'inference',
     ['tunables leave training=False unchanged']),
    ('dropout', 'baked',
     ['tunable dropout_rate is an input of every training=True trace']),
    ('batch_norm_momentum', 'groups',
     ['root.variable_groups partition the variables']),
])
def test_checks_fail_on_broken_exports(kind, broken, fails, tmp_path):
  path = str(tmp_path / 'm')
  _export(path, kind, broken)
  failed = _failed(_check(path, kind))
  for name in fails:
    assert name in failed, failed


def test_check_fails_when_declared_default_differs(good):
  kind, path, _ = good
  spec_json = _spec(kind).to_json()
  spec_json['tunables'][NAMES[kind]]['default'] = 0.5
  assert (f'tunable {NAMES[kind]} defaults to the trained value'
          in _failed(_check(path, kind, spec_json)))


def test_writer_refuses_inconsistent_declarations(tmp_path):
  model = _model('dropout')
  drop = model.get_layer('drop')
  other = tf_keras.layers.Dropout(0.5)
  with pytest.raises(ValueError, match='different values'):
    writer.tunable_call(lambda x, training=False: model(x),
                        {'dropout_rate': [(drop, 'rate'), (other, 'rate')]})
  call = writer.tunable_call(lambda x, training=False: model(x),
                             {'dropout_rate': [(drop, 'rate')]})
  obj = writer.from_keras(model, call=call)
  with pytest.raises(ValueError, match='not in any|in no variable group'):
    writer.add_variable_groups(obj, [('lower', model.get_layer(
        'lower').variables)])
  wrong = spec_lib.single(
      tf.TensorSpec([None, 6], tf.float32, name='x'), 'y',
      spec_lib.Output('features', 1e-5),
      tunables={'dropout_rate': spec_lib.Tunable(0.1, 'what', 'dropout')})
  with pytest.raises(ValueError, match='declared with default 0.1'):
    writer.write(obj, str(tmp_path / 'a'), wrong)
  assert not os.path.exists(tmp_path / 'a')
  with pytest.raises(TypeError, match='variable_groups'):
    writer.write(obj, str(tmp_path / 'b'), _spec('dropout'))


def test_keras3_training_endpoint_forwards_tunables(tmp_path):
  """The writer's Keras 3 training endpoint (`call_training`) takes the
  tunable values as `__call__` does, and adds no trace of the model."""
  model = _model('dropout')
  traced = []
  def model_call(x, training=False):
    traced.append(training)
    return model(x, training=training)
  call = writer.tunable_call(
      model_call, {'dropout_rate': [(model.get_layer('drop'), 'rate')]})
  obj = writer.from_keras(model, call=call)
  writer.add_variable_groups(obj, [('all', model.variables)])
  writer.write(obj, str(tmp_path / 'm'), _spec('dropout'))
  assert sorted(traced) == [False, True]
  loaded = hub.load(str(tmp_path / 'm'))
  x = tf.constant(X)
  infer = loaded(x, training=False).numpy()
  np.testing.assert_array_equal(loaded.call_training(x, dropout_rate=0.0),
                                infer)
  assert not np.array_equal(loaded.call_training(x, dropout_rate=0.9), infer)
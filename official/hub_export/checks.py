"""Consumer-side checks of a reusable SavedModel: where exports are verified.

This file deliberately imports nothing from this repository: the export
drivers run it in a fresh process (`python -I checks.py ...`) so that the
SavedModel is loaded exactly as a consumer would load it, with only
TensorFlow, TF Hub and tf_keras available.

    python -I official/hub_export/checks.py --saved_model=DIR \
        --spec=spec.json --cases=cases.npz --output=result.json

`spec.json` is `ExportSpec.to_json()`; `cases.npz` holds sample inputs and the
in-memory source model's outputs for them (written by `verify.py`). Each check
yields a line `PASS|WARN|FAIL name: value`; any FAIL fails the export.
"""

import argparse
import json
import math
import os
import re
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

PASS, WARN, FAIL = 'PASS', 'WARN', 'FAIL'


# --------------------------------------------------------------------------
# Nested structures <-> flat arrays (the cases file format).

def as_array(v):
  a = np.asarray(v)
  if a.dtype == object:  # tf.string -> fixed-width bytes (no pickle needed).
    a = a.astype(bytes)
  return a


def flatten(x, prefix=''):
  """Returns (structure, {path: np.ndarray}) for dicts/lists/(ragged) tensors."""
  arrays = {}
  def rec(v, path):
    if isinstance(v, dict):
      return {'dict': {k: rec(v[k], f'{path}/{k}') for k in sorted(v)}}
    if isinstance(v, (list, tuple)):
      return {'list': [rec(e, f'{path}/{i}') for i, e in enumerate(v)]}
    if isinstance(v, tf.RaggedTensor):
      arrays[path + '#values'] = as_array(v.flat_values)
      splits = v.nested_row_splits
      for i, sp in enumerate(splits):
        arrays[f'{path}#splits{i}'] = np.asarray(sp)
      return {'ragged': path, 'ragged_rank': len(splits)}
    arrays[path] = as_array(v)
    return {'leaf': path}
  return rec(x, prefix), arrays


def unflatten(structure, arrays, to_tensor=True):
  def rec(s):
    if 'dict' in s:
      return {k: rec(v) for k, v in s['dict'].items()}
    if 'list' in s:
      return [rec(v) for v in s['list']]
    if 'ragged' in s:
      p = s['ragged']
      splits = [arrays[f'{p}#splits{i}'] for i in range(s['ragged_rank'])]
      return tf.RaggedTensor.from_nested_row_splits(arrays[p + '#values'],
                                                    splits)
    a = arrays[s['leaf']]
    return tf.constant(a) if to_tensor else a
  return rec(structure)


def leaves(x, path=''):
  """(path, value) pairs of a nested output; ragged tensors become their
  flat values (`path#values`) and row splits (`path#splitsN`)."""
  if isinstance(x, dict):
    for k in sorted(x):
      yield from leaves(x[k], f'{path}/{k}' if path else k)
  elif isinstance(x, (list, tuple)):
    for i, v in enumerate(x):
      yield from leaves(v, f'{path}/{i}')
  elif isinstance(x, tf.RaggedTensor):
    yield path + '#values', x.flat_values
    for i, sp in enumerate(x.nested_row_splits):
      yield f'{path}#splits{i}', sp
  else:
    yield path, x


# --------------------------------------------------------------------------

class Report:
  """Collects check results."""

  def __init__(self):
    self.checks = []

  def add(self, status, name, value='', detail=''):
    self.checks.append({'status': status, 'name': name, 'value': value,
                        'detail': detail})

  def ok(self, cond, name, value='', detail='', fail=FAIL):
    self.add(PASS if cond else fail, name, value, detail)
    return cond

  def guard(self, name, fn):
    """Runs fn(); an exception becomes a FAIL line."""
    try:
      return fn()
    except Exception as e:  # pylint: disable=broad-except
      msg = str(e).strip().splitlines()
      self.add(FAIL, name, type(e).__name__,
               (msg[0] if msg else '')[:300])
      return None

  @property
  def failed(self):
    return [c for c in self.checks if c['status'] == FAIL]

  def lines(self):
    for c in self.checks:
      s = f"{c['status']} {c['name']}"
      if c['value'] != '':
        s += f": {c['value']}"
      if c['detail'] and c['status'] != PASS:
        s += f" ({c['detail']})"
      yield s


def _call(obj, inputs, training, spec, kwargs=None):
  """Calls obj; a training=True call leaves its variables as they were."""
  kwargs = dict(kwargs or {})
  if not spec.get('training_arg', True):
    return obj(inputs, **kwargs)
  if not training:
    return obj(inputs, training=False, **kwargs)
  # training=True may update batch-norm moving statistics: undo that so the
  # later comparisons with the source model see the exported values.
  # Only non-trainable variables (moving statistics) change in a forward
  # pass; saving just those keeps big embedding tables from being copied.
  trainable = {id(v) for v in getattr(obj, 'trainable_variables', [])}
  variables = [v for v in getattr(obj, 'variables', [])
               if id(v) not in trainable]
  saved = [v.numpy() for v in variables]
  try:
    return obj(inputs, training=True, **kwargs)
  finally:
    for v, value in zip(variables, saved):
      v.assign(value)


def _float_leaves(out):
  return [(p, v) for p, v in leaves(out)
          if isinstance(v, tf.Tensor) and v.dtype.is_floating]


def _diff(a, b):
  a = np.asarray(a, np.float64)
  b = np.asarray(b, np.float64)
  if a.shape != b.shape:
    return math.inf, math.inf, f'shape {list(a.shape)} vs {list(b.shape)}'
  if a.size == 0:
    return 0.0, 0.0, ''
  d = np.abs(a - b)
  mx = float(d.max())
  rel = float((d / np.maximum(np.abs(b), 1e-6)).max())
  return mx, rel, ''


def _compare(a, b, spec, exact_other):
  """Compares two outputs of the same SavedModel leaf by leaf.

  Float leaves may differ by their output's declared tolerance (the same
  graph can sum in another order); other leaves (ids, strings) must be equal
  when `exact_other`, else are skipped. Returns (max abs float diff, a list
  naming the leaves over: 'path diff > tol', 'path differs', 'path shape').
  """
  tols = {k: v['tolerance'] for k, v in spec['outputs'].items()}
  single = next(iter(tols)) if not spec.get('returns_dict', True) else None
  worst, over = 0.0, []
  for (p, x), (_, y) in zip(leaves(a), leaves(b)):
    x, y = as_array(x), as_array(y)
    if x.dtype.kind != 'f':
      if exact_other and (x.shape != y.shape or not np.array_equal(x, y)):
        over.append(f'{p or single} differs')
      continue
    if x.shape != y.shape:
      over.append(f'{p or single} shape {list(x.shape)} vs {list(y.shape)}')
      continue
    d = _diff(x, y)[0]
    worst = max(worst, d)
    tol = tols.get(single or p.split('/')[0].split('#')[0], 0.0)
    if d > tol:
      over.append(f'{p or single} {d:.3g} > {tol:g}')
  return worst, over


def _loss_weights(out, seed=0):
  rng = np.random.RandomState(seed)
  return [(p, tf.constant(rng.normal(size=v.shape.as_list()).astype(
      v.dtype.as_numpy_dtype))) for p, v in _float_leaves(out)]


def _projection_loss(out, weights):
  flat = dict(_float_leaves(out))
  return tf.add_n([tf.reduce_sum(tf.cast(flat[p] * w, tf.float32))
                   for p, w in weights])


def check_object(r, obj, where, spec, cases):
  """Reusable-API and numerical checks of one (sub-)object."""
  trainable = spec.get('trainable', True)
  has = lambda a: hasattr(obj, a)
  r.ok(has('__call__'), f'{where}.__call__ exists')
  if trainable:
    for attr in ('variables', 'trainable_variables', 'regularization_losses'):
      r.ok(has(attr), f'{where}.{attr} exists')
  if not has('__call__') or not cases:
    if not cases:
      r.add(WARN, f'{where} sample calls', 'no sample inputs given')
    return

  # Both training traces exist.
  first = cases[0]
  if spec.get('training_arg', True):
    for training in (False, True):
      r.guard(f'{where}.__call__(training={training})',
              lambda t=training: (_call(obj, first['inputs'], t, spec,
                                        first['kwargs']),
                                  r.add(PASS, f'{where}.__call__(training={t})',
                                        'callable'))[1])
  # Outputs equal the source model on every case (the shape sweep).
  tolerances = {k: v['tolerance'] for k, v in spec['outputs'].items()}
  kinds = {k: v['kind'] for k, v in spec['outputs'].items()}
  worst = {}
  for i, case in enumerate(cases):
    out = r.guard(f'{where} case {i}', lambda c=case: _call(
        obj, c['inputs'], False, spec, c['kwargs']))
    if out is None:
      continue
    if not spec.get('returns_dict', True):
      out = {next(iter(spec['outputs'])): out}
    missing = [k for k in spec['outputs'] if not isinstance(out, dict)
               or k not in out]
    if missing:
      r.add(FAIL, f'{where} outputs', f'missing keys {missing}',
            f'got {sorted(out) if isinstance(out, dict) else type(out)}')
      continue
    want_out = case.get('expected')
    if want_out is None:  # Generated inputs: nothing to compare with.
      continue
    if not spec.get('returns_dict', True):
      want_out = {next(iter(spec['outputs'])): want_out}
    expected = dict(leaves(want_out))
    for path, value in leaves({k: out[k] for k in spec['outputs']}):
      key = path.split('/')[0].split('#')[0]
      if path not in expected:
        r.add(FAIL, f'{where} output {path}', 'not produced by the source')
        continue
      got = as_array(value.numpy() if hasattr(value, 'numpy') else value)
      want = as_array(expected[path])
      if kinds[key] == 'ids' or got.dtype.kind in 'iubS':
        same = got.shape == want.shape and np.array_equal(got, want)
        mx, rel = (0.0, 0.0) if same else (math.inf, math.inf)
        note = '' if same else f'ids differ (shape {list(got.shape)} vs {list(want.shape)})'
      else:
        mx, rel, note = _diff(got, want)
      w = worst.setdefault(key, {'max_abs': 0.0, 'max_rel': 0.0, 'cases': 0,
                                 'shapes': [], 'note': ''})
      w['max_abs'] = max(w['max_abs'], mx)
      w['max_rel'] = max(w['max_rel'], rel)
      w['note'] = w['note'] or note
      if path == key or path.endswith('/0'):
        w['shapes'].append(list(got.shape))
    for key in worst:
      worst[key]['cases'] += 1
  for key, w in worst.items():
    tol = tolerances[key]
    r.ok(w['max_abs'] <= tol, f'{where} output {key} equals source',
         f"max abs diff {w['max_abs']:.3g}, max rel diff {w['max_rel']:.3g} "
         f"(tolerance {tol:g}) over {w['cases']} inputs, shapes "
         f"{_short_shapes(w['shapes'])}", w['note'])

  out0 = r.guard(f'{where} determinism', lambda: (
      _call(obj, first['inputs'], False, spec, first['kwargs']),
      _call(obj, first['inputs'], False, spec, first['kwargs'])))
  if out0 is not None:
    a, b = out0
    # Dropout or sampling left on in inference mode changes outputs by whole
    # percents. Float noise does not count: on CPU, oneDNN kernels may sum
    # in a different order from one call to the next (BERT-base, Model
    # Garden's export too: up to 3e-6 apart), so allow each output's
    # declared tolerance (0 for ids and exact outputs).
    worst, over = _compare(a, b, spec, exact_other=True)
    r.ok(not over, f'{where} deterministic with training=False',
         'identical' if worst == 0 and not over else
         f'max abs diff {worst:.3g} between two calls'
         + ('' if over else ' (float noise, within the declared tolerance)'),
         ('outputs differ between calls: ' + '; '.join(over[:3])
          + ': dropout or sampling active with training=False?')
         if over else '')
    # Logits, not probabilities.
    if not spec.get('returns_dict', True):
      a = {next(iter(spec['outputs'])): a}
    for key, kind in kinds.items():
      if kind != 'logits' or not isinstance(a, dict) or key not in a:
        continue
      v = np.asarray(a[key], np.float64)
      in_unit = v.size and v.min() >= 0 and v.max() <= 1
      sums_one = in_unit and v.ndim >= 1 and np.allclose(v.sum(-1), 1, atol=1e-3)
      r.ok(not (in_unit and (sums_one or v.shape[-1] == 1)),
           f'{where} output {key} is logits',
           f'range [{v.min():.3g}, {v.max():.3g}]'
           + ('; rows sum to 1: looks like softmax output' if sums_one else ''))

  if trainable and has('variables') and has('trainable_variables'):
    check_variables(r, obj, where, spec, first)


def _short_shapes(shapes):
  uniq = []
  for s in shapes:
    if s not in uniq:
      uniq.append(s)
  return ', '.join(str(s) for s in uniq[:4])


def check_variables(r, obj, where, spec, case):
  variables = list(obj.variables)
  trainable = list(obj.trainable_variables)
  ids = {id(v) for v in variables}
  stray = [v.name for v in trainable if id(v) not in ids]
  r.ok(not stray, f'{where}.trainable_variables ⊆ variables',
       f'{len(trainable)} of {len(variables)}',
       f'not in variables: {stray[:3]}' if stray else '')
  not_trainable = [v.name for v in trainable if not v.trainable]
  r.ok(not not_trainable, f'{where}.trainable_variables are trainable',
       f'{len(not_trainable)} flagged trainable=False', ', '.join(
           not_trainable[:3]), fail=WARN)
  losses = list(getattr(obj, 'regularization_losses', []))
  bad = []
  total = 0.0
  for i, fn in enumerate(losses):
    try:
      v = fn()
      if v.shape.rank != 0 or not v.dtype.is_floating or not np.isfinite(
          v.numpy()):
        bad.append(f'#{i}: {v.dtype.name}{v.shape.as_list()}')
      else:
        total += float(v.numpy())
    except Exception as e:  # pylint: disable=broad-except
      bad.append(f'#{i}: {type(e).__name__}')
  r.ok(not bad, f'{where}.regularization_losses are finite scalars',
       f'{len(losses)} losses, total {total:.6g}', '; '.join(bad[:3]))
  if not trainable:
    r.add(WARN if spec.get('trainable', True) else PASS,
          f'{where} gradients', 'no trainable variables')
    return
  def grads():
    with tf.GradientTape() as tape:
      out = _call(obj, case['inputs'], False, spec, case['kwargs'])
      weights = _loss_weights(out)
      if not weights:
        return None
      loss = _projection_loss(out, weights)
    return tape.gradient(loss, trainable,
                         unconnected_gradients=tf.UnconnectedGradients.ZERO)
  g = r.guard(f'{where} gradients', grads)
  if g is None:
    return
  dead, nonfinite = [], []
  for v, gv in zip(trainable, g):
    # Embedding tables get IndexedSlices: check the rows, never densify.
    gv = (gv.values if isinstance(gv, tf.IndexedSlices) else gv).numpy()
    if not np.all(np.isfinite(gv)):
      nonfinite.append(v.name)
    elif not np.any(gv):
      dead.append(v.name)
  r.ok(not dead and not nonfinite,
       f'{where} every trainable variable gets a gradient',
       f'{len(trainable) - len(dead) - len(nonfinite)} of {len(trainable)} '
       'finite and non-zero',
       ('zero: ' + ', '.join(dead[:5]) if dead else '') +
       (' non-finite: ' + ', '.join(nonfinite[:5]) if nonfinite else ''))


def check_graph_softmax(r, obj, spec):
  """A final Softmax/Sigmoid op in front of a declared logits output."""
  kinds = {k: v['kind'] for k, v in spec['outputs'].items()}
  if 'logits' not in kinds.values():
    return
  try:
    fns = obj.__call__.concrete_functions
  except AttributeError:
    return
  found = set()
  for fn in fns:
    for t in fn.outputs:
      op = t.op
      for _ in range(50):  # Walk back through pass-through ops.
        if op.type in ('Softmax', 'Sigmoid', 'LogSoftmax'):
          found.add(op.type)
          break
        if op.type in ('Identity', 'IdentityN', 'Reshape', 'Squeeze',
                       'ExpandDims', 'Cast') and op.inputs:
          op = op.inputs[0].op
        elif op.type in ('StatefulPartitionedCall', 'PartitionedCall'):
          inner = fn.graph._get_function(op.get_attr('f').name)  # pylint: disable=protected-access
          if inner is None or not inner.graph.outputs:
            break
          index = list(op.outputs).index(t) if t in list(op.outputs) else 0
          t = inner.graph.outputs[index]
          op = t.op
        else:
          break
  r.ok(not found, 'graph has no final softmax/sigmoid before logits',
       ', '.join(sorted(found)) or 'none')


def check_signature(r, obj, loaded_sigs, spec):
  """serving_default exists and its inputs follow the declared spec."""
  sig = loaded_sigs.get('serving_default') if loaded_sigs else None
  if not r.ok(sig is not None, 'serving_default signature exists',
              ', '.join(sorted(loaded_sigs or {})) or 'none'):
    return None
  _, kw = sig.structured_input_signature
  problems = []
  for s in spec['inputs']['specs']:
    got = kw.get(s['name'])
    if got is None:
      problems.append(f"missing input {s['name']}")
      continue
    if got.dtype.name != s['dtype']:
      problems.append(f"{s['name']} dtype {got.dtype.name} != {s['dtype']}")
    want = s['shape']
    if want is not None:
      have = got.shape.as_list() if got.shape.rank is not None else None
      if have is None or len(have) != len(want) or any(
          w is None and h is not None for w, h in zip(want, have)):
        problems.append(f"{s['name']} shape {have} (declared {want}; None "
                        'dims must stay dynamic)')
  r.ok(not problems, 'serving_default inputs match the declared API',
       ', '.join(f"{s['name']}:{s['dtype']}{s['shape']}"
                 for s in spec['inputs']['specs']), '; '.join(problems))
  return sig


def check_serving_equals_call(r, obj, sig, spec, case):
  def run():
    inputs = case['inputs']
    if spec['inputs']['dict']:
      out = sig(**inputs)
    else:
      out = sig(**{spec['inputs']['specs'][0]['name']: inputs})
    ref = _call(obj, inputs, False, spec, case['kwargs'])
    if not spec.get('returns_dict', True):
      ref = {next(iter(spec['outputs'])): ref}
    worst, over = 0.0, []
    for key, value in ref.items():
      vals = value if isinstance(value, (list, tuple)) else [value]
      names = ([f'{key}_{i}' for i in range(len(vals))]
               if isinstance(value, (list, tuple)) else [key])
      tol = spec['outputs'].get(key, {}).get('tolerance', 0.0)
      for n, v in zip(names, vals):
        if n not in out:
          raise KeyError(f'serving_default lacks output {n}')
        d = _diff(out[n], v)[0]
        worst = max(worst, d)
        if d > tol:
          over.append(f'{n} {d:.3g} > {tol:g}')
    return worst, over
  # Both run the same graph, but graph optimizations may order float ops
  # differently: allow the declared tolerance (0 for ids, exact outputs).
  res = r.guard('serving_default equals __call__(training=False)', run)
  if res is not None:
    worst, over = res
    r.ok(not over, 'serving_default equals __call__(training=False)',
         f'max abs diff {worst:.3g}', '; '.join(over[:3]))


def check_keras_layer(r, path, obj, spec, cases):
  """hub.KerasLayer(trainable=True/False) behaves like the loaded object."""
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  case = cases[0]
  layer = r.guard('hub.KerasLayer(trainable=True)',
                  lambda: hub.KerasLayer(path, trainable=True))
  if layer is None:
    return
  out = r.guard('hub.KerasLayer call', lambda: layer(case['inputs'],
                                                       training=False))
  if out is None:
    return
  ref = _call(obj, case['inputs'], False, spec)
  # The same graph, but (as for serving_default) float ops may be ordered
  # differently: allow each output's declared tolerance.
  worst, over = _compare(out, ref, spec, exact_other=False)
  r.ok(not over, 'hub.KerasLayer output equals hub.load output',
       f'max abs diff {worst:.3g}', '; '.join(over[:3]))
  n_train = len(getattr(obj, 'trainable_variables', []))
  r.ok(len(layer.trainable_weights) == n_train,
       'hub.KerasLayer(trainable=True) trainable weights',
       f'{len(layer.trainable_weights)} (object has {n_train})')
  n_reg = len(getattr(obj, 'regularization_losses', []))
  finite = [np.asarray(l).shape == () and bool(np.isfinite(np.asarray(l)))
            for l in layer.losses]
  r.ok(len(layer.losses) == n_reg and all(finite), 'hub.KerasLayer losses',
       f'{sum(finite)} finite scalars of {len(layer.losses)} (object has '
       f'{n_reg})')
  frozen = hub.KerasLayer(path, trainable=False)
  frozen(case['inputs'])
  frozen_loss = sum(float(np.abs(np.asarray(l)).sum()) for l in frozen.losses)
  r.ok(not frozen.trainable_weights and frozen_loss == 0.0,
       'hub.KerasLayer(trainable=False) is frozen',
       f'{len(frozen.trainable_weights)} trainable weights, '
       f'regularization loss {frozen_loss:g}')
  if n_train:
    r.guard('hub.KerasLayer fit step', lambda: _fit_step(r, layer, spec, case))


def _fit_step(r, layer, spec, case):
  """One tf_keras `fit` step through the layer changes its weights."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  inputs = case['inputs']
  if isinstance(inputs, dict):
    kin = {k: tf_keras.Input(shape=v.shape[1:], dtype=v.dtype, name=k)
           for k, v in inputs.items()}
  else:
    kin = tf_keras.Input(shape=inputs.shape[1:], dtype=inputs.dtype)
  out = layer(kin)
  if isinstance(out, dict):
    keys = [k for k in ('default', 'pooled_output') if k in out] or [
        k for k, v in spec['outputs'].items() if v['kind'] != 'ids' and
        isinstance(out.get(k), tf.Tensor)]
    out = out[keys[0]]
  flat = tf_keras.layers.Flatten()(out) if out.shape.rank != 2 else out
  head = tf_keras.layers.Dense(1, kernel_initializer='ones')(flat)
  model = tf_keras.Model(kin, head)
  model.compile(optimizer=tf_keras.optimizers.SGD(0.01), loss='mse')
  before = [w.numpy().copy() for w in layer.trainable_weights]
  batch = int(tf.nest.flatten(inputs)[0].shape[0])
  model.fit(inputs, np.ones([batch, 1], np.float32), epochs=1, verbose=0,
            batch_size=batch)
  changed = sum(not np.array_equal(b, w.numpy())
                for b, w in zip(before, layer.trainable_weights))
  r.ok(changed > 0, 'hub.KerasLayer fit step updates weights',
       f'{changed} of {len(before)} weights changed')


# --------------------------------------------------------------------------
# Any SavedModel: infer the API from the traced functions, make sample inputs.

TASKS = ('text-embedding', 'text-preprocessing', 'image-feature-vector',
         'image-classification', 'custom')
ENCODER_INPUTS = ('input_word_ids', 'input_mask', 'input_type_ids')
SENTENCES = ['The quick brown fox jumps over the lazy dog.',
             'hello world', '', 'Un café à Zürich, 東京 and 123 unknownwordzz!']


def _tspec_json(s, name):
  return {'name': name, 'dtype': s.dtype.name,
          'shape': None if s.shape.rank is None else s.shape.as_list()}


def _call_signature(obj):
  """(input structure, training_arg) of obj.__call__'s first inference trace."""
  fns = list(getattr(obj.__call__, 'concrete_functions', []))
  if not fns:
    raise ValueError('__call__ has no traced concrete function')
  best, training_arg = None, False
  for fn in fns:
    args, kwargs = fn.structured_input_signature
    flags_ = [a for a in args[1:] if isinstance(a, bool)]
    if 'training' in kwargs or flags_:
      training_arg = True
      if kwargs.get('training', flags_[0] if flags_ else None) is False:
        best = best or fn
  fn = best or fns[0]
  return fn, fn.structured_input_signature[0][0], training_arg


def infer_spec(obj, task):
  """The spec a consumer can read off a SavedModel's traced functions."""
  fn, inputs, training_arg = _call_signature(obj)
  if isinstance(inputs, dict):
    ins = {'dict': True, 'specs': [_tspec_json(v, k)
                                   for k, v in sorted(inputs.items())]}
  else:
    ins = {'dict': False, 'specs': [_tspec_json(inputs, inputs.name or
                                                'inputs')]}
  out = fn.structured_outputs
  returns_dict = isinstance(out, dict)
  serving = getattr(obj, 'signatures', {}).get('serving_default')
  single = (sorted(serving.structured_outputs) if serving is not None
            else ['outputs'])
  keys = sorted(out) if returns_dict else (single if len(single) == 1
                                           else ['outputs'])
  def kind(k):
    if task == 'image-classification' and (not returns_dict or k in (
        'default', 'logits')):
      return 'logits'
    return 'any'
  def tolerance(k):
    # Float outputs: serving_default and hub.KerasLayer run the same graph,
    # but graph optimizations may order float ops differently (~1e-6 for a
    # BERT-base); integer outputs must match exactly.
    value = out.get(k) if returns_dict else out
    floats = [getattr(t, 'dtype', None) is not None and t.dtype.is_floating
              for t in tf.nest.flatten(value)]
    return 1e-5 if floats and all(floats) else 0.0
  trainable = bool(getattr(obj, 'trainable_variables', []))
  return {'task': task, 'training_arg': training_arg, 'trainable': trainable,
          'returns_dict': returns_dict, 'inputs': ins,
          'outputs': {k: {'kind': kind(k), 'tolerance': tolerance(k)}
                      for k in keys},
          'subobjects': {}}


def _sample(s, batch, size, rng):
  """A sample tensor for a TensorSpec json; None dims get `size`."""
  shape = s['shape']
  if shape is None:
    shape = [batch]
  dims = [batch if i == 0 else (size if d is None else d)
          for i, d in enumerate(shape)]
  if len(dims) == 4 and shape[-1] == 3:  # Images: square, RGB.
    dims = [batch, size, size, 3]
  name, dtype = s['name'] or '', s['dtype']
  if dtype == 'string':
    return tf.constant((SENTENCES * batch)[:batch] if len(dims) == 1 else
                       np.full(dims, SENTENCES[0]))
  if dtype.startswith('int') or dtype.startswith('uint'):
    if 'mask' in name:
      a = np.ones(dims)
    elif 'type' in name:
      a = np.zeros(dims)
    else:
      a = rng.randint(1, 5, size=dims)  # Small ids: valid in any vocabulary.
    return tf.constant(a.astype(dtype))
  if dtype == 'bool':
    return tf.constant(np.ones(dims, bool))
  return tf.constant(rng.uniform(0, 1, size=dims).astype(dtype))


def generate_cases(spec):
  """A shape sweep of inputs for the root call: batch 1 and 3, two sizes."""
  rng = np.random.RandomState(0)
  image = spec['task'].startswith('image')
  sizes = (224, 193) if image else (8, 13)
  cases = []
  for batch, size in ((1, sizes[0]), (3, sizes[1])):
    specs = spec['inputs']['specs']
    if spec['inputs']['dict']:
      inputs = {s['name']: _sample(s, batch, size, rng) for s in specs}
    else:
      inputs = _sample(specs[0], batch, size, rng)
    cases.append({'target': '', 'kwargs': {}, 'inputs': inputs,
                  'expected': None})
  return cases


# --------------------------------------------------------------------------
# Checks that need no source model.

def check_task(r, obj, spec, cases):
  """Conformance to the TF Hub common API of the declared task."""
  task = spec.get('task', 'custom')
  if task in ('custom', None):
    return
  ins = spec['inputs']
  names = [s['name'] for s in ins['specs']]
  case = cases[0] if cases else None
  out = (_call(obj, case['inputs'], False, spec, case['kwargs'])
         if case else None)
  if task == 'text-embedding' and ins['dict']:  # Transformer encoder.
    missing = [n for n in ENCODER_INPUTS if n not in names]
    r.ok(not missing, 'text encoder inputs', ', '.join(names),
         f'missing {missing}' if missing else '')
    if isinstance(out, dict):
      need = ('pooled_output', 'sequence_output', 'default')
      lacking = [k for k in need if k not in out]
      r.ok(not lacking, 'text encoder outputs', ', '.join(sorted(out)),
           f'missing {lacking}' if lacking else '')
      if 'default' in out and 'pooled_output' in out:
        r.ok(np.array_equal(out['default'], out['pooled_output']),
             'text encoder default equals pooled_output')
    return
  if task == 'text-embedding':
    s = ins['specs'][0]
    r.ok(s['dtype'] == 'string' and s['shape'] in (None, [None]),
         'text embedding input', f"{s['dtype']}{s['shape']}",
         'expected a [batch] tf.string')
    if out is not None:
      o = np.asarray(out if not isinstance(out, dict) else out.get(
          'default', next(iter(out.values()))))
      batch = int(tf.shape(case['inputs'])[0])
      r.ok(o.ndim == 2 and o.shape[0] == batch and o.dtype == np.float32,
           'text embedding output', f'{o.dtype}{list(o.shape)}',
           'expected float32 [batch, dim]')
    return
  if task == 'text-preprocessing':
    s = ins['specs'][0]
    r.ok(s['dtype'] == 'string', 'preprocessor input', f"{s['dtype']}{s['shape']}")
    if isinstance(out, dict):
      lacking = [k for k in ENCODER_INPUTS if k not in out]
      if r.ok(not lacking, 'preprocessor outputs', ', '.join(sorted(out)),
              f'missing {lacking}' if lacking else ''):
        ids = np.asarray(out['input_word_ids'])
        r.ok(ids.dtype == np.int32 and ids.ndim == 2,
             'preprocessor output dtype/rank', f'{ids.dtype}{list(ids.shape)}')
        r.ok(ids.shape[1] == 128, 'preprocessor default seq_length',
             str(ids.shape[1]), 'TF Hub preprocessors default to 128',
             fail=WARN)
    for sub in ('tokenize', 'bert_pack_inputs'):
      r.ok(hasattr(obj, sub), f'preprocessor .{sub} exists')
    if hasattr(obj, 'tokenize'):
      tok = r.guard('preprocessor .tokenize', lambda: obj.tokenize(
          tf.constant(SENTENCES)))
      if tok is not None:
        r.ok(isinstance(tok, tf.RaggedTensor) and tok.dtype == tf.int32,
             'preprocessor .tokenize returns ragged int32',
             f'{type(tok).__name__} {tok.dtype.name}')
        r.ok(hasattr(obj.tokenize, 'get_special_tokens_dict'),
             'preprocessor .tokenize.get_special_tokens_dict exists')
        if hasattr(obj, 'bert_pack_inputs'):
          packed = r.guard('preprocessor .bert_pack_inputs', lambda:
                           obj.bert_pack_inputs([tok, tok], seq_length=16))
          if packed is not None:
            shape = np.asarray(packed['input_word_ids']).shape
            r.ok(shape == (len(SENTENCES), 16),
                 'preprocessor .bert_pack_inputs(seq_length=16)', str(shape))
    return
  if task.startswith('image'):
    s = ins['specs'][0]
    shape = s['shape']
    r.ok(not ins['dict'] and s['dtype'] == 'float32' and shape is not None and
         len(shape) == 4 and shape[0] is None and shape[-1] == 3,
         'image input', f"{s['dtype']}{shape}",
         'expected float32 [batch, height, width, 3]')
    check_image_range(r, obj)
    if out is not None:
      o = np.asarray(out if not isinstance(out, dict) else out.get(
          'default', next(iter(out.values()))))
      r.ok(o.ndim == 2, f'{task} output', f'{o.dtype}{list(o.shape)}',
           'expected [batch, features or classes]')


def _fn_graph_consumers(fn, tensor, depth=0):
  """First real ops consuming `tensor`, looking through calls and casts."""
  found = []
  for op in tensor.consumers():
    if op.type in ('Identity', 'Cast') and depth < 30:
      found += _fn_graph_consumers(fn, op.outputs[0], depth + 1)
    elif op.type in ('StatefulPartitionedCall', 'PartitionedCall') and \
        depth < 30:
      inner = fn.graph._get_function(op.get_attr('f').name)  # pylint: disable=protected-access
      idx = [i for i, t in enumerate(op.inputs) if t is tensor]
      if inner is not None and idx and idx[0] < len(inner.graph.inputs):
        found += _fn_graph_consumers(inner, inner.graph.inputs[idx[0]],
                                     depth + 1)
    else:
      found.append(op)
  return found


def _const_values(op):
  vals = []
  for t in op.inputs:
    if t.op.type == 'Const':
      vals.append(tf.make_ndarray(t.op.get_attr('value')))
  return vals


def check_image_range(r, obj):
  """Images in [0, 1]: flag graphs that rescale by 1/255 or subtract 0-255
  scale means straight from the input (they expect [0, 255] pixels)."""
  try:
    fn = _call_signature(obj)[0]
  except ValueError:
    return
  placeholder = fn.graph.inputs[0]
  problems = []
  for op in _fn_graph_consumers(fn, placeholder):
    for c in _const_values(op):
      c = np.abs(np.asarray(c, np.float64))
      if not c.size:
        continue
      if op.type == 'Mul' and c.max() <= 1 / 200:
        problems.append(f'{op.type} by {c.max():.4g} (a 1/255 rescale)')
      elif op.type in ('RealDiv', 'Div', 'FloorDiv') and c.min() >= 200:
        problems.append(f'{op.type} by {c.min():.4g} (a /255 rescale)')
      elif op.type in ('Sub', 'AddV2', 'Add', 'BiasAdd') and c.max() > 10:
        problems.append(f'{op.type} of {c.max():.4g} (0-255 scale means)')
  r.ok(not problems, 'image inputs are in [0, 1]',
       'no 0-255 rescaling on the input' if not problems else
       '; '.join(sorted(set(problems))[:3]),
       'TF Hub image models take float32 RGB in [0, 1]')


def check_training_mode(r, obj, spec, case):
  """Dropout/batch norm: training=True must actually differ where present."""
  if not spec.get('training_arg', True) or case is None:
    return
  fns = [f for f in obj.__call__.concrete_functions
         if True in f.structured_input_signature[0][1:] or
         f.structured_input_signature[1].get('training') is True]
  if not fns:
    return
  types = set()
  def collect(graph, depth=0):
    for op in graph.get_operations():
      types.add(op.type)
      if op.type in ('StatefulPartitionedCall', 'PartitionedCall') and depth < 30:
        inner = graph._get_function(op.get_attr('f').name)  # pylint: disable=protected-access
        if inner is not None:
          collect(inner.graph, depth + 1)
  collect(fns[0].graph)
  has_dropout = bool(types & {'RandomUniform', 'StatelessRandomUniformV2',
                              'StatelessRandomUniform', 'RandomUniformInt'})
  # Batch norm in training mode updates its moving statistics (layer norm,
  # which also computes moments, updates nothing).
  has_bn = bool(types & {'AssignSubVariableOp', 'AssignAddVariableOp',
                         'AssignVariableOp'})
  moving = [v.name for v in getattr(obj, 'variables', None) or []
            if re.search(r'moving_(mean|variance)', v.name)]
  if moving and not has_bn:
    r.add(WARN, 'training=True updates batch-norm statistics',
          f'{len(moving)} moving mean/variance variables, no update in the '
          'training=True graph', 'batch norm looks frozen in training mode: '
          'pass `training` through to the batch-norm layers')
  if not (has_dropout or has_bn):
    r.add(PASS, 'training=True mode',
          'no dropout or batch-norm updates in the graph')
    return
  a = _call(obj, case['inputs'], False, spec, case['kwargs'])
  b = _call(obj, case['inputs'], True, spec, case['kwargs'])
  differs = any(not np.allclose(np.asarray(x), np.asarray(y))
                for (_, x), (_, y) in zip(leaves(a), leaves(b))
                if np.asarray(x).dtype.kind == 'f')
  what = ' and '.join(n for n, h in (('dropout', has_dropout),
                                     ('batch-norm updates', has_bn)) if h)
  r.ok(differs, 'training=True mode differs from inference',
       f'{what} in the graph; outputs {"differ" if differs else "identical"}',
       fail=WARN)


def check_files(r, saved_model):
  """Before loading: every asset present, no absolute paths in the graph."""
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  pb_path = os.path.join(saved_model, 'saved_model.pb')
  with open(pb_path, 'rb') as f:
    raw = f.read()
  proto = saved_model_pb2.SavedModel()
  proto.ParseFromString(raw)
  assets = sorted({a.filename for mg in proto.meta_graphs
                   for a in mg.asset_file_def})
  missing = [a for a in assets if not os.path.isfile(
      os.path.join(saved_model, 'assets', a))]
  r.ok(not missing, 'every asset is present', f'{len(assets)} assets',
       f'missing: {missing}' if missing else '')
  leaked = sorted({m.decode('utf-8', 'replace') for m in re.findall(
      rb'(?<![\w.])(/(?:home|tmp|root|usr|work|Users|mnt|data|var|opt|scratch)'
      rb'/[\w./-]+)', raw)})
  here = os.path.abspath(saved_model).encode()
  if here in raw and not leaked:
    leaked = [os.path.abspath(saved_model)]
  r.ok(not leaked, 'no absolute paths in saved_model.pb',
       ', '.join(leaked[:3]) if leaked else 'none',
       'paths of the exporting machine make the model non-portable')


def check_self_contained(r, saved_model, spec, case):
  """Survives load -> re-save -> delete the original -> load."""
  import shutil  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  tmp = tempfile.mkdtemp(prefix='reusable_check_')
  try:
    copy = os.path.join(tmp, 'copy')
    resaved = os.path.join(tmp, 'resaved')
    shutil.copytree(saved_model, copy)
    def roundtrip():
      obj = tf.saved_model.load(copy)
      tf.saved_model.save(obj, resaved)
      del obj
      shutil.rmtree(copy)
      again = tf.saved_model.load(resaved)
      if case is not None:
        _call(again, case['inputs'], False, spec, case['kwargs'])
      return True
    ok = r.guard('load -> re-save -> delete original -> load', roundtrip)
    if ok:
      r.add(PASS, 'load -> re-save -> delete original -> load', 'works')
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


def directory_sizes(saved_model):
  sizes = {'saved_model_pb': 0, 'variables': 0, 'assets': 0, 'total': 0}
  for dirpath, _, files in os.walk(saved_model):
    for name in files:
      path = os.path.join(dirpath, name)
      rel = os.path.relpath(path, saved_model)
      n = os.path.getsize(path)
      sizes['total'] += n
      if rel == 'saved_model.pb':
        sizes['saved_model_pb'] += n
      elif rel.startswith('variables' + os.sep):
        sizes['variables'] += n
      elif rel.startswith('assets' + os.sep):
        sizes['assets'] += n
  return sizes


def run_checks(saved_model, spec=None, cases=None, task='custom'):
  """All checks; returns (Report, info dict).

  With `spec`/`cases` (an export's declared API and the source model's
  outputs) outputs are compared with the source; without, the API is read off
  the SavedModel and sample inputs are generated for `task`.
  """
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  try:
    import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    pass
  r = Report()
  info = {}
  r.guard('files', lambda: check_files(r, saved_model))
  t0 = time.perf_counter()
  obj = r.guard('hub.load', lambda: hub.load(saved_model))
  info['load_seconds'] = round(time.perf_counter() - t0, 3)
  if obj is None:
    return r, info
  r.add(PASS, 'hub.load', f"{info['load_seconds']:.2f} s")
  info['sizes'] = directory_sizes(saved_model)
  mb = lambda n: f'{n / 1e6:.2f} MB'
  r.add(PASS, 'sizes', ', '.join(f'{k} {mb(v)}' for k, v in
                                 info['sizes'].items()))
  if spec is None:
    if not hasattr(obj, '__call__'):
      r.add(FAIL, 'root.__call__ exists', 'no __call__: not a reusable '
            'SavedModel (TF1 hub.Module or signatures only?)')
      return r, info
    spec = r.guard('read the API off __call__', lambda: infer_spec(obj, task))
    if spec is None:
      return r, info
    cases = r.guard('sample inputs', lambda: generate_cases(spec))
    if cases is None:
      return r, info
  info['api'] = spec
  by_target = {}
  for c in cases:
    by_target.setdefault(c['target'], []).append(c)
  # Each group is guarded: a crash inside one is a FAIL, not a lost report.
  r.guard('root checks', lambda: check_object(r, obj, 'root', spec,
                                              by_target.get('', [])))
  r.guard('graph checks', lambda: check_graph_softmax(r, obj, spec))
  sig = r.guard('serving_default', lambda: check_signature(
      r, obj, getattr(obj, 'signatures', None), spec))
  if sig is not None and by_target.get(''):
    check_serving_equals_call(r, obj, sig, spec, by_target[''][0])
  for name, sub in spec.get('subobjects', {}).items():
    child = getattr(obj, name, None)
    if r.ok(child is not None, f'sub-object .{name} exists'):
      r.guard(f'{name} checks', lambda c=child, n=name, s=sub: check_object(
          r, c, n, s, by_target.get(n, [])))
  first = (by_target.get('') or [None])[0]
  r.guard('task conformance', lambda: check_task(r, obj, spec,
                                                 by_target.get('', [])))
  if spec.get('trainable', True):
    r.guard('training mode', lambda: check_training_mode(r, obj, spec, first))
  r.guard('self-contained', lambda: check_self_contained(
      r, saved_model, spec, first))
  if spec.get('trainable', True) and spec.get('training_arg', True) and \
      by_target.get(''):
    r.guard('hub.KerasLayer checks', lambda: check_keras_layer(
        r, saved_model, obj, spec, by_target['']))
  return r, info


def load_cases(path):
  with np.load(path, allow_pickle=False) as data:
    arrays = {k: data[k] for k in data.files}
  meta = json.loads(str(arrays.pop('__meta__')))
  cases = []
  for m in meta:
    cases.append({'target': m['target'], 'kwargs': m['kwargs'] or {},
                  'inputs': unflatten(m['inputs'], arrays),
                  'expected': unflatten(m['expected'], arrays,
                                        to_tensor=False)})
  return cases


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--saved_model', required=True)
  p.add_argument('--spec', help='declared API (ExportSpec.to_json())')
  p.add_argument('--cases', help='sample inputs and source outputs (.npz)')
  p.add_argument('--task', default=None, choices=TASKS,
                 help='TF Hub task whose common API to check')
  p.add_argument('--output', help='write the JSON result here')
  p.add_argument('--json', action='store_true',
                 help='print JSON instead of report lines')
  args = p.parse_args(argv)
  tf.get_logger().setLevel('ERROR')
  spec = cases = None
  if args.spec:
    with open(args.spec) as f:
      spec = json.load(f)
    if args.task:
      spec['task'] = args.task
  if args.cases:
    cases = load_cases(args.cases)
  r, info = run_checks(args.saved_model, spec, cases, args.task or 'custom')
  info['peak_rss_bytes'] = peak_rss()
  result = {'checks': r.checks, 'info': info,
            'failed': len(r.failed), 'passed': sum(
                c['status'] == PASS for c in r.checks)}
  if args.output:
    with open(args.output, 'w') as f:
      json.dump(result, f, indent=1)
  if args.json:
    print(json.dumps(result, indent=1, default=str))
  else:
    for line in r.lines():
      print(line)
  return 1 if r.failed else 0


def peak_rss():
  """Peak resident memory of this process image in bytes (Linux VmHWM;
  unlike ru_maxrss it does not include the launching process's), or None."""
  try:
    with open('/proc/self/status') as f:
      for line in f:
        if line.startswith('VmHWM:'):
          return int(line.split()[1]) * 1024
  except (OSError, ValueError, IndexError):
    pass
  return None


if __name__ == '__main__':
  sys.exit(main())

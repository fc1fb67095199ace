"""The reusable SavedModel API of one (sub-)object, and its outputs compared
with the source model's.

`call` is how every check calls a loaded object: a `training=True` call puts
back the variables it changed (batch-norm moving statistics), so later
comparisons see the exported values.
"""

import contextlib
import math
import re

import numpy as np
import tensorflow as tf

from .cases import as_array
from .cases import leaves
from .graph import UPDATE_OPS
from .graph import op_types
from .report import FAIL, PASS, WARN
from .report import model_call
from .report import without_graph_rewrites

def call(obj, inputs, training, spec, kwargs=None):
  """Calls obj; a training=True call leaves its variables as they were.

  What the call raises is the model's (report.ModelError): the inputs are
  the declared cases or generated to fit its own traced signature.
  """
  kwargs = dict(kwargs or {})
  if not spec.get('training_arg', True):
    return model_call(obj, inputs, **kwargs)
  if not training:
    return model_call(obj, inputs, training=False, **kwargs)
  with keep_statistics(obj):
    return model_call(obj, inputs, training=True, **kwargs)


@contextlib.contextmanager
def keep_statistics(obj):
  """Undoes what training=True calls inside do to obj's batch-norm moving
  statistics, so that later comparisons with the source model see the
  exported values. Only non-trainable variables change in a forward pass;
  saving just those keeps big embedding tables from being copied."""
  trainable = {id(v) for v in getattr(obj, 'trainable_variables', [])}
  variables = [v for v in getattr(obj, 'variables', [])
               if id(v) not in trainable]
  saved = [v.numpy() for v in variables]
  try:
    yield
  finally:
    for v, value in zip(variables, saved):
      v.assign(value)


def digests(weights):
  """A fingerprint of each weight's current value (SHA-1 of its bytes):
  whether a step changed a weight, without holding a copy of the weights
  (BERT-base: 420 MB less at the fit step's peak, in each process)."""
  import hashlib  # pylint: disable=g-import-not-at-top
  out = []
  for w in weights:
    value = np.ascontiguousarray(w.numpy())
    h = hashlib.sha1(usedforsecurity=False)
    h.update(f'{value.dtype.str}{value.shape}'.encode())
    h.update(memoryview(value).cast('B'))
    out.append(h.digest())
  return out


def _float_leaves(out):
  return [(p, v) for p, v in leaves(out)
          if isinstance(v, tf.Tensor) and v.dtype.is_floating]


def diff(a, b):
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


def compare(a, b, spec, exact_other):
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
    d = diff(x, y)[0]
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
              lambda t=training: (call(obj, first['inputs'], t, spec,
                                        first['kwargs']),
                                  r.add(PASS, f'{where}.__call__(training={t})',
                                        'callable'))[1])
  # Outputs equal the source model on every case (the shape sweep).
  tolerances = {k: v['tolerance'] for k, v in spec['outputs'].items()}
  kinds = {k: v['kind'] for k, v in spec['outputs'].items()}
  worst = {}
  for i, case in enumerate(cases):
    out = r.guard(f'{where} case {i}', lambda c=case: call(
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
        mx, rel, note = diff(got, want)
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
      call(obj, first['inputs'], False, spec, first['kwargs']),
      call(obj, first['inputs'], False, spec, first['kwargs'])))
  if out0 is not None:
    a, b = out0
    # Dropout or sampling left on in inference mode changes outputs by whole
    # percents. Float noise does not count: on CPU, oneDNN kernels may sum
    # in a different order from one call to the next (Model Garden's exports
    # too; docs/measurements/benchmarks.md, "Found by the benchmark: verification
    # flaked on float noise"), so allow each output's declared tolerance (0
    # for ids and exact outputs).
    worst, over = compare(a, b, spec, exact_other=True)
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


def check_subobjects(r, obj, spec, by_target):
  """`check_object` for each declared sub-object `obj` has (a missing one is
  the caller's FAIL), on its cases in `by_target`."""
  for name, sub in spec.get('subobjects', {}).items():
    child = getattr(obj, name, None)
    if child is not None:
      r.guard(f'{name} checks', lambda c=child, n=name, s=sub: check_object(
          r, c, n, s, by_target.get(n, [])))


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
    with without_graph_rewrites():
      with tf.GradientTape() as tape:
        out = call(obj, case['inputs'], False, spec, case['kwargs'])
        weights = _loss_weights(out)
        if not weights:
          return None
        loss = _projection_loss(out, weights)
      return model_call(tape.gradient, loss, trainable,
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


def check_signature(r, obj, loaded_sigs, spec):
  """serving_default exists and its inputs follow the API.

  A declared spec (this project's exports) fixes the input names; for any
  other SavedModel only what its __call__ fixes is asked (the common APIs
  do not name signature inputs or outputs), and a missing serving_default
  is a warning: hub.KerasLayer uses __call__.
  """
  sig = loaded_sigs.get('serving_default') if loaded_sigs else None
  inferred = spec.get('inferred', False)
  if not r.ok(sig is not None, 'serving_default signature exists',
              ', '.join(sorted(loaded_sigs or {})) or 'none',
              'serving tools call signatures; hub.KerasLayer uses __call__',
              fail=WARN if inferred else FAIL):
    return None
  _, kw = sig.structured_input_signature
  problems = []
  names = _signature_names(spec, kw)
  if names is None:
    r.add(WARN, 'serving_default inputs match __call__',
          ', '.join(sorted(kw)), 'cannot pair them with the inputs of '
          '__call__ by name: not compared')
    return None
  for s, name in zip(spec['inputs']['specs'], names):
    got = kw.get(name)
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
  r.ok(not problems, 'serving_default inputs match the declared API'
       if not inferred else 'serving_default inputs match __call__',
       ', '.join(f"{s['name']}:{s['dtype']}{s['shape']}"
                 for s in spec['inputs']['specs']), '; '.join(problems),
       fail=WARN if inferred else FAIL)
  return None if problems and inferred else sig


def _signature_names(spec, kw):
  """Signature input name for each input of __call__, or None."""
  specs = spec['inputs']['specs']
  if spec['inputs']['dict'] or not spec.get('inferred', False):
    return [s['name'] for s in specs]
  if len(specs) == 1 and len(kw) == 1:  # One tensor: names may differ.
    return list(kw)
  return None


def _signature_match(out, path, value, inferred):
  """The signature output equal to __call__'s leaf `path` and its
  distance: by name (this project's naming: key, key_i for lists), else
  (inferred API) the closest output of the same shape."""
  base = path.split('#')[0]
  for name in (base.replace('/', '_'), base) if base else ():
    if name in out:
      return name, diff(out[name], value)[0]
  if len(out) == 1 and not base:
    name = next(iter(out))
    return name, diff(out[name], value)[0]
  if not inferred:  # This project's exports: by name only.
    return None, math.inf
  best = (None, math.inf)
  v = np.asarray(value)
  for name, t in out.items():
    t = np.asarray(t)
    if t.shape == v.shape and t.dtype.kind == v.dtype.kind:
      d = diff(t, v)[0] if t.dtype.kind == 'f' else (
          0.0 if np.array_equal(t, v) else math.inf)
      if d < best[1]:
        best = (name, d)
  return best


def check_serving_equals_call(r, obj, sig, spec, case):
  """serving_default gives __call__(training=False)'s outputs, paired by
  name (this project's naming) or, for any other SavedModel, by value."""
  inferred = spec.get('inferred', False)
  def run():
    inputs = case['inputs']
    _, kw = sig.structured_input_signature
    names = _signature_names(spec, kw)
    if spec['inputs']['dict']:
      out = model_call(sig, **{n: inputs[s['name']] for n, s in
                               zip(names, spec['inputs']['specs'])})
    else:
      out = model_call(sig, **{names[0]: inputs})
    ref = call(obj, inputs, False, spec, case['kwargs'])
    if not spec.get('returns_dict', True):
      ref = {next(iter(spec['outputs'])): ref}
    worst, over = 0.0, []
    for path, value in leaves(ref):
      if '#' in path:  # Ragged: signatures return dense tensors.
        continue
      key = path.split('/')[0]
      tol = spec['outputs'].get(key, {}).get('tolerance', 0.0)
      name, d = _signature_match(out, path, value, inferred)
      if name is None:
        over.append(f'no output for {path}')
        continue
      worst = max(worst, d)
      if d > tol:
        over.append(f'{name} vs {path} {d:.3g} > {tol:g}')
    return worst, over
  res = r.guard('serving_default equals __call__(training=False)', run)
  if res is not None:
    worst, over = res
    # Both run the same graph, but graph optimizations may order float ops
    # differently: allow the declared tolerance (0 for ids, exact outputs).
    r.ok(not over, 'serving_default equals __call__(training=False)',
         f'max abs diff {worst:.3g}', '; '.join(over[:3]),
         fail=WARN if inferred else FAIL)


def check_signatures_callable(r, obj, task):
  """Every signature runs on inputs generated from its own input specs."""
  from .infer import signature_inputs  # pylint: disable=g-import-not-at-top
  sigs = getattr(obj, 'signatures', None) or {}
  r.ok(bool(sigs), 'signatures exist', ', '.join(sorted(sigs)) or 'none')
  for name in sorted(sigs):
    sig = sigs[name]
    inputs = signature_inputs(sig, task)
    out = r.guard(f'signature {name} callable', lambda s=sig, i=inputs:
                  model_call(s, **i))
    if out is not None:
      shapes = ', '.join(f'{k} {list(np.shape(v))}'
                         for k, v in sorted(out.items()))
      r.add(PASS, f'signature {name} callable',
            f"inputs {', '.join(sorted(inputs)) or 'none'} -> {shapes}")


def check_training_mode(r, obj, spec, case):
  """Dropout/batch norm: training=True must actually differ where present."""
  if not spec.get('training_arg', True) or case is None:
    return
  fns = [f for f in obj.__call__.concrete_functions
         if True in f.structured_input_signature[0][1:] or
         f.structured_input_signature[1].get('training') is True]
  if not fns:
    return
  types = op_types(fns[0].graph)
  has_dropout = bool(types & {'RandomUniform', 'StatelessRandomUniformV2',
                              'StatelessRandomUniform', 'RandomUniformInt'})
  has_bn = bool(types & UPDATE_OPS)  # Moving statistics (graph.py).
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
  a = call(obj, case['inputs'], False, spec, case['kwargs'])
  b = call(obj, case['inputs'], True, spec, case['kwargs'])
  differs = any(not np.allclose(np.asarray(x), np.asarray(y))
                for (_, x), (_, y) in zip(leaves(a), leaves(b))
                if np.asarray(x).dtype.kind == 'f')
  what = ' and '.join(n for n, h in (('dropout', has_dropout),
                                     ('batch-norm updates', has_bn)) if h)
  r.ok(differs, 'training=True mode differs from inference',
       f'{what} in the graph; outputs {"differ" if differs else "identical"}',
       fail=WARN)

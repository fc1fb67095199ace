"""Fine-tuning controls: tunable hyper-parameters and variable groups.

Driven by the declared API (`spec['tunables']`, `spec['variable_groups']`):

  * each tunable is a keyword argument of the loaded `__call__` whose
    default is the declared (trained) value, and which every `training=True`
    trace takes as a tensor input (so no trace has another value baked in:
    omitting it is the declared value, bit for bit);
  * `training=False` outputs do not depend on it;
  * a different value really changes training behaviour. Dropout is not
    visible as zeros at the outputs (layer norm follows it), so the checks
    measure how far `training=True` outputs move from `training=False`
    ones: with every rate 0 they are equal; a rate of 0.5 moves them; the
    omitted rate moves them as much as the default passed explicitly.
    Batch norm: one `training=True` call moves the moving statistics by
    `(1 - momentum) * (batch - moving)`, so momentum m moves them
    `(1 - m) / (1 - default)` times as far as the default, and passing the
    default gives bit-identical statistics to omitting it;
  * all of it also through `hub.KerasLayer(..., arguments=dict(...))`;
  * `variable_groups`: named groups, bottom to top, partitioning the
    trainable variables (what "fine-tune only the top k groups" needs).
"""

import inspect
import re

import numpy as np
import tensorflow as tf

from .cases import leaves
from .graph import op_types
from .reusable import compare
from .report import FAIL, PASS, WARN

# The dropout rate that must visibly change training outputs, and the
# factor within which the omitted and explicit default rates must move them
# alike (both run the same function; only the random masks differ).
HIGH_RATE = 0.5
SAME_RANDOM_FACTOR = 2.0
# Relative mean squared change below which outputs count as unchanged (float
# noise of the same graph is ~1e-12).
NOISE = 1e-6
CALLS = 3  # Random training calls averaged per dropout measurement.


def _as_tensors(values):
  """Tunable values as float32 scalar tensors, as the traces take them.

  A loaded function traces a new wrapper for every new Python float it is
  passed, and the runtime then optimizes the whole model's graph again for
  it (about 1 s per value at BERT-base); tensors share one wrapper. The
  Python-float path users take is checked by `check_keras_layer_arguments`
  and `hub.KerasLayer(arguments=)`.
  """
  return {k: tf.constant(v, tf.float32) for k, v in values.items()}


def _moving(obj):
  return [v for v in getattr(obj, 'variables', [])
          if re.search(r'moving_(mean|variance)', v.name)]


class _Restoring:
  """Snapshots the non-trainable variables; `restore()` puts them back."""

  def __init__(self, obj):
    trainable = {id(v) for v in getattr(obj, 'trainable_variables', [])}
    self.variables = [v for v in getattr(obj, 'variables', [])
                      if id(v) not in trainable]
    self.saved = [v.numpy() for v in self.variables]

  def restore(self):
    for v, value in zip(self.variables, self.saved):
      v.assign(value)


def _float_outputs(out):
  return [np.asarray(v, np.float64) for _, v in leaves(out)
          if hasattr(v, 'dtype') and v.dtype.is_floating]


def _deviation(train, infer):
  """Mean squared difference of training from inference outputs, relative
  to the outputs' mean square (0: dropout inactive)."""
  num = den = 0.0
  for a, b in zip(_float_outputs(train), _float_outputs(infer)):
    num += float(np.mean((a - b) ** 2))
    den += float(np.mean(b ** 2)) or 1.0
  return num / den


def _defaults(obj):
  try:
    params = inspect.signature(obj.__call__).parameters
  except (TypeError, ValueError):
    return {}
  return {k: p.default for k, p in params.items()
          if p.default is not inspect.Parameter.empty}


def _training_traces(obj):
  """[{parameter name: spec or value}] of the training=True traces."""
  try:
    names = list(inspect.signature(obj.__call__).parameters)
  except (TypeError, ValueError):
    names = []
  fns = []
  for f in getattr(obj.__call__, 'concrete_functions', []):
    args, kwargs = f.structured_input_signature
    bound = dict(zip(names, args), **kwargs)
    if bound.get('training') is True:
      fns.append(bound)
  return fns


def check_tunables(r, saved_model_unused, obj, spec, cases):
  """The declared tunable values of the root `__call__` (see module doc)."""
  tunables = spec.get('tunables') or {}
  if not tunables or not cases:
    return
  case = max(cases, key=lambda c: sum(
      int(np.prod(np.shape(t))) for t in tf.nest.flatten(c['inputs'])))
  x = case['inputs']
  kw = dict(case['kwargs'] or {})

  # Declared in the loaded signature, with the trained value as default,
  # and a tensor input of every training=True trace.
  defaults = _defaults(obj)
  traces = _training_traces(obj)
  for name, t in tunables.items():
    got = defaults.get(name)
    r.ok(got is not None and float(got) == float(t['default']),
         f'tunable {name} defaults to the trained value',
         f'{t["default"]:g}' if got is not None and float(got) == float(
             t['default']) else f'default {got!r}, declared {t["default"]}')
    baked = [i for i, bound in enumerate(traces)
             if not isinstance(bound.get(name), tf.TensorSpec)]
    r.ok(traces and not baked, f'tunable {name} is an input of every '
         'training=True trace', f'{len(traces)} traces',
         f'{len(baked)} take no {name} tensor: a call omitting it may run '
         'a trace with another value baked in' if baked else
         'no training=True trace')

  keep = _Restoring(obj)
  infer = obj(x, training=False, **kw)
  # Inference does not depend on the values.
  probe = {n: (HIGH_RATE if t['kind'] == 'dropout' else 0.5)
           for n, t in tunables.items()}
  other = obj(x, training=False, **kw, **_as_tensors(probe))
  worst, over = compare(infer, other, spec, exact_other=True)
  moved = [v.name for v, s in zip(keep.variables, keep.saved)
           if not np.array_equal(v.numpy(), s)]
  keep.restore()
  r.ok(not over and not moved, 'tunables leave training=False unchanged',
       f'max abs diff {worst:.3g} with {probe}',
       '; '.join(over[:3]) + (f' variables changed: {moved[:3]}'
                              if moved else ''))

  dropout = {n: t for n, t in tunables.items() if t['kind'] == 'dropout'}
  momentum = {n: t for n, t in tunables.items()
              if t['kind'] == 'batch_norm_momentum'}
  if dropout:
    _check_dropout(r, obj, spec, x, kw, infer, dropout, keep)
  for name, t in momentum.items():
    _check_momentum(r, obj, x, kw, name, float(t['default']), keep)
  keep.restore()


def _mean_deviation(obj, x, kw, infer, keep, calls, **values):
  devs = []
  for _ in range(calls):
    devs.append(_deviation(obj(x, training=True, **kw,
                               **_as_tensors(values)), infer))
    keep.restore()
  return float(np.mean(devs))


def _check_dropout(r, obj, spec, x, kw, infer, dropout, keep):
  zero = {n: 0.0 for n in dropout}
  train = obj(x, training=True, **kw, **_as_tensors(zero))
  keep.restore()
  worst, over = compare(train, infer, spec, exact_other=True)
  r.ok(not over, 'dropout rates 0: training=True equals training=False',
       f'max abs diff {worst:.3g}', '; '.join(over[:3]))
  base = _deviation(train, infer)  # Float noise only, if the rates act.
  for name in dropout:
    dev = _mean_deviation(obj, x, kw, infer, keep, 1,
                          **dict(zero, **{name: HIGH_RATE}))
    r.ok(dev > max(NOISE, 10 * base),
         f'{name}={HIGH_RATE} changes training=True outputs',
         f'relative mean squared change {dev:.3g} ({base:.3g} with every '
         'rate 0)')
  explicit = {n: float(t['default']) for n, t in dropout.items()}
  if not any(explicit.values()):  # Trained without dropout.
    omitted = obj(x, training=True, **kw)
    keep.restore()
    worst, over = compare(omitted, infer, spec, exact_other=True)
    r.ok(not over, 'dropout omitted equals the trained rates (0)',
         f'training=True vs training=False: max abs diff {worst:.3g}',
         '; '.join(over[:3]))
    return
  omitted = _mean_deviation(obj, x, kw, infer, keep, CALLS)
  given = _mean_deviation(obj, x, kw, infer, keep, CALLS, **explicit)
  ratio = omitted / given if given else float('inf')
  r.ok(given > 0 and 1 / SAME_RANDOM_FACTOR <= ratio <= SAME_RANDOM_FACTOR,
       'dropout omitted acts as the trained rates passed explicitly',
       f'relative mean squared change {omitted:.3g} omitted vs {given:.3g} '
       f'with {explicit} (ratio {ratio:.2f}, allowed '
       f'{1 / SAME_RANDOM_FACTOR:g}..{SAME_RANDOM_FACTOR:g})')


def _check_momentum(r, obj, x, kw, name, default, keep):
  moving = _moving(obj)
  if not r.ok(bool(moving), f'{name}: batch-norm moving statistics exist',
              f'{len(moving)} variables'):
    return
  before = [v.numpy() for v in moving]

  def update(**values):
    obj(x, training=True, **kw, **_as_tensors(values))
    after = [v.numpy() for v in moving]
    keep.restore()
    return after

  omitted = update()
  # Stochastic depth or dropout ahead of a batch norm make its batch
  # statistics, and so its update, differ from call to call: compare only
  # the statistics two identical calls update identically.
  stable = _stable(omitted, update())
  if _random_training(obj) or len(stable) < len(moving):
    # Random layers in training mode (stochastic depth, dropout): identical
    # calls may or may not drop the same units, so no update is comparable
    # between calls, even where two happened to agree. Momentum 1 is: it must leave every statistic as it was.
    frozen = update(**{name: 1.0})
    r.ok(all(np.array_equal(a, b) for a, b in zip(frozen, before)),
         f'{name}=1 leaves the moving statistics unchanged',
         f'{len(moving)} statistics after one training=True call')
    r.add(WARN, f'{name} omitted equals the trained value bit for bit',
          'not compared', 'moving-statistics updates differ between two '
          'identical training=True calls (random layers ahead)')
    return
  pick = lambda xs: [xs[i] for i in stable]
  omitted, before = pick(omitted), pick(before)
  given = pick(update(**{name: default}))
  same = all(np.array_equal(a, b) for a, b in zip(omitted, given))
  r.ok(same, f'{name} omitted equals the trained value bit for bit',
       f'moving statistics after one training=True call, {default:g} '
       f'passed vs omitted ({len(stable)} of {len(moving)} statistics '
       'updated deterministically)')
  other = 0.5 if abs(default - 0.5) > 0.1 else 0.9
  moved = pick(update(**{name: other}))
  d_default = sum(float(np.abs(a - b).sum()) for a, b in zip(omitted, before))
  d_other = sum(float(np.abs(a - b).sum()) for a, b in zip(moved, before))
  want = (1 - other) / (1 - default) if default != 1 else float('inf')
  got = d_other / d_default if d_default else float('inf')
  r.ok(d_default > 0 and abs(got / want - 1) < 0.01,
       f'{name}={other:g} changes the moving-statistics update',
       f'{got:.4g}x the update at {default:g} (expected '
       f'(1 - {other:g}) / (1 - {default:g}) = {want:.4g})')


_RANDOM_OPS = {'RandomUniform', 'RandomUniformInt', 'RandomStandardNormal',
               'StatelessRandomUniform', 'StatelessRandomUniformV2',
               'StatelessRandomNormalV2', 'StatelessRandomGetKeyCounter'}


def _random_training(obj):
  """Whether a training=True trace of `obj` draws random numbers (dropout,
  stochastic depth): then no two calls are comparable."""
  for f in getattr(obj.__call__, 'concrete_functions', []):
    args, kwargs = f.structured_input_signature
    if True in args[1:] or kwargs.get('training') is True:
      return bool(op_types(f.graph) & _RANDOM_OPS)
  return False


def _stable(a, b):
  """Indices of the arrays equal in both lists."""
  return [i for i, (x, y) in enumerate(zip(a, b)) if np.array_equal(x, y)]


def check_keras_layer_arguments(r, obj, spec, cases):
  """`hub.KerasLayer(obj, arguments=...)` passes the tunables (Python
  floats) in both training modes."""
  tunables = spec.get('tunables') or {}
  if not tunables or not cases:
    return
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  case = cases[0]
  x = case['inputs']
  kw = dict(case['kwargs'] or {})
  keep = _Restoring(obj)
  values = {n: (0.0 if t['kind'] == 'dropout' else
                (0.5 if abs(float(t['default']) - 0.5) > 0.1 else 0.9))
            for n, t in tunables.items()}
  layer = hub.KerasLayer(obj, trainable=True, arguments=dict(values, **kw))
  infer = obj(x, training=False, **kw)
  got_infer = layer(x, training=False)
  worst, over = compare(got_infer, infer, spec, exact_other=True)
  r.ok(not over, 'hub.KerasLayer(arguments=tunables) training=False',
       f'max abs diff {worst:.3g} from __call__ with them omitted',
       '; '.join(over[:3]))
  moving = _moving(obj)
  before = [v.numpy() for v in moving]
  got_train = layer(x, training=True)
  via_layer = [v.numpy() for v in moving]
  keep.restore()
  def direct_call():  # (Tensors: the values' effect, not floats', here.)
    obj(x, training=True, **kw, **_as_tensors(values))
    after = [v.numpy() for v in moving]
    keep.restore()
    return after
  direct = direct_call()
  # Only the statistics that identical calls update identically (see
  # _check_momentum).
  stable = _stable(direct, direct_call()) if moving else []
  if _random_training(obj) or len(stable) < len(moving):
    stable = []  # Random layers ahead (see _check_momentum): not comparable.
  via_layer = [via_layer[i] for i in stable]
  direct = [direct[i] for i in stable]
  before = [before[i] for i in stable]
  moving = [moving[i] for i in stable]
  problems = []
  if any(t['kind'] == 'dropout' for t in tunables.values()) and not moving:
    worst, over = compare(got_train, infer, spec, exact_other=True)
    if over:
      problems.append('dropout rates 0 through arguments=, yet training '
                      'outputs differ from inference: ' + '; '.join(over[:2]))
  if moving and not all(np.array_equal(a, b)
                        for a, b in zip(via_layer, direct)):
    problems.append('moving statistics differ from __call__ with the same '
                    'values')
  if moving and all(np.array_equal(a, b) for a, b in zip(via_layer, before)):
    problems.append('training=True updated no moving statistics')
  r.ok(not problems, 'hub.KerasLayer(arguments=tunables) training=True',
       ', '.join(f'{k}={v:g}' for k, v in values.items()) + ' take effect',
       '; '.join(problems))


def check_variable_groups(r, obj, where, spec):
  """`obj.variable_groups`: named, non-empty groups partitioning the
  trainable variables, bottom to top."""
  if not spec.get('variable_groups'):
    return
  groups = list(getattr(obj, 'variable_groups', None) or [])
  if not r.ok(bool(groups), f'{where}.variable_groups exist',
              f'{len(groups)} groups'):
    return
  names, problems, seen = [], [], {}
  all_ids = {id(v) for v in obj.variables}
  trainable_ids = {id(v) for v in obj.trainable_variables}
  for i, g in enumerate(groups):
    name = getattr(g, 'name', None)
    name = (name.numpy().decode() if hasattr(name, 'numpy') and
            name.dtype == tf.string else None)
    if not name:
      problems.append(f'group {i} has no string `name`')
      name = f'#{i}'
    names.append(name)
    variables = list(getattr(g, 'variables', []))
    trainable = list(getattr(g, 'trainable_variables', []))
    if not variables:
      problems.append(f'{name} has no variables')
    for v in variables:
      if id(v) not in all_ids:
        problems.append(f'{name}: {v.name} not in {where}.variables')
      if id(v) in seen:
        problems.append(f'{v.name} in {seen[id(v)]} and {name}')
      seen[id(v)] = name
    for v in trainable:
      if id(v) not in trainable_ids:
        problems.append(f'{name}: {v.name} not in trainable_variables')
  missing = [v.name for v in obj.trainable_variables if id(v) not in seen]
  if missing:
    problems.append(f'{len(missing)} trainable variables in no group '
                    f'({", ".join(missing[:3])})')
  if len(set(names)) != len(names):
    problems.append('group names repeat')
  r.ok(not problems, f'{where}.variable_groups partition the variables',
       ', '.join(names), '; '.join(problems[:4]))

"""Keras 3 consumer checks: `keras.layers.TFSMLayer` on the export's endpoints.

Keras 3 and tf_keras cannot both be the Keras of one process, so these run in
a process of their own, without `TF_USE_LEGACY_KERAS`:

    python -I official/hub_export/checker --keras3 --saved_model=DIR \
        [--spec=spec.json --cases=cases.npz] [--task=...] --output=result.json

(`verify.py` starts it beside the tf_keras checker process and merges the two
reports). A Keras 3 user reaches a reusable SavedModel through TFSMLayer and
the endpoints the writer adds (`serve`, `call_training`, `<sub>_serve`, ...;
see writer.py). Checked, as such a user would build it: the endpoints exist;
the layer's `training=False` output equals the loaded object's
`__call__(training=False)` within each output's declared tolerance; its
weights are the object's trainable variables; `training=True` really runs
the training graph where the model has dropout or batch norm; the
regularization losses reach `model.losses` through the few-line subclass
the model cards show; one `fit` step moves the weights, and optimizers
with slot variables accept the weights' names; and, for float inputs, the
layer works under Keras 3's mixed-precision policies. Every layer built
here shares the one loaded object (`_one_copy`).
"""

import argparse
import contextlib
import json
import os
import re

import numpy as np
import tensorflow as tf

from .cases import load_cases
from .cli import peak_rss
from .files import check_self_contained
from .graph import UPDATE_OPS
from .graph import op_types
from .infer import TASKS
from .infer import generate_cases
from .infer import infer_spec
from .report import PASS, WARN, ModelError, Report, without_graph_rewrites
from .report import write_result
from .reusable import call
from .reusable import check_subobjects
from .reusable import keep_statistics
from .reusable import compare
from .reusable import digests

# The endpoint names writer.py gives (Keras 3 conventions).
SERVE = 'serve'
CALL_TRAINING = 'call_training'
POLICIES = ('mixed_float16', 'mixed_bfloat16')
_RANDOM_OPS = {'RandomUniform', 'StatelessRandomUniformV2',
               'StatelessRandomUniform', 'RandomUniformInt'}


def layer_class():
  """TFSMLayer plus the exported regularization losses (as in the cards)."""
  import keras  # pylint: disable=g-import-not-at-top

  class RegularizedTFSMLayer(keras.layers.TFSMLayer):
    """Adds each of the SavedModel's `regularization_losses` while trainable
    (TFSMLayer itself ignores them); weight names without the ':0' of TF
    variable names, which optimizers with slots refuse (Adam: "... is not a
    valid scope name")."""

    def _add_existing_weight(self, weight):
      self._track_variable(keras.Variable(
          initializer=weight, trainable=weight.trainable, dtype=weight.dtype,
          shape=weight.shape,
          name=weight.name.split(':')[0].replace('/', '_')))

    def call(self, inputs, training=False):
      if self.trainable:
        for loss in self._reloaded_obj.regularization_losses:
          self.add_loss(loss())
      return super().call(inputs, training=training)

  return RegularizedTFSMLayer


def _consumer(fn):
  """fn(); an exception raised inside Keras or TensorFlow while it uses the
  model is the model's failure for Keras 3 users (a FAIL); one raised in
  this module's own code stays a checker error (an ERROR)."""
  import os  # pylint: disable=g-import-not-at-top
  import traceback  # pylint: disable=g-import-not-at-top
  try:
    return fn()
  except ModelError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    frames = traceback.extract_tb(e.__traceback__)
    here = os.path.dirname(os.path.abspath(__file__))
    if frames and os.path.dirname(os.path.abspath(
        frames[-1].filename)) == here:
      raise
    raise ModelError(e) from e


def _guard(r, name, fn):
  return r.guard(name, lambda: _consumer(fn))


def _float_inputs(spec):
  return any(s['dtype'] == 'float32' for s in spec['inputs']['specs'])


def _has_training_behaviour(fn):
  """Whether a traced `__call__(training=True)` has dropout or updates."""
  fns = [f for f in getattr(fn, 'concrete_functions', [])
         if True in f.structured_input_signature[0][1:] or
         f.structured_input_signature[1].get('training') is True]
  if not fns:
    return False
  return bool(op_types(fns[0].graph) & (_RANDOM_OPS | UPDATE_OPS))


def _differs(a, b):
  return any(np.asarray(x).dtype.kind == 'f' and
             not np.allclose(np.asarray(x), np.asarray(y))
             for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b)))


def check_endpoints(r, path, obj, spec, cases, prefix='', target=None,
                    required=True):
  """TFSMLayer on `<prefix>serve` / `<prefix>call_training` of the root.

  Without the endpoints a Keras 3 user can only serve the model
  (`TFSMLayer(path, call_endpoint='serving_default')`): a FAIL for our own
  exports (`required`), a WARN for anyone else's.
  """
  target = obj if target is None else target
  where = f'Keras 3 TFSMLayer({prefix}{SERVE})'
  training_arg = spec.get('training_arg', True)
  trainable = spec.get('trainable', True) and bool(
      getattr(target, 'trainable_variables', []))
  names = [prefix + SERVE] + ([prefix + CALL_TRAINING] if training_arg else [])
  missing = [n for n in names if not hasattr(obj, n)]
  if missing and not required:
    r.add(WARN, f'Keras 3 endpoints {", ".join(names)} exist',
          'missing: ' + ', '.join(missing), 'Keras 3 users get inference '
          "only: TFSMLayer(path, call_endpoint='serving_default')")
    return
  if not r.ok(not missing, f'Keras 3 endpoints {", ".join(names)} exist',
              'missing: ' + ', '.join(missing) if missing else 'present',
              'TFSMLayer needs tf.function attributes taking the input '
              'positionally (writer.py adds them)' if missing else ''):
    return
  cls = layer_class()
  layer = _guard(r, f'{where} builds', lambda: cls(
      path, call_endpoint=prefix + SERVE,
      call_training_endpoint=prefix + CALL_TRAINING if training_arg else None,
      trainable=trainable))
  if layer is None:
    return
  case = cases[0]
  inputs = case['inputs']
  ref = call(target, inputs, False, spec, case['kwargs'])
  out = _guard(r, f'{where} call(training=False)',
                lambda: layer(inputs, training=False))
  if out is None:
    return
  worst, over = compare(out, ref, spec, exact_other=True)
  r.ok(not over, f'{where} output equals hub.load output',
       f'max abs diff {worst:.3g}', '; '.join(over[:3]))
  if not trainable:
    return
  n_train = len(target.trainable_variables)
  r.ok(len(layer.trainable_weights) == n_train,
       f'{where} trainable weights',
       f'{len(layer.trainable_weights)} (object has {n_train})')
  if training_arg:  # (The layer has variables of its own: updates stay there.)
    def both():
      with keep_statistics(target):  # (The layer shares target's weights.)
        return layer(inputs, training=True), layer(inputs, training=False)
    got = _guard(r, f'{where} call(training=True)', both)
    if got is not None and _has_training_behaviour(target.__call__):
      # Only where the object's own training=True call differs on this
      # input (dropout/batch norm visible in the outputs) must the layer's.
      own = _differs(call(target, inputs, True, spec, case['kwargs']),
                     call(target, inputs, False, spec, case['kwargs']))
      r.ok(_differs(*got) or not own,
           f'{where} training=True uses the training graph',
           'outputs differ from training=False (dropout/batch norm active)'
           if _differs(*got) else 'identical to training=False' + (
               '' if own else ', as __call__(training=True) on this input'),
           f'the `{prefix}{CALL_TRAINING}` endpoint does not run '
           '__call__(training=True)')
  # The subclass adds the root's losses (TFSMLayer loads the root).
  n_reg = len(getattr(obj, 'regularization_losses', []))
  losses = [float(np.asarray(l)) for l in layer.losses]
  r.ok(len(losses) == n_reg and all(np.isfinite(losses)),
       f'{where} regularization losses reach layer.losses',
       f'{len(losses)} finite of {n_reg} exported')
  if not prefix:  # The caller runs it last: it moves the shared weights.
    def fit():
      with without_graph_rewrites():
        _fit_step(r, where, layer, spec, case, n_reg)
    return lambda: _guard(r, f'{where} fit step', fit)


def _fit_step(r, where, layer, spec, case, n_reg):
  """One Keras 3 `fit` step through the layer changes its weights.

  Plain SGD: its step needs no slot variables (Adam's two would hold twice
  the weights again, and Keras 3 traces Adam's update variable by variable,
  which dominates the step for a large model: docs/measurements/
  benchmarks.md, "Verification cost"). What slots need, valid names, is
  checked by `_slot_names`.
  """
  import keras  # pylint: disable=g-import-not-at-top
  inputs = case['inputs']
  if isinstance(inputs, dict):
    kin = {k: keras.Input(shape=v.shape[1:], dtype=v.dtype.name, name=k)
           for k, v in inputs.items()}
  else:
    kin = keras.Input(shape=inputs.shape[1:], dtype=inputs.dtype.name)
  out = layer(kin)
  if isinstance(out, dict):
    keys = [k for k in ('default', 'pooled_output') if k in out] or [
        k for k, v in spec['outputs'].items() if v['kind'] != 'ids' and
        not isinstance(out.get(k), (list, tuple, type(None)))]
    out = out[keys[0]]
  if len(out.shape) != 2:
    out = keras.layers.Flatten()(out) if len(out.shape) > 2 else (
        keras.layers.Reshape((-1,))(out))
  head = keras.layers.Dense(1, kernel_initializer='ones')(out)
  model = keras.Model(kin, head)
  model.compile(optimizer=keras.optimizers.SGD(1e-3), loss='mse')
  before = digests(layer.trainable_weights)
  batch = int(tf.nest.flatten(inputs)[0].shape[0])
  model.fit(inputs, np.ones([batch, 1], np.float32), epochs=1, verbose=0,
            batch_size=batch)
  changed = sum(a != b for a, b in zip(before,
                                        digests(layer.trainable_weights)))
  r.ok(changed > 0, f'{where} fit step updates weights',
       f'{changed} of {len(before)} weights changed')
  if n_reg:
    model(inputs, training=True)
    r.ok(len(model.losses) == n_reg, f'{where} losses reach model.losses',
         f'{len(model.losses)} of {n_reg}')
  _guard(r, f'{where} Adam slot names', lambda: _slot_names(r, where, layer))


# Characters a TensorFlow name scope accepts (Keras 3 optimizers open one
# per slot variable, named after its weight).
_SCOPE_CHARS = re.compile(r'^[A-Za-z0-9_.\\/>-]*$')


def _slot_names(r, where, layer):
  """An optimizer with slots (Adam, as users fine-tune with) accepts the
  layer's weight names.

  Keras 3 names each slot after its weight ('<weight>_momentum') inside a
  name scope, and refuses names a scope cannot have (the ':0' of TF
  variable names: '... is not a valid scope name'). One Adam `fit` step on
  stand-in weights of shape [1] named like the layer's: every weight whose
  name has a character outside the scope alphabet, and the first, so that
  the path runs without holding two more copies of the weights.
  """
  import keras  # pylint: disable=g-import-not-at-top
  names = [w.name for w in layer.trainable_weights]
  odd = [n for n in names if not _SCOPE_CHARS.match(n)]
  picked = list(dict.fromkeys(names[:1] + odd[:15]))

  class StandIns(keras.layers.Layer):
    def __init__(self):
      super().__init__(name='stand_ins')
      self.ws = [self.add_weight(shape=(1,), name=n, initializer='ones')
                 for n in picked]

    def call(self, x):
      return x * tf.add_n([tf.reduce_sum(w) for w in self.ws])

  x = keras.Input([1])
  model = keras.Model(x, StandIns()(x))
  model.compile(optimizer=keras.optimizers.Adam(1e-3), loss='mse')
  try:
    model.fit(np.ones([1, 1], np.float32), np.zeros([1, 1], np.float32),
              verbose=0)
  except ValueError as e:
    raise ModelError(e) from e
  r.add(PASS, f'{where} Adam slot names',
        f'{len(names)} weight names, {len(odd)} outside the name-scope '
        'alphabet; Adam steps on stand-ins named like '
        f'{len(picked)} of them')


def check_mixed_precision(r, path, obj, spec, case):
  """TFSMLayer under Keras 3's mixed policies (float inputs only)."""
  import keras  # pylint: disable=g-import-not-at-top
  if not _float_inputs(spec):
    return
  inputs = case['inputs']
  training_arg = spec.get('training_arg', True)
  for policy in POLICIES:
    half = policy.split('_')[1]
    def run(policy=policy, half=half):
      keras.config.set_dtype_policy(policy)
      try:
        layer = keras.layers.TFSMLayer(
            path, call_training_endpoint=CALL_TRAINING if training_arg
            else None, trainable=spec.get('trainable', True))
        out = layer(inputs, training=False)
        if training_arg:
          with keep_statistics(obj):
            layer(inputs, training=True)
      finally:
        keras.config.set_dtype_policy('float32')
      # The layer rounds float inputs to the policy's dtype; the export
      # computes in float32 from there.
      rounded = tf.nest.map_structure(
          lambda t: tf.cast(tf.cast(t, half), tf.float32)
          if t.dtype == tf.float32 else t, inputs)
      ref = call(obj, rounded, False, spec, case['kwargs'])
      worst, over = compare(out, ref, spec, exact_other=True)
      dtypes = sorted({t.dtype.name for t in tf.nest.flatten(out)})
      r.ok(not over, f'Keras 3 TFSMLayer under {policy}',
           f'outputs {"/".join(dtypes)}, max abs diff {worst:.3g} from the '
           f'float32 call on {half}-rounded inputs', '; '.join(over[:3]))
    _guard(r, f'Keras 3 TFSMLayer under {policy}', run)


def _unregistered_ops(saved_model):
  """Op types of the SavedModel's graphs this process has not registered."""
  import os  # pylint: disable=g-import-not-at-top
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow.python.framework import op_def_registry  # pylint: disable=g-direct-tensorflow-import,g-import-not-at-top
  proto = saved_model_pb2.SavedModel()
  try:
    with open(os.path.join(saved_model, 'saved_model.pb'), 'rb') as f:
      proto.ParseFromString(f.read())
  except (OSError, ValueError):
    return set()
  types = set()
  for graph in proto.meta_graphs:
    types.update(n.op for n in graph.graph_def.node)
    for fn in graph.graph_def.library.function:
      types.update(n.op for n in fn.node_def)
  names = {fn.signature.name for graph in proto.meta_graphs
           for fn in graph.graph_def.library.function}
  return {t for t in types - names if op_def_registry.get(t) is None}


def run_checks(saved_model, spec=None, cases=None, task='custom',
               split=False):
  """All Keras 3 checks; returns (Report, info dict). `split`: also what
  the tf_keras process leaves with `--split`: the sub-objects' reusable-API
  and numerical checks (`reusable.check_object`) and the re-save round
  trip (`files.check_self_contained`)."""
  import keras  # pylint: disable=g-import-not-at-top
  if _unregistered_ops(saved_model):
    try:  # A preprocessor's ops (importing it always costs seconds).
      import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
    except ImportError:
      pass
  r = Report()
  info = {'keras_version': keras.__version__}
  if not r.ok(keras.__version__.startswith('3.'), 'Keras 3 process',
              f'keras {keras.__version__}'):
    return r, info
  obj = _guard(r, 'Keras 3 tf.saved_model.load',
                lambda: tf.saved_model.load(saved_model))
  if obj is None:
    return r, info
  with _one_copy(saved_model, obj):
    _checks(r, saved_model, obj, spec, cases, task, split)
  return r, info


@contextlib.contextmanager
def _one_copy(saved_model, obj):
  """Every TFSMLayer built here gets `obj` instead of loading the
  SavedModel again: one copy of the weights in this process, however many
  layers (serve, mlm_serve, the mixed-precision ones) the checks build.
  The checks that train (the fit step) run last on each object."""
  load = tf.saved_model.load
  here = os.path.realpath(saved_model)

  def shared(path, *args, **kwargs):
    if not args and not kwargs and os.path.realpath(path) == here:
      return obj
    return load(path, *args, **kwargs)

  tf.saved_model.load = shared
  try:
    yield
  finally:
    tf.saved_model.load = load


def _checks(r, saved_model, obj, spec, cases, task, split=False):
  """The checks of run_checks on the loaded object."""
  if spec is None:
    if not hasattr(obj, '__call__'):
      return  # The tf_keras process reports it.
    spec = infer_spec(obj, task)
    cases = generate_cases(spec)
    if not all(hasattr(obj, n) for n in (SERVE, CALL_TRAINING)):
      check_endpoints(r, saved_model, obj, spec, cases, required=False)
      return
  by_target = {}
  for c in cases:
    by_target.setdefault(c['target'], []).append(c)
  first = (by_target.get('') or [None])[0]
  fit = None
  # (A missing sub-object is the tf_keras process's FAIL.)
  if first is not None:
    fit = _guard(r, 'Keras 3 root checks', lambda: check_endpoints(
        r, saved_model, obj, spec, by_target['']))
    for name, sub in spec.get('subobjects', {}).items():
      if (sub.get('training_arg', True) and by_target.get(name) and
          not sub['inputs'].get('list')):
        _guard(r, f'Keras 3 {name} checks', lambda n=name, s=sub:
               check_endpoints(r, saved_model, obj, s, by_target[n],
                               prefix=f'{n}_', target=getattr(obj, n)))
    _guard(r, 'Keras 3 mixed precision', lambda: check_mixed_precision(
        r, saved_model, obj, spec, first))
  if split:  # Before the fit step, which moves the shared weights.
    check_subobjects(r, obj, spec, by_target)
    r.guard('self-contained', lambda: check_self_contained(
        r, saved_model, obj, spec, first))
  if fit is not None:
    fit()


def main(argv=None):
  p = argparse.ArgumentParser(
      description='Checks a TF2 SavedModel as a Keras 3 TFSMLayer user.')
  p.add_argument('--saved_model', required=True)
  p.add_argument('--spec')
  p.add_argument('--cases')
  p.add_argument('--task', default=None, choices=TASKS)
  p.add_argument('--output')
  p.add_argument('--json', action='store_true')
  p.add_argument('--split', action='store_true',
                 help='also the sub-objects\' numerical checks and the '
                 're-save round trip (the tf_keras process leaves them)')
  p.add_argument('--allow_ops', default='',
                 help='(the op scan ran in the tf_keras process and before)')
  args = p.parse_args(argv)
  tf.get_logger().setLevel('ERROR')
  spec = cases = None
  if args.spec:
    with open(args.spec) as f:
      spec = json.load(f)
  if args.cases:
    cases = load_cases(args.cases)
  r, info = run_checks(args.saved_model, spec, cases, args.task or 'custom',
                       split=args.split)
  info['peak_rss_bytes'] = peak_rss()
  result = r.result(info)
  if args.output:
    write_result(args.output, result, r.lines())
  if args.json:
    print(json.dumps(result, indent=1, default=str))
  else:
    for line in r.lines():
      print(line)
  return 1 if r.failed or r.errors else 0


"""The reusable SavedModel writer: the one place where SavedModels are written.

A reusable SavedModel (https://www.tensorflow.org/hub/reusable_saved_models)
is an object with

    obj.__call__(inputs, training=False)   # traced for training=True and False
    obj.variables                          # every variable (BN moving stats too)
    obj.trainable_variables                # subset of variables
    obj.regularization_losses              # no-argument tf.functions -> scalar
    obj.<sub>                              # e.g. .mlm, with the same interface

plus a `serving_default` signature equal to `__call__(training=False)`.
Optional fine-tuning controls: `__call__(..., dropout_rate=0.05)` for the
spec's `tunables` (`tunable_call`), and `obj.variable_groups`, the variables
in named groups bottom to top (`add_variable_groups`).

`write` also adds, for every recipe, what other consumers need (thin
functions over the traces above, never a second trace of the model):

    obj.serve(inputs)           # = __call__(inputs) (training=False)
    obj.call_training(inputs)   # = __call__(inputs, training=True)
    obj.<sub>_serve, obj.<sub>_call_training   # the same for sub-objects
                                               # with `training` (e.g. .mlm)

  Keras 3's `keras.layers.TFSMLayer(path, call_endpoint='serve',
  call_training_endpoint='call_training', trainable=True)` calls them with
  its input positionally (a dict input as one dict); `serve` is the name of
  Keras 3 `model.export()`'s endpoint and TFSMLayer's default, and
  `call_training` the training endpoint of Keras' `ExportArchive` examples.
  `serve` is `__call__` itself under a second name (its `training` defaults
  to False), so it adds nothing to saved_model.pb; `call_training` is one
  small function per input dtype.
  Objects without `training` (preprocessors) get `serve` only. Sub-objects
  carry `serve`/`call_training` themselves too (`obj.mlm.serve`); the root
  aliases (`mlm_serve`) are there because TFSMLayer only looks endpoints up
  on the root.

  When an object takes float32 inputs, `__call__` is also traced for
  float16 and bfloat16 inputs (as tf_keras's and Keras 3's mixed-precision
  policies pass them): those traces cast the inputs to float32 and call the
  float32 trace, so the model computes in float32 and its outputs stay
  float32.

Two ways to build one:
  * `from_keras(model, spec)`: wraps a tf_keras model or layer. Only its
    variables and traced functions are saved, not the Keras object graph;
    Keras `model.save()` also writes the Keras object graph: a larger
    `saved_model.pb` and a slower `hub.load` for the same weights
    (`benchmarks/writer_vs_keras_save.py` measures both side by side;
    docs/measurements/benchmarks.md, "Our writer vs Keras `model.save()`").
    Weight regularizers of every layer become `regularization_losses`.
  * Low level: subclass `Reusable` (a `tf.train.Checkpoint`), set the
    attributes yourself and give it a `tf.function` `__call__`.

`write(obj, export_dir, spec)` traces what the spec declares and saves.
Nothing here knows about optimizers, so none is ever exported.

Functions are traced without AutoGraph (`autograph=False`): Keras and Model
Garden layers branch on Python values only, and converting every layer's
`call` to AutoGraph code is a large share of tracing a BERT for the same
graph (docs/measurements/benchmarks.md, "Fixed: AutoGraph conversion of every
layer"). A model whose Python code branches or loops on
tensor values fails to trace with a clear error; pass `autograph=True` to
`reusable`/`from_keras` for it. Build such models under `no_autograph()` too,
so that Keras does not convert their layers while building functional
models.
"""

import contextlib
import functools
import inspect
import math
import os
import shutil
import weakref
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple

import tensorflow as tf
from tensorflow.python.autograph.core import ag_ctx  # pylint: disable=g-direct-tensorflow-import
from tensorflow.python.framework import tensor as tensor_lib  # pylint: disable=g-direct-tensorflow-import
from tensorflow.python.saved_model import save_context  # pylint: disable=g-direct-tensorflow-import
from tensorflow.python.util import nest  # pylint: disable=g-direct-tensorflow-import

from official.hub_export import spec as spec_lib


class Reusable(tf.__internal__.tracking.AutoTrackable):
  """Root (or sub-object) of a reusable SavedModel.

  An AutoTrackable (what `tf.saved_model.save` tracks attribute by attribute)
  rather than a `tf.Module`, whose `variables`/`trainable_variables` are
  computed properties that cannot be assigned and are not restored as
  attributes by `hub.load`; and rather than a `tf.train.Checkpoint`, which
  adds a stray `save_counter` variable to the export.
  """


def reusable(call: Callable[..., Any],
             variables: Sequence[tf.Variable],
             trainable_variables: Sequence[tf.Variable],
             regularization_losses: Sequence[Callable[[], tf.Tensor]] = (),
             track: Optional[Mapping[str, Any]] = None,
             autograph: bool = False,
             **attributes) -> Reusable:
  """Builds an export object from a call function and its variables.

  Args:
    call: `call(inputs, training)` (or `call(inputs)` when the spec says
      `training_arg=False`), returning a tensor or a dict of tensors.
    variables: every variable `call` reads.
    trainable_variables: the subset to fine-tune.
    regularization_losses: no-argument callables returning scalar losses;
      each becomes a `tf.function` with an empty input signature.
    track: further trackables the graph needs (lookup tables, Keras layers
      owning them, sub-objects), saved under these attribute names.
    autograph: convert `call` with AutoGraph (only needed when its Python
      code branches or loops on tensor values; see the module doc).
    **attributes: plain values to keep (e.g. `do_lower_case=tf.Variable`)
      or `tf.saved_model.Asset`s.
  """
  obj = Reusable()
  all_ids = {id(v) for v in variables}
  stray = [v.name for v in trainable_variables if id(v) not in all_ids]
  if stray:
    raise ValueError(f'trainable variables missing from variables: {stray}')
  obj.variables = list(variables)
  obj.trainable_variables = list(trainable_variables)
  _mark_frozen(obj.variables, obj.trainable_variables)
  obj.regularization_losses = [
      tf.function(_scalar(loss), input_signature=[], autograph=False)
      for loss in regularization_losses]
  obj.__call__ = tf.function(call, autograph=autograph)
  for name, value in (track or {}).items():
    setattr(obj, name, value)
  for name, value in attributes.items():
    setattr(obj, name, value)
  return obj


def _mark_frozen(variables, trainable_variables) -> None:
  """Saves the variables left out of `trainable_variables` as not trainable.

  Consumers that list the variables a function uses (Keras 3's TFSMLayer)
  tell trainable ones by each variable's own `trainable` flag, which a
  framework may leave True for a frozen weight (a Keras 3 layer with
  `trainable = False` keeps its backing tf.Variable trainable).
  """
  trainable = {id(v) for v in trainable_variables}
  for v in variables:
    if id(v) not in trainable and getattr(v, 'trainable', False) and \
        hasattr(v, '_trainable'):
      v._trainable = False  # pylint: disable=protected-access


@contextlib.contextmanager
def no_autograph():
  """Builds (Keras functional) models without AutoGraph conversion.

      with restore.skip_initializers(), writer.no_autograph():
        encoder, pretrainer = build(cfg)

  Building a functional model calls every subclassed layer symbolically, and
  tf_keras converts each `call` with AutoGraph unless the enclosing context
  disables it. The writer traces without AutoGraph, so that conversion is
  wasted (docs/measurements/benchmarks.md, "Fixed: AutoGraph conversion of every
  layer").
  """
  with ag_ctx.ControlStatusCtx(status=ag_ctx.Status.DISABLED):
    yield


def keras_regularization_losses(model) -> list:
  """The weight-regularizer losses of every layer of a tf_keras model, as
  no-argument callables (one per regularized weight)."""
  losses = []
  layers = (model._flatten_layers(include_self=True, recursive=True)  # pylint: disable=protected-access
            if hasattr(model, '_flatten_layers') else [model])
  for layer in layers:
    losses.extend(getattr(layer, '_callable_losses', []))
  return losses


def from_keras(model, call: Optional[Callable[..., Any]] = None,
               variables: Optional[Sequence[tf.Variable]] = None,
               trainable_variables: Optional[Sequence[tf.Variable]] = None,
               regularization_losses: Optional[Sequence[Callable]] = None,
               **kwargs) -> Reusable:
  """Wraps a tf_keras model/layer (built) as a reusable export object.

  Args:
    model: the tf_keras model or layer to share (already restored).
    call: optional `call(inputs, training)`; default
      `model(inputs, training=training)`. Use it to select or rename outputs
      (e.g. add `default`), never to apply a softmax.
    variables, trainable_variables, regularization_losses: default to the
      model's own.
    **kwargs: passed to `reusable` (track=, autograph=, attributes).
  """
  if not model.built:
    raise ValueError(f'{model.name} is not built; call it once before export')
  if call is None:
    call = lambda inputs, training=False: model(inputs, training=training)
  return reusable(
      call,
      variables=list(model.variables if variables is None else variables),
      trainable_variables=list(model.trainable_variables
                               if trainable_variables is None
                               else trainable_variables),
      regularization_losses=(keras_regularization_losses(model)
                             if regularization_losses is None
                             else regularization_losses),
      **kwargs)


def _scalar(loss):
  def fn():
    return tf.reshape(tf.cast(loss(), tf.float32), [])
  return fn


def _trace(obj, spec: spec_lib.ExportSpec, where: str):
  """Traces `obj.__call__` as declared; returns the training=False function."""
  call = getattr(obj, '__call__', None)
  if not isinstance(call, tf.types.experimental.PolymorphicFunction):
    raise TypeError(f'{where}.__call__ must be a tf.function')
  for attr in ('variables', 'trainable_variables', 'regularization_losses'):
    if not hasattr(obj, attr) and spec.trainable:
      raise TypeError(f'{where} lacks `{attr}` (required by the reusable API)')
  _check_tunables(call, spec, where)
  _check_variable_groups(obj, spec, where)
  # Tunable values are scalar tensor inputs of the same two traces, so the
  # loaded function converts a Python float (or the omitted default) to them.
  tunables = tunable_specs(spec)
  try:
    for inputs, kwargs in spec.traces:  # Further declared variants.
      inputs, kwargs = _named(call, inputs, dict(kwargs, **tunables))
      if spec.training_arg:
        call.get_concrete_function(inputs, training=True, **kwargs)
        call.get_concrete_function(inputs, training=False, **kwargs)
      else:
        call.get_concrete_function(inputs, **kwargs)
    inputs, kwargs = _named(call, spec.inputs, tunables)
    if spec.training_arg:
      call.get_concrete_function(inputs, training=True, **kwargs)
      return call.get_concrete_function(inputs, training=False, **kwargs)
    return call.get_concrete_function(inputs, **kwargs)
  except tf.errors.OperatorNotAllowedInGraphError as e:
    raise TypeError(
        f'{where}.__call__ branches or loops on a tensor value, which needs '
        'AutoGraph: build it with writer.reusable(..., autograph=True) or '
        f'writer.from_keras(..., autograph=True) ({e})') from e


# ---------------------------------------------------------------------------
# The source model, for the verification's sample outputs.

def source_graph(fn: Callable[..., Any], inputs=None) -> Callable[..., Any]:
  """`fn(inputs)`, the in-memory source model for verification, run as one
  graph as the export runs (eager execution orders some float ops
  differently). Traced once for every shape `inputs` (the API's input
  specs) allows, as the export is, not once per sample shape: each trace
  of BERT-base costs about 1.5 s, on the verification's critical path.
  Without `inputs`, traced per input shape."""
  return tf.function(fn, input_signature=None if inputs is None else [inputs],
                     autograph=False)


# ---------------------------------------------------------------------------
# Tunable hyper-parameters: `__call__(..., dropout_rate=0.05)`.

def tunable_call(call: Callable[..., Any],
                 targets: Mapping[str, Sequence[Tuple[Any, str]]]
                 ) -> Callable[..., Any]:
  """`call(inputs, training)` plus one keyword argument per tunable value.

      call = writer.tunable_call(call, {
          'dropout_rate': [(layer, 'rate') for layer in hidden_dropouts],
          'batch_norm_momentum': [(bn, 'momentum') for bn in norms]})

  While the returned function runs, it sets each `(object, attribute)` of a
  tunable to the value passed (during export: a float32 scalar tensor, the
  trace's input), then puts the old values back. So one trace per
  `training` value serves every value a consumer passes, and Keras layers
  that read the attribute in `call` (tf_keras `Dropout.rate`,
  `BatchNormalization.momentum`) use the tensor. Each argument's default is
  the attributes' current (trained/configured) value; they must agree, and
  the spec must declare the same (`spec.Tunable`). Wrap the call before
  `reusable`/`from_keras`.
  """
  defaults = {}
  for name, pairs in targets.items():
    values = sorted({float(getattr(o, a)) for o, a in pairs})
    if len(values) != 1:
      raise ValueError(f'tunable {name!r}: its {len(pairs)} targets hold '
                       f'different values {values} (or none): pass the '
                       'attributes that share one value')
    defaults[name] = values[0]
  params = list(inspect.signature(call).parameters.values())
  first = params[0].replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD)
  has_training = any(p.name == 'training' for p in params)
  sig = inspect.Signature(
      [first] +
      ([inspect.Parameter('training', inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          default=False)] if has_training else []) +
      [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                         default=d) for n, d in defaults.items()])

  def wrapped(*args, **kwargs):
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    a = dict(bound.arguments)
    old = [(o, attr, getattr(o, attr)) for name in defaults
           for o, attr in targets[name]]
    compact = []
    try:
      for name in defaults:
        for o, attr in targets[name]:
          setattr(o, attr, a[name])
        if tf.is_tensor(a[name]):
          compact += _compact_moving_averages(targets[name], a[name])
      if has_training:
        return call(a[first.name], training=a['training'])
      return call(a[first.name])
    finally:
      for o in compact:
        object.__delattr__(o, '_assign_moving_average')
      for o, attr, value in old:
        setattr(o, attr, value)

  wrapped.__signature__ = sig
  wrapped.__name__ = getattr(call, '__name__', 'call')
  return wrapped


def _compact_moving_averages(pairs, momentum) -> list:
  """Cheaper moving-statistics updates for a tensor batch-norm momentum.

  tf_keras's BatchNormalization keeps a Python-float momentum inside the
  fused kernel (one assign per statistic). With a tensor it builds the
  update itself: `1 - momentum`, a read, a subtraction, a product and an
  assign for every statistic (106 in ResNet-50). While tracing, each
  (tf_keras) layer of the pairs gets an update that computes the decay once
  for all layers and applies `moving -= decay * (moving - batch)` with one
  `ResourceApplyGradientDescent` per statistic: the same arithmetic in half
  the ops (docs/measurements/benchmarks.md, "Fine-tuning controls").
  Returns the layers changed (the caller removes the override).
  """
  layers = [o for o, attr in pairs if attr == 'momentum' and
            hasattr(type(o), '_assign_moving_average') and
            '_assign_moving_average' not in vars(o)]
  if not layers:
    return []
  decay = tf.subtract(1.0, tf.cast(momentum, tf.float32), name='decay')

  def update(layer):
    fallback = layer._assign_moving_average  # pylint: disable=protected-access

    def assign_moving_average(variable, value, momentum, inputs_size):
      if inputs_size is not None or not hasattr(variable, 'handle'):
        return fallback(variable, value, momentum, inputs_size)
      with tf.name_scope('AssignMovingAvg'):
        d = tf.cast(decay, variable.dtype)
        return tf.raw_ops.ResourceApplyGradientDescent(
            var=variable.handle, alpha=d,
            delta=variable - tf.cast(value, variable.dtype))
    return assign_moving_average

  for layer in layers:
    object.__setattr__(layer, '_assign_moving_average', update(layer))
  return layers


def tunable_specs(spec: spec_lib.ExportSpec) -> dict:
  """The traced inputs of the spec's tunable values (float32 scalars)."""
  return {n: tf.TensorSpec([], tf.float32, name=n) for n in spec.tunables}


def tunable_tensors(spec: spec_lib.ExportSpec, **values) -> dict:
  """The tunable values as float32 tensors (defaults unless given in
  `values`): what a function traced at export calls `__call__` with, so that
  it reuses `__call__`'s traces instead of tracing one per Python value,
  e.g. a further endpoint `lambda x: obj.__call__(x, training=True,
  **tunable_tensors(spec))`, or one that forwards its own tensor arguments.
  """
  return {n: tf.constant(values.get(n, t.default), tf.float32)
          for n, t in spec.tunables.items()}


def forward_tunables(fn: Callable[..., Any], spec: spec_lib.ExportSpec
                     ) -> Callable[..., Any]:
  """`fn(inputs, **tunables)` as `f(inputs, <tunable>=<default>, ...)`.

  For a further endpoint that forwards the tunable values to `__call__`,
  e.g. a Keras 3 training endpoint (`TFSMLayer` passes the layer call's
  keyword arguments on to it):

      train = tf.function(writer.forward_tunables(
          lambda x, **kw: obj.__call__(x, training=True, **kw), spec),
          autograph=False)
      train.get_concrete_function(input_spec, **writer.tunable_specs(spec))

  Traced so, it calls `__call__` with tensors (reusing its traces), and the
  loaded endpoint takes Python floats or omits them as `__call__` does.
  """
  defaults = {n: t.default for n, t in spec.tunables.items()}
  params = list(inspect.signature(fn).parameters.values())
  first = params[0].replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD,
                            default=inspect.Parameter.empty)
  sig = inspect.Signature(
      [first] + [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                   default=d) for n, d in defaults.items()])

  def wrapped(*args, **kwargs):
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    a = dict(bound.arguments)
    return fn(a.pop(first.name), **a)

  wrapped.__signature__ = sig
  wrapped.__name__ = getattr(fn, '__name__', 'endpoint')
  return wrapped


def _check_tunables(call, spec, where):
  """The declared tunables are exactly `__call__`'s, with the same
  defaults."""
  if not spec.tunables:
    return
  try:
    params = inspect.signature(call.python_function).parameters
  except (TypeError, ValueError):
    params = {}
  for name, t in spec.tunables.items():
    p = params.get(name)
    if p is None:
      raise TypeError(f'{where}.__call__ lacks the declared tunable `{name}`'
                      ' (wrap the call with writer.tunable_call)')
    if p.default is inspect.Parameter.empty or not math.isclose(
        float(p.default), t.default, rel_tol=0, abs_tol=1e-9):
      raise ValueError(f'{where}: tunable `{name}` is declared with default '
                       f'{t.default} but the model holds {p.default}')


# ---------------------------------------------------------------------------
# Variable groups: `obj.variable_groups`, bottom to top.

# (name, variable ids) -> group object, so that objects sharing a group share
# its saved object and name variable.
_GROUPS = weakref.WeakValueDictionary()


def add_variable_groups(obj, groups: Sequence[Tuple[str, Sequence[tf.Variable]]]
                        ) -> None:
  """Sets `obj.variable_groups`: a list of sub-objects, bottom to top, each
  with `name` (a string `tf.Variable`: plain strings are not saved),
  `variables` and `trainable_variables` (the same variable objects as
  `obj`'s, so a consumer can pick them out of `hub.KerasLayer`'s weights).

  Every trainable variable of `obj` must be in exactly one group (freezing
  all but the top k groups then freezes everything else); non-trainable
  ones (batch-norm statistics) go with their layer's group. A group equal
  to one already made (BERT's `.mlm` shares the encoder's) is the same
  object, saved once.
  """
  trainable_ids = {id(v) for v in obj.trainable_variables}
  all_ids = {id(v) for v in obj.variables}
  seen, out = {}, []
  for name, variables in groups:
    variables = list(variables)
    if not variables:
      raise ValueError(f'variable group {name!r} is empty')
    for v in variables:
      if id(v) not in all_ids:
        raise ValueError(f'variable group {name!r}: {v.name} is not among '
                         'the object\'s variables')
      if id(v) in seen:
        raise ValueError(f'{v.name} is in variable groups {seen[id(v)]!r} '
                         f'and {name!r}')
      seen[id(v)] = name
    trainable = [v for v in variables if id(v) in trainable_ids]
    key = (name, tuple(map(id, variables)), tuple(map(id, trainable)))
    g = _GROUPS.get(key)
    if g is None:
      g = Reusable()
      g.name = tf.Variable(name, trainable=False, name='variable_group_name')
      g.variables = variables
      g.trainable_variables = trainable
      _GROUPS[key] = g
    out.append(g)
  missing = [v.name for v in obj.trainable_variables if id(v) not in seen]
  if missing:
    raise ValueError(f'trainable variables in no variable group: '
                     f'{missing[:5]}')
  obj.variable_groups = out


def _check_variable_groups(obj, spec, where):
  if spec.variable_groups and not getattr(obj, 'variable_groups', None):
    raise TypeError(f'{where} declares variable_groups but has none '
                    '(call writer.add_variable_groups)')


def _named(call, inputs, kwargs):
  """`(inputs, kwargs)` with every `tf.TensorSpec` named as TF records it.

  `tf.saved_model.save` re-requests each traced function by its recorded
  signature, in which a spec is named after its argument and path (`inputs`,
  `seq_length`, `d_b_0`; a name the user gave is kept). The spec's name is
  part of tf.function's cache key, so a trace made with an unnamed spec
  misses there and save traces the function again (BERT's
  `bert_pack_inputs(..., seq_length=)`: docs/measurements/benchmarks.md,
  "Fixed: `bert_pack_inputs` traced twice"). Naming the
  specs the same way first makes save find the traces made here.
  """
  try:
    bound = inspect.signature(call.python_function).bind(inputs, **kwargs)
  except (TypeError, ValueError):
    return inputs, kwargs  # Unusual signature: let TF report or retrace.

  def name(arg, value):
    def fix(path, s):
      if not isinstance(s, tf.TensorSpec):
        return s
      if s.name and s.name != arg:
        return s
      return tf.TensorSpec(s.shape, s.dtype, name=tensor_lib.sanitize_spec_name(
          '_'.join(str(p) for p in (arg,) + path)))
    return nest.map_structure_with_tuple_paths(fix, value)

  named = {arg: name(arg, value) for arg, value in bound.arguments.items()}
  first = next(iter(bound.arguments))
  return named.pop(first), named


def _flat_outputs(outputs, spec: spec_lib.ExportSpec):
  """Signature outputs must be a flat dict of tensors: lists become key_i."""
  if not spec.returns_dict:
    return {next(iter(spec.outputs)): outputs}
  flat = {}
  for key, value in outputs.items():
    if isinstance(value, (list, tuple)):
      for i, v in enumerate(value):
        flat[f'{key}_{i}'] = v
    else:
      flat[key] = value
  return flat


def serving_signature(obj, spec: spec_lib.ExportSpec):
  """`serving_default`: `__call__(training=False)` with named flat inputs."""
  if isinstance(spec.inputs, Mapping):
    names = list(spec.inputs)
    sig = [tf.TensorSpec(s.shape, s.dtype, name=n)
           for n, s in spec.inputs.items()]
    def serve(*args):
      inputs = dict(zip(names, args))
      out = (obj.__call__(inputs, training=False, **tunable_tensors(spec))
             if spec.training_arg else obj.__call__(inputs))
      return _flat_outputs(out, spec)
  else:
    s = spec.inputs
    sig = [tf.TensorSpec(s.shape, s.dtype, name=spec.input_names()[0])]
    def serve(x):
      out = (obj.__call__(x, training=False, **tunable_tensors(spec))
             if spec.training_arg else obj.__call__(x))
      return _flat_outputs(out, spec)
  return tf.function(serve, input_signature=sig,
                     autograph=False).get_concrete_function()


def write(obj, export_dir: str, spec: spec_lib.ExportSpec) -> None:
  """Traces `obj` (and its declared sub-objects) and saves it to export_dir.

  `export_dir` must not exist yet (the driver hands out fresh temporary
  directories and moves them into place after verification).
  """
  if os.path.exists(export_dir) and os.listdir(export_dir):
    raise FileExistsError(export_dir)
  options = tf.saved_model.SaveOptions(experimental_custom_gradients=True)
  # Trace in the context `tf.saved_model.save` traces in: its variable policy
  # is part of tf.function's cache key, so traces made outside it miss there
  # and save would trace every function a second time, and the serving
  # signature would keep its own copy of `__call__(training=False)` in
  # saved_model.pb (docs/measurements/benchmarks.md, "Fixed: every function was
  # traced twice").
  with save_context.save_context(options):
    _half_precision_dispatch(obj, spec)
    for name, sub in spec.subobjects.items():
      if hasattr(obj, name):
        _half_precision_dispatch(getattr(obj, name), sub)
    _trace(obj, spec, 'export object')
    for name, sub in spec.subobjects.items():
      if not hasattr(obj, name):
        raise TypeError(f'export object lacks declared sub-object `{name}`')
      _trace(getattr(obj, name), sub, name)
    _keras3_endpoints(obj, spec)
    if not spec.tensor_inputs():
      raise TypeError('the root object needs tf.TensorSpec inputs (or a dict '
                      'of them) for its serving_default signature')
    signatures = {'serving_default': serving_signature(obj, spec)}
  try:
    tf.saved_model.save(obj, export_dir, signatures=signatures,
                        options=options)
  except BaseException:
    shutil.rmtree(export_dir, ignore_errors=True)
    raise


# Keras 3 endpoint names (see the module doc): TFSMLayer's default
# `call_endpoint` and the training endpoint of Keras' ExportArchive examples.
SERVE = 'serve'
CALL_TRAINING = 'call_training'
_HALF = (tf.float16, tf.bfloat16)
# `__call__` functions made by `_half_precision_dispatch` -> their spec.
_HALF_DISPATCH = weakref.WeakKeyDictionary()


def _float_inputs(spec: spec_lib.ExportSpec) -> bool:
  return any(isinstance(s, tf.TensorSpec) and s.dtype == tf.float32
             for s in tf.nest.flatten(spec.inputs))


def _half_precision_dispatch(obj, spec: spec_lib.ExportSpec) -> None:
  """Lets `obj.__call__` take float16/bfloat16 inputs without a retrace.

  Mixed-precision policies (tf_keras's for `hub.KerasLayer`, Keras 3's for
  TFSMLayer) cast float inputs to float16 or bfloat16 before calling, and a
  SavedModel traced for float32 only fails then (tensorflow/hub#748).
  `__call__` becomes a tf.function that, for float32 inputs, runs the
  original Python function as before (the same graphs), and for half-float
  inputs casts them to float32 and calls its own float32 trace: one
  thin function per dtype and variant, not a second trace of the model.
  Called before `_trace`, so that the float32 traces are made once, here.
  """
  call = getattr(obj, '__call__', None)
  if (not _float_inputs(spec) or
      not isinstance(call, tf.types.experimental.PolymorphicFunction) or
      call in _HALF_DISPATCH):  # Already dispatching (keep its traces).
    return
  python_call = call.python_function

  def dispatch(inputs, *args, **kwargs):
    if any(getattr(t, 'dtype', None) in _HALF
           for t in tf.nest.flatten(inputs)):
      inputs = tf.nest.map_structure(
          lambda t: tf.cast(t, tf.float32) if t.dtype in _HALF else t,
          inputs)
      return obj.__call__(inputs, *args, **kwargs)  # The float32 trace.
    return python_call(inputs, *args, **kwargs)

  functools.update_wrapper(dispatch, python_call)
  obj.__call__ = tf.function(
      dispatch, autograph=getattr(call, '_autograph', True),
      reduce_retracing=getattr(call, '_reduce_retracing', False))
  _HALF_DISPATCH[obj.__call__] = spec


def _half_specs(inputs, dtype):
  return tf.nest.map_structure(
      lambda s: tf.TensorSpec(s.shape, dtype, name=s.name)
      if isinstance(s, tf.TensorSpec) and s.dtype == tf.float32 else s,
      inputs)


def _trace_half_precision(obj, spec: spec_lib.ExportSpec) -> None:
  """Traces the half-float variants of every declared `__call__` variant."""
  call = obj.__call__
  if _HALF_DISPATCH.get(call) is not spec:
    return
  variants = [(spec.inputs, {})] + [(i, dict(k)) for i, k in spec.traces]
  for inputs, kwargs in variants:
    for dtype in _HALF:
      # The tunable values stay traced inputs here too (never baked in).
      half, kw = _named(call, _half_specs(inputs, dtype),
                        dict(kwargs, **tunable_specs(spec)))
      for training in ((True, False) if spec.training_arg else (None,)):
        extra = {} if training is None else {'training': training}
        call.get_concrete_function(half, **extra, **kw)


def _keras3_endpoints(obj, spec: spec_lib.ExportSpec) -> None:
  """Adds `serve` / `call_training` (Keras 3 TFSMLayer endpoints).

  Both take the object's inputs positionally (a dict input as one dict).
  `serve` is `__call__`; `call_training` calls `__call__(training=True)`,
  reusing its traces (for every input dtype traced): one small function per
  dtype in saved_model.pb, no trace of the model. Sub-objects with
  `training` get theirs too, aliased on the root as `<sub>_serve`, ...
  (TFSMLayer looks endpoints up on the root only).
  """
  _trace_half_precision(obj, spec)
  _endpoints(obj, spec)
  for name, sub in spec.subobjects.items():
    child = getattr(obj, name)
    _trace_half_precision(child, sub)
    if not sub.training_arg or not sub.tensor_inputs():
      continue  # E.g. a preprocessor's ragged `.bert_pack_inputs`.
    for endpoint, fn in _endpoints(child, sub).items():
      setattr(obj, f'{name}_{endpoint}', fn)


def _thin_call(call, training, spec):
  """`call(inputs[, training])`, forwarding the spec's tunable values (the
  training endpoint takes them as keyword arguments, as `__call__` does)."""
  if training is None:
    return lambda inputs: call(inputs)
  return forward_tunables(
      lambda inputs, **kw: call(inputs, training=training, **kw), spec)


def _defaults_to_inference(call) -> bool:
  """Whether `call(inputs)` alone means `training=False`."""
  try:
    param = inspect.signature(call.python_function).parameters.get('training')
  except (TypeError, ValueError):
    return False
  return param is not None and param.default is False


def _endpoints(obj, spec: spec_lib.ExportSpec) -> dict:
  """Sets `serve` (and `call_training`) on obj; returns them by name.

  `serve` is `__call__` itself where `training` defaults to False (or
  there is none): the same saved functions under a second name, which costs
  nothing. `call_training` is a thin tf.function per input dtype.
  """
  call = obj.__call__
  dtypes = [tf.float32] + (list(_HALF) if _HALF_DISPATCH.get(call) is spec
                           else [])
  made = {}
  modes = (((SERVE, False), (CALL_TRAINING, True)) if spec.training_arg
           else ((SERVE, None),))
  for endpoint, training in modes:
    if endpoint == SERVE and (training is None or
                              _defaults_to_inference(call)):
      fn = call
    else:
      fn = tf.function(_thin_call(call, training, spec), autograph=False)
      tunables = tunable_specs(spec) if training is not None else {}
      for dtype in dtypes:
        inputs, kw = _named(fn, _half_specs(spec.inputs, dtype), tunables)
        fn.get_concrete_function(inputs, **kw)
    setattr(obj, endpoint, fn)
    made[endpoint] = fn
  return made

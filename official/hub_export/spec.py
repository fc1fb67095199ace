"""What a recipe exports: the declared API that verification checks against.

Every recipe declares, in one place, the API of each SavedModel it writes:

    SPEC = spec.ExportSpec(
        task='custom',
        inputs=tf.TensorSpec([None], tf.float32, name='inputs'),
        outputs={'outputs': spec.Output(kind='features', tolerance=1e-6)},
    )

`inputs` is a `tf.TensorSpec` or a dict of them (use `None` for every dynamic
dimension, the batch dimension always); `outputs` maps each output key to its
kind and tolerance. A model that returns a single tensor has exactly one
output key (the name used for its `serving_default` signature output).
Sub-objects such as BERT's `.mlm` are declared the same way in `subobjects`.

Sub-objects may take other inputs: a list of `tf.RaggedTensorSpec`s, and
further traced variants of `__call__` in `traces`, e.g. a preprocessor's
`.bert_pack_inputs` traced for 1 and 2 segments of ragged rank 1 and 2 with a
`seq_length=tf.TensorSpec([], tf.int32)` argument (only the root, which gets
the `serving_default` signature, is limited to tensors or a dict of them).

This module also holds `ExportError`, the one exception type for bad input:
the drivers print its message as a one-line error and exit non-zero.
"""

import dataclasses
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import tensorflow as tf


class ExportError(Exception):
  """A problem with the user's input, reported without a traceback.

  The first line of the message names the problem and the fix; further lines
  (if any) hold a detailed report.
  """


class UsageError(ExportError):
  """Bad flags, gin bindings or arguments: exit status 2 (other
  `ExportError`s exit 1)."""


def export_options(name: str):
  """Class decorator of a recipe's export choices: a frozen dataclass that
  gin configures as `name.ATTRIBUTE` (the recipe's name: `bert.with_mlm`,
  `resnet.depth`). Each recipe has one, called `Options`, subclassing
  `Options` below; its docstring documents every attribute, its
  `__post_init__` checks them, so a bad value is a one-line error before
  anything is built:

      @spec.export_options('bert')
      class Options(spec.Options):
        \"\"\"The export choices (configs/bert/base.gin binds them).

        Attributes:
          seq_length: the preprocessor's default sequence length.
        \"\"\"
        seq_length: int = 128

        def __post_init__(self):
          self.require('seq_length', self.seq_length > 0, 'a positive integer')

  The recipe reads them with `opts = Options()` (gin fills in the values).
  """
  import gin  # pylint: disable=g-import-not-at-top
  def wrap(cls):
    cls = dataclasses.dataclass(frozen=True)(cls)
    cls.gin_name = name
    return gin.configurable(name)(cls)
  return wrap


class Options:
  """Base of every recipe's `Options` (see `export_options`)."""
  gin_name = 'options'

  def require(self, attribute: str, ok: bool, want: str) -> None:
    """Raises the one-line error for `attribute` unless `ok`: it names the
    binding, its value and what to set instead."""
    if not ok:
      raise UsageError(
          f'gin: {self.gin_name}.{attribute} = '
          f'{getattr(self, attribute)!r} is invalid: use {want}')

  def normalize(self, attribute: str, value: Any) -> None:
    """Replaces an attribute's value in `__post_init__` (e.g. a gin list by
    a tuple, so the options stay immutable)."""
    object.__setattr__(self, attribute, value)


def is_int(value, low: int = 1) -> bool:
  """An int (not a bool) >= low."""
  return isinstance(value, int) and not isinstance(value, bool) and (
      value >= low)


def is_number(value, low: float = 0.0) -> bool:
  """An int or float (not a bool) >= low."""
  return isinstance(value, (int, float)) and not isinstance(value, bool) and (
      value >= low)


# Output kinds. `logits` outputs are checked not to be probabilities.
KINDS = ('logits', 'features', 'ids', 'any')


@dataclasses.dataclass(frozen=True)
class Output:
  """One exported output.

  Attributes:
    kind: 'logits' (unnormalized scores: must not be softmax/sigmoid output),
      'features' (embeddings, hidden states), 'ids' (integer outputs, compared
      exactly) or 'any'.
    tolerance: largest allowed max-abs difference between the reloaded export
      and the in-memory source model, on every sample input.
    description: one line for the model card.
  """
  kind: str = 'any'
  tolerance: float = 1e-5
  description: str = ''

  def __post_init__(self):
    if self.kind not in KINDS:
      raise ValueError(f'Output kind must be one of {KINDS}, got {self.kind!r}')


# How the consumer-side checks exercise a tunable value (`Tunable.kind`).
TUNABLE_KINDS = ('dropout', 'batch_norm_momentum')


@dataclasses.dataclass(frozen=True)
class Tunable:
  """A training hyper-parameter the consumer may set per call.

  `__call__` takes it as a keyword argument (a float32 scalar) that defaults
  to the value the model was trained/configured with:

      layer = hub.KerasLayer(handle, trainable=True,
                             arguments=dict(dropout_rate=0.05))
      obj(inputs, training=True, dropout_rate=0.05)   # after hub.load

  Attributes:
    default: the trained/configured value (checked against the model's
      layers when written; the omitted argument takes it).
    description: one line for the model card: what it controls.
    kind: 'dropout' (a rate in [0, 1): only `training=True` drops) or
      'batch_norm_momentum' (moving statistics decay: only `training=True`
      updates them); says how verification checks the value takes effect.
  """
  default: float
  description: str
  kind: str

  def __post_init__(self):
    if self.kind not in TUNABLE_KINDS:
      raise ValueError(f'Tunable kind must be one of {TUNABLE_KINDS}, got '
                       f'{self.kind!r}')


@dataclasses.dataclass(frozen=True)
class ExportSpec:
  """The declared API of one exported SavedModel (or sub-object).

  Attributes:
    inputs: a `tf.TensorSpec` or a dict name -> `tf.TensorSpec` (names are the
      dict keys; for a single tensor the spec's `name` names the
      `serving_default` input). Sub-objects may also take a list of
      `tf.TensorSpec`/`tf.RaggedTensorSpec`.
    outputs: dict output key -> `Output`. A single-tensor model has one key.
    task: the TF Hub task tag ('text-embedding', 'image-feature-vector',
      'image-classification', 'text-preprocessing', ...) or 'custom'.
    training_arg: whether `__call__` takes `training=` (traced for both
      values). Preprocessors have none.
    trainable: whether the object is meant to be fine-tuned (has trainable
      variables that must receive gradients).
    subobjects: named sub-objects (e.g. 'mlm') with their own specs.
    returns_dict: False when `__call__` returns one tensor rather than a dict
      (then `outputs` has exactly one key; see `single()`).
    traces: further `(inputs, kwargs)` variants `__call__` is traced for
      (beside `inputs` alone), each a nest of `tf.TensorSpec` /
      `tf.RaggedTensorSpec` plus keyword arguments (specs or Python values).
    tunables: name -> `Tunable`: extra float32 keyword arguments of
      `__call__` (see `writer.tunable_call`), traced as scalar tensors.
    variable_groups: whether the object carries `variable_groups`, its
      variables in named groups ordered bottom to top (see
      `writer.add_variable_groups`), for freezing all but the top layers.
  """
  inputs: Union[tf.TensorSpec, Mapping[str, tf.TensorSpec]]
  outputs: Mapping[str, Output]
  task: str = 'custom'
  training_arg: bool = True
  trainable: bool = True
  subobjects: Mapping[str, 'ExportSpec'] = dataclasses.field(
      default_factory=dict)
  returns_dict: bool = True
  traces: Sequence[Tuple[Any, Mapping[str, Any]]] = ()
  tunables: Mapping[str, Tunable] = dataclasses.field(default_factory=dict)
  variable_groups: bool = False

  def __post_init__(self):
    if not self.outputs:
      raise ValueError('ExportSpec needs at least one output')
    if not self.returns_dict and len(self.outputs) != 1:
      raise ValueError('A single-tensor ExportSpec has exactly one output')
    for inputs in [self.inputs] + [t[0] for t in self.traces]:
      for s in tf.nest.flatten(inputs):
        if not isinstance(s, (tf.TensorSpec, tf.RaggedTensorSpec)):
          raise TypeError('ExportSpec inputs must be tf.TensorSpec or '
                          f'tf.RaggedTensorSpec, got {s!r}')
        if (s.shape.rank is not None and s.shape.rank > 0 and
            s.shape[0] is not None):
          raise ValueError(f'The batch dimension of {s} must be None (dynamic)')

  def tensor_inputs(self) -> bool:
    """Whether `inputs` is one tf.TensorSpec or a dict of them (as a
    `serving_default` signature needs)."""
    specs = (list(self.inputs.values()) if isinstance(self.inputs, Mapping)
             else [self.inputs])
    return all(isinstance(s, tf.TensorSpec) for s in specs)

  def input_names(self):
    if isinstance(self.inputs, Mapping):
      return list(self.inputs)
    return [self.inputs.name or 'inputs']

  def to_json(self) -> Dict[str, Any]:
    """A JSON-able description, read by the consumer-side checks."""
    def tspec(s, name=None):
      out = {'name': name or getattr(s, 'name', None), 'dtype': s.dtype.name,
             'shape': None if s.shape.rank is None else
                      [d for d in s.shape.as_list()]}
      if isinstance(s, tf.RaggedTensorSpec):
        out['ragged_rank'] = s.ragged_rank
      return out
    if isinstance(self.inputs, Mapping):
      inputs = {'dict': True, 'specs': [tspec(s, k) for k, s in
                                        self.inputs.items()]}
    elif isinstance(self.inputs, (list, tuple)):
      inputs = {'dict': False, 'list': True,
                'specs': [tspec(s, f'inputs_{i}')
                          for i, s in enumerate(self.inputs)]}
    else:
      inputs = {'dict': False, 'specs': [tspec(self.inputs,
                                               self.input_names()[0])]}
    def describe(x):
      return tf.nest.map_structure(
          lambda v: tspec(v) if isinstance(
              v, (tf.TensorSpec, tf.RaggedTensorSpec)) else v, x)
    extra = {'traces': [{'inputs': describe(list(i) if isinstance(i, tuple)
                                            else i),
                         'kwargs': describe(dict(k))}
                        for i, k in self.traces]} if self.traces else {}
    if self.tunables:
      extra['tunables'] = {k: dataclasses.asdict(t)
                           for k, t in self.tunables.items()}
    if self.variable_groups:
      extra['variable_groups'] = True
    return {
        'task': self.task,
        'training_arg': self.training_arg,
        'trainable': self.trainable,
        'returns_dict': self.returns_dict,
        'inputs': inputs,
        'outputs': {k: dataclasses.asdict(o) for k, o in self.outputs.items()},
        'subobjects': {k: s.to_json() for k, s in self.subobjects.items()},
        **extra,
    }


def single(inputs: tf.TensorSpec, name: str, output: Output, **kwargs
           ) -> ExportSpec:
  """Spec of a model whose `__call__` returns one tensor named `name`."""
  return ExportSpec(inputs=inputs, outputs={name: output}, returns_dict=False,
                    **kwargs)


@dataclasses.dataclass
class Case:
  """One sample call used by verification.

  Attributes:
    inputs: the positional input (numpy arrays, or a dict/list of them).
    target: '' for the root object's `__call__`, or a sub-object name.
    kwargs: extra keyword arguments (JSON-able Python values).
  """
  inputs: Any
  target: str = ''
  kwargs: Optional[Dict[str, Any]] = None

"""Any SavedModel: read its API off the traced `__call__` and generate sample
inputs for it (when no declared spec and source outputs are given).
"""

import numpy as np
import tensorflow as tf

TASKS = ('text-embedding', 'text-preprocessing', 'image-feature-vector',
         'image-classification', 'custom')
ENCODER_INPUTS = ('input_word_ids', 'input_mask', 'input_type_ids')
SENTENCES = ['The quick brown fox jumps over the lazy dog.',
             'hello world', '', 'Un café à Zürich, 東京 and 123 unknownwordzz!']


def _tspec_json(s, name):
  return {'name': name, 'dtype': s.dtype.name,
          'shape': None if s.shape.rank is None else s.shape.as_list()}


def call_signature(obj):
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
  fn, inputs, training_arg = call_signature(obj)
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
    # but graph optimizations may order float ops differently (docs/measurements/benchmarks.md,
    # "Found by the benchmark: verification flaked on float noise"); integer
    # outputs must match exactly.
    value = out.get(k) if returns_dict else out
    floats = [getattr(t, 'dtype', None) is not None and t.dtype.is_floating
              for t in tf.nest.flatten(value)]
    return 1e-5 if floats and all(floats) else 0.0
  trainable = bool(getattr(obj, 'trainable_variables', []))
  return {'task': task, 'inferred': True, 'training_arg': training_arg, 'trainable': trainable,
          'returns_dict': returns_dict, 'inputs': ins,
          'outputs': {k: {'kind': kind(k), 'tolerance': tolerance(k)}
                      for k in keys},
          'subobjects': {}}


def _sample(s, batch, size, rng):
  """A sample tensor for a TensorSpec json: every static dimension as
  declared; a dynamic batch (first) dimension gets `batch`, other dynamic
  dimensions `size` (square images when both height and width are)."""
  shape = s['shape']
  if shape is None:  # Unknown rank: a batch of scalars.
    shape = [None]
  dims = [d if d is not None else (batch if i == 0 else size)
          for i, d in enumerate(shape)]
  name, dtype = s['name'] or '', s['dtype']
  if dtype == 'string':
    if not dims:
      return tf.constant(SENTENCES[0])
    n = int(np.prod(dims))
    return tf.constant(np.array((SENTENCES * n)[:n], object).reshape(dims))
  if dtype.startswith('int') or dtype.startswith('uint'):
    if 'mask' in name:
      a = np.ones(dims)
    elif 'type' in name:
      a = np.zeros(dims)
    else:
      a = rng.randint(1, 5, size=dims)  # Small ids: valid in any vocabulary.
    return tf.constant(np.asarray(a).astype(dtype))
  if dtype == 'bool':
    return tf.constant(np.ones(dims, bool))
  return tf.constant(np.asarray(rng.uniform(0, 1, size=dims)).astype(dtype))


def _fits(value, s):
  """Whether a generated tensor fits the TensorSpec json it was made for."""
  spec = tf.TensorSpec(s['shape'], s['dtype'])
  return spec.is_compatible_with(value)


def sample_inputs(specs, as_dict, batch, size, rng):
  """Inputs for a list of TensorSpec jsons (a dict by name, or the one
  tensor). A generated value that does not fit its spec is a bug of the
  checker (AssertionError: an ERROR, not the model's FAIL)."""
  values = {s['name']: _sample(s, batch, size, rng) for s in specs}
  for s in specs:
    assert _fits(values[s['name']], s), (
        f"generated {values[s['name']].shape} {values[s['name']].dtype.name} "
        f"for {s['name']}: {s['dtype']}{s['shape']}")
  return values if as_dict else values[specs[0]['name']]


def sizes_for(task):
  """The two sizes of the shape sweep for dynamic dimensions."""
  return (224, 193) if (task or '').startswith('image') else (8, 13)


def generate_cases(spec):
  """A shape sweep of inputs for the root call: batch 1 and 3, two sizes
  (static dimensions as declared)."""
  rng = np.random.RandomState(0)
  sizes = sizes_for(spec['task'])
  cases = []
  for batch, size in ((1, sizes[0]), (3, sizes[1])):
    inputs = sample_inputs(spec['inputs']['specs'], spec['inputs']['dict'],
                           batch, size, rng)
    cases.append({'target': '', 'kwargs': {}, 'inputs': inputs,
                  'expected': None})
  return cases


def signature_inputs(sig, task, batch=2):
  """Keyword inputs for a signature, generated from its own input specs."""
  _, kw = sig.structured_input_signature
  specs = [_tspec_json(v, k) for k, v in sorted(kw.items())]
  return sample_inputs(specs, True, batch, sizes_for(task)[0],
                       np.random.RandomState(0)) if specs else {}


def entry_points(obj):
  """Names of the root's tf.function attributes and its signatures."""
  functions = []
  for name in dir(obj):
    if name.startswith('_') or name == 'signatures':
      continue
    try:
      value = getattr(obj, name)
    except Exception:  # pylint: disable=broad-except
      continue
    if hasattr(value, 'concrete_functions') or hasattr(
        value, 'get_concrete_function'):
      functions.append(name)
  return functions, sorted(getattr(obj, 'signatures', None) or {})


def not_reusable_reason(obj, object_graph):
  """Why a loaded SavedModel is not a reusable SavedModel, or None."""
  functions, signatures = entry_points(obj)
  sigs = ', '.join(signatures) or 'none'
  if not object_graph:
    return (f'a TF1 SavedModel: a graph with signatures ({sigs}) and no '
            'objects, no __call__; call its signatures, or re-export it '
            'with tf.saved_model.save')
  if not hasattr(obj, '__call__'):
    what = (f"entry points {', '.join(functions)} and " if functions else '')
    return (f'no __call__, only {what}signatures ({sigs}), as Keras 3 '
            'model.export() and signatures-only saves write them; '
            'hub.KerasLayer needs __call__ (Keras 3: keras.layers.TFSMLayer)')
  if not list(getattr(obj.__call__, 'concrete_functions', [])):
    return '__call__ has no traced function (trace it before saving)'
  return None

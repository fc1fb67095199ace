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

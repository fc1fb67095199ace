"""The cases file format: nested inputs and outputs <-> flat arrays.

`verify.py` writes `cases.npz` (sample inputs and the in-memory source model's
outputs for them) with `flatten`; the checker reads it back with `load_cases`.
Ragged tensors are stored as flat values plus row splits; strings as bytes, so
no pickle is needed.
"""

import json

import numpy as np
import tensorflow as tf

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

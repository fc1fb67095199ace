"""Inspection of the traced graphs: final softmax before logits, 0-255 image
scaling on the input, the op types of a function and the functions it calls.
"""

import numpy as np
import tensorflow as tf

from .infer import call_signature

# Ops that write a variable: in a training=True graph, batch norm updating
# its moving statistics (layer norm, which also computes moments, updates
# nothing). Our exports apply a tunable momentum with
# ResourceApplyGradientDescent (writer._compact_moving_averages).
UPDATE_OPS = frozenset({'AssignSubVariableOp', 'AssignAddVariableOp',
                        'AssignVariableOp', 'ResourceApplyGradientDescent'})

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
    # The declared outputs only: once a gradient was taken, `fn.outputs` also
    # holds forward tensors kept for the backward pass (a ViT's attention
    # softmax), appended after the declared ones (a loaded function's
    # `structured_outputs` are specs: they give the count).
    declared = fn.outputs[:len(tf.nest.flatten(fn.structured_outputs,
                                               expand_composites=True))]
    for t in declared:
      graph = fn.graph
      for _ in range(50):  # Walk back through pass-through ops and calls.
        op = t.op
        if op.type in ('Softmax', 'Sigmoid', 'LogSoftmax'):
          found.add(op.type)
          break
        if op.type in ('Identity', 'IdentityN', 'Reshape', 'Squeeze',
                       'ExpandDims', 'Cast') and op.inputs:
          # IdentityN passes input i to output i; the others have one.
          t = op.inputs[t.value_index if op.type == 'IdentityN' else 0]
        elif op.type in ('StatefulPartitionedCall', 'PartitionedCall'):
          inner = _function(graph, fn, op.get_attr('f').name)
          if inner is None or t.value_index >= len(inner.graph.outputs):
            break
          # Tensors of different graphs are never compared (that raises
          # "out of scope"): the call's output index is the function's.
          graph = inner.graph
          t = graph.outputs[t.value_index]
        else:
          break
  r.ok(not found, 'graph has no final softmax/sigmoid before logits',
       ', '.join(sorted(found)) or 'none')


def _function(graph, fn, name):
  """The function `name` called from `graph` (a function of `fn`)."""
  for g in (graph, fn.graph):
    inner = g._get_function(name)  # pylint: disable=protected-access
    if inner is not None:
      return inner
  return None


def fn_graph_consumers(fn, tensor, depth=0):
  """First real ops consuming `tensor`, looking through calls and casts."""
  found = []
  for op in tensor.consumers():
    if op.type in ('Identity', 'Cast') and depth < 30:
      found += fn_graph_consumers(fn, op.outputs[0], depth + 1)
    elif op.type in ('StatefulPartitionedCall', 'PartitionedCall') and \
        depth < 30:
      inner = fn.graph._get_function(op.get_attr('f').name)  # pylint: disable=protected-access
      idx = [i for i, t in enumerate(op.inputs) if t is tensor]
      if inner is not None and idx and idx[0] < len(inner.graph.inputs):
        found += fn_graph_consumers(inner, inner.graph.inputs[idx[0]],
                                     depth + 1)
    else:
      found.append(op)
  return found


def const_values(op):
  vals = []
  for t in op.inputs:
    if t.op.type == 'Const':
      vals.append(tf.make_ndarray(t.op.get_attr('value')))
  return vals


def check_image_range(r, obj):
  """Images in [0, 1]: flag graphs that rescale by 1/255 or subtract 0-255
  scale means straight from the input (they expect [0, 255] pixels)."""
  try:
    fn = call_signature(obj)[0]
  except ValueError:
    return
  placeholder = fn.graph.inputs[0]
  problems = []
  for op in fn_graph_consumers(fn, placeholder):
    for c in const_values(op):
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


def op_types(graph, depth=0, types=None):
  """Op types of a function graph and of every function it calls."""
  types = set() if types is None else types
  for op in graph.get_operations():
    types.add(op.type)
    if op.type in ('StatefulPartitionedCall', 'PartitionedCall') and depth < 30:
      inner = graph._get_function(op.get_attr('f').name)  # pylint: disable=protected-access
      if inner is not None:
        op_types(inner.graph, depth + 1, types)
  return types

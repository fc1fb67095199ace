"""`hub.KerasLayer` (tf_keras) consumer checks: same outputs, weights and
losses registered, frozen when not trainable, one `fit` step moves weights.
"""

import numpy as np
import tensorflow as tf

from .reusable import call
from .reusable import compare
from .reusable import digests
from .report import WARN, model_call, without_graph_rewrites

def check_keras_layer(r, path, obj, spec, cases):
  """hub.KerasLayer(trainable=True/False) behaves like the loaded object.

  Every layer wraps `obj`, the object hub.load returned (what
  hub.KerasLayer(path) itself loads): one copy of the weights in the
  process, not one per layer. Returns the fit step, which moves those
  weights, for the caller to run after every other check (or None).
  """
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  del path  # (Loaded once, by the caller.)
  case = cases[0]
  layer = r.guard('hub.KerasLayer(trainable=True)',
                  lambda: model_call(hub.KerasLayer, obj, trainable=True))
  if layer is None:
    return
  out = r.guard('hub.KerasLayer call', lambda: model_call(
      layer, case['inputs'], training=False))
  if out is None:
    return
  ref = call(obj, case['inputs'], False, spec)
  # The same graph, but (as for serving_default) float ops may be ordered
  # differently: allow each output's declared tolerance.
  worst, over = compare(out, ref, spec, exact_other=False)
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
  frozen = model_call(hub.KerasLayer, obj, trainable=False)
  model_call(frozen, case['inputs'])
  frozen_loss = sum(float(np.abs(np.asarray(l)).sum()) for l in frozen.losses)
  r.ok(not frozen.trainable_weights and frozen_loss == 0.0,
       'hub.KerasLayer(trainable=False) is frozen',
       f'{len(frozen.trainable_weights)} trainable weights, '
       f'regularization loss {frozen_loss:g}')
  check_mixed_precision(r, obj, spec, case)
  if n_train:
    def fit():
      with without_graph_rewrites():
        _fit_step(r, layer, spec, case)
    return lambda: r.guard('hub.KerasLayer fit step', fit)
  return None


POLICIES = ('mixed_float16', 'mixed_bfloat16')


def check_mixed_precision(r, obj, spec, case):
  """hub.KerasLayer under tf_keras's mixed policies (float inputs only).

  The layer casts float inputs to float16/bfloat16 before calling the
  SavedModel, which must have traces for them (tensorflow/hub#748); the
  export's outputs must equal the float32 call on the rounded inputs.
  """
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  if not any(s['dtype'] == 'float32' for s in spec['inputs']['specs']):
    return
  inputs = case['inputs']
  for policy in POLICIES:
    half = policy.split('_')[1]
    def run(policy=policy, half=half):
      tf_keras.mixed_precision.set_global_policy(policy)
      try:
        layer = model_call(hub.KerasLayer, obj, trainable=True)
        out = model_call(layer, inputs, training=False)
        # (training=True may update batch-norm statistics: call() undoes it.)
        call(layer, inputs, True, spec)
      finally:
        tf_keras.mixed_precision.set_global_policy('float32')
      rounded = tf.nest.map_structure(
          lambda t: tf.cast(tf.cast(t, half), tf.float32)
          if t.dtype == tf.float32 else t, inputs)
      ref = call(obj, rounded, False, spec)
      worst, over = compare(out, ref, spec, exact_other=True)
      dtypes = sorted({t.dtype.name for t in tf.nest.flatten(out)})
      r.ok(not over, f'hub.KerasLayer under {policy}',
           f'outputs {"/".join(dtypes)}, max abs diff {worst:.3g} from the '
           f'float32 call on {half}-rounded inputs', '; '.join(over[:3]))
    if spec.get('inferred'):
      # Another tool's model: half-float traces are ours to promise, not
      # every SavedModel's (tensorflow/hub#748); say what a user must do.
      try:
        run()
      except Exception as e:  # pylint: disable=broad-except
        r.add(WARN, f'hub.KerasLayer under {policy}',
              f'not callable ({type(e).__name__})', "no half-float traces: "
              "pass hub.KerasLayer(..., dtype='float32') under mixed "
              'precision')
      continue
    r.guard(f'hub.KerasLayer under {policy}', run)


def _fit_step(r, layer, spec, case):
  """One tf_keras `fit` step through the layer changes its weights."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  inputs = case['inputs']
  if isinstance(inputs, dict):
    kin = {k: tf_keras.Input(shape=v.shape[1:], dtype=v.dtype, name=k)
           for k, v in inputs.items()}
  else:
    kin = tf_keras.Input(shape=inputs.shape[1:], dtype=inputs.dtype)
  out = model_call(layer, kin)
  if isinstance(out, dict):
    keys = [k for k in ('default', 'pooled_output') if k in out] or [
        k for k, v in spec['outputs'].items() if v['kind'] != 'ids' and
        isinstance(out.get(k), tf.Tensor)]
    out = out[keys[0]]
  flat = tf_keras.layers.Flatten()(out) if out.shape.rank != 2 else out
  head = tf_keras.layers.Dense(1, kernel_initializer='ones')(flat)
  model = tf_keras.Model(kin, head)
  model.compile(optimizer=tf_keras.optimizers.SGD(0.01), loss='mse')
  # The optimizer's variables made now, not in the first step: a
  # tf.function that creates variables is traced twice, and this one's
  # trace holds the model's whole backward pass (BERT-base fit step alone,
  # two runs each: 9.0 s both times before, 8.4 and 6.8 s after).
  model.optimizer.build(model.trainable_variables)
  before = digests(layer.trainable_weights)
  batch = int(tf.nest.flatten(inputs)[0].shape[0])
  model_call(model.fit, inputs, np.ones([batch, 1], np.float32), epochs=1,
             verbose=0, batch_size=batch)
  changed = sum(a != b for a, b in zip(before,
                                        digests(layer.trainable_weights)))
  r.ok(changed > 0, 'hub.KerasLayer fit step updates weights',
       f'{changed} of {len(before)} weights changed')

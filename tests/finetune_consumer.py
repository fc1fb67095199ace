"""Fine-tuning only the top variable groups of an export, with the model
card's snippets run verbatim: tf_keras (`hub.KerasLayer`, layer-wise
learning-rate decay) in this process, Keras 3 (`TFSMLayer`) in its own.

Each returns {'groups': names bottom to top, 'frozen_changed': names of
frozen trainable variables that changed (must be none), 'top_unmoved':
trainable variables of the top groups that did not move}.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf

from official.hub_export import model_card
from official.hub_export import record

TOP_K = 2  # As in the snippets.
# An attention key's bias b adds q.b to every key's score of a query alike,
# which the softmax cancels: its gradient is 0 up to rounding, so whether a
# step moves it is float noise. Not required to move.
NO_GRADIENT = r'attention/key/bias'


def _card(path):
  with open(os.path.join(path, record.EXTRA, model_card.CARD)) as f:
    return f.read()


def _target(inputs):
  batch = int(tf.nest.flatten(inputs)[0].shape[0])
  return np.linspace(-1, 1, batch, dtype=np.float32)[:, None]


def tf_keras_top_groups(path, inputs, output_key=None):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  assert model_card.FREEZE_TF_KERAS in _card(path)
  ns = {'tf': tf, 'hub': hub, 'tf_keras': tf_keras}
  exec(model_card.FREEZE_TF_KERAS.replace('HANDLE', path), ns)  # pylint: disable=exec-used
  hub_layer, groups = ns['hub_layer'], ns['groups']
  if isinstance(inputs, dict):
    kin = {k: tf_keras.Input(v.shape[1:], dtype=v.dtype, name=k)
           for k, v in inputs.items()}
  else:
    kin = tf_keras.Input(inputs.shape[1:], dtype=inputs.dtype)
  out = hub_layer(kin)
  if output_key:
    out = out[output_key]
  model = ns['FineTune'](kin, tf_keras.layers.Dense(1)(out))
  model.compile(optimizer=tf_keras.optimizers.SGD(0.05), loss='mse')
  before = [[v.numpy() for v in g.trainable_variables] for g in groups]
  model.fit(inputs, _target(inputs), epochs=2, verbose=0,
            batch_size=len(_target(inputs)))
  return _compare(groups, before)


def _compare(groups, before):
  frozen_changed, top_unmoved = [], []
  for i, (g, values) in enumerate(zip(groups, before)):
    for v, b in zip(g.trainable_variables, values):
      same = np.array_equal(v.numpy(), b)
      if i < len(groups) - TOP_K and not same:
        frozen_changed.append(v.name)
      if i >= len(groups) - TOP_K and same and not re.search(
          NO_GRADIENT, v.name):
        top_unmoved.append(v.name)
  return {'groups': [g.name.numpy().decode() for g in groups],
          'frozen_changed': frozen_changed, 'top_unmoved': top_unmoved}


_KERAS3 = r'''
import json, re, sys
import numpy as np
import tensorflow as tf
snippet, data, out = sys.argv[1:]
ns = {}
exec(open(snippet).read(), ns)
keras, layer, groups = ns['keras'], ns['layer'], ns['groups']
with np.load(data) as d:
  key = str(d['__output_key__']) or None
  inputs = {k: d[k] for k in d.files if not k.startswith('__')}
single = 'single' in inputs
if single:
  inputs = inputs['single']
  kin = keras.Input(inputs.shape[1:], dtype=str(inputs.dtype))
else:
  kin = {k: keras.Input(v.shape[1:], dtype=str(v.dtype), name=k)
         for k, v in inputs.items()}
y = layer(kin)
if key:
  y = y[key]
model = keras.Model(kin, keras.layers.Dense(1)(y))
model.compile(optimizer=keras.optimizers.SGD(0.05), loss='mse')
batch = len(tf.nest.flatten(inputs)[0])
target = np.linspace(-1, 1, batch, dtype=np.float32)[:, None]
before = [[v.numpy() for v in g.trainable_variables] for g in groups]
model.fit(inputs, target, epochs=2, verbose=0, batch_size=batch)
TOP_K = %d
frozen_changed, top_unmoved = [], []
for i, (g, values) in enumerate(zip(groups, before)):
  for v, b in zip(g.trainable_variables, values):
    same = np.array_equal(v.numpy(), b)
    if i < len(groups) - TOP_K and not same:
      frozen_changed.append(v.name)
    if i >= len(groups) - TOP_K and same and not re.search(%r, v.name):
      top_unmoved.append(v.name)
json.dump({'groups': [g.name.numpy().decode() for g in groups],
           'frozen_changed': frozen_changed, 'top_unmoved': top_unmoved},
          open(out, 'w'))
''' % (TOP_K, NO_GRADIENT)


def keras3_top_groups(path, inputs, output_key=None):
  """The Keras 3 snippet in a fresh process (Keras 3 is its Keras)."""
  assert model_card.FREEZE_KERAS3 in _card(path)
  with tempfile.TemporaryDirectory() as tmp:
    snippet = os.path.join(tmp, 'snippet.py')
    with open(snippet, 'w') as f:
      f.write(model_card.FREEZE_KERAS3.replace('HANDLE', path))
    data = os.path.join(tmp, 'data.npz')
    arrays = (dict(inputs) if isinstance(inputs, dict)
              else {'single': np.asarray(inputs)})
    np.savez(data, __output_key__=np.array(output_key or ''), **arrays)
    script = os.path.join(tmp, 'run.py')
    with open(script, 'w') as f:
      f.write(_KERAS3)
    out = os.path.join(tmp, 'out.json')
    env = {k: v for k, v in os.environ.items()
           if k not in ('TF_USE_LEGACY_KERAS', 'PYTHONPATH')}
    env['TF_CPP_MIN_LOG_LEVEL'] = '3'
    proc = subprocess.run([sys.executable, script, snippet, data, out],
                          env=env, cwd=tmp, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as f:
      return json.load(f)

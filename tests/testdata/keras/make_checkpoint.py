"""Writes tests/testdata/keras/tiny.keras: a tiny trained-looking Keras 3 model.

What a Keras 3 user saves with `model.save('x.keras')`: a functional model
with a kernel regularizer (L2) and a bias regularizer (L1), batch norm with
non-trivial moving statistics, dropout, a frozen layer (`trainable=False`)
and a logits output; deterministic weights (fixed seed, every weight set
explicitly).

    .venv/bin/python tests/testdata/keras/make_checkpoint.py
"""
import os

os.environ['TF_USE_LEGACY_KERAS'] = '0'  # Keras 3 is the Keras here.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # pylint: disable=g-import-not-at-top

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, 'tiny.keras')
L2, L1 = 0.01, 0.001


def build():
  import keras  # pylint: disable=g-import-not-at-top
  inputs = keras.Input((6,), name='features')
  x = keras.layers.Dense(8, activation='relu', name='frozen')(inputs)
  x = keras.layers.Dense(
      8, kernel_regularizer=keras.regularizers.L2(L2),
      bias_regularizer=keras.regularizers.L1(L1), name='hidden')(x)
  x = keras.layers.BatchNormalization(name='norm')(x)
  x = keras.layers.Activation('relu')(x)
  x = keras.layers.Dropout(0.3, name='dropout')(x)
  logits = keras.layers.Dense(3, kernel_regularizer=keras.regularizers.L2(L2),
                              name='logits')(x)
  model = keras.Model(inputs, logits, name='tiny')
  model.get_layer('frozen').trainable = False
  return model


def randomize(model, seed=0):
  rng = np.random.RandomState(seed)
  for w in model.weights:
    shape = tuple(w.shape)
    if w.path.endswith(('gamma', 'moving_variance')):
      value = rng.uniform(0.5, 1.5, shape)
    elif w.path.endswith(('beta', 'moving_mean', 'bias')):
      value = rng.normal(0, 0.1, shape)
    else:
      value = rng.normal(0, np.sqrt(2.0 / shape[0]), shape)
    w.assign(value.astype(np.float32))


if __name__ == '__main__':
  m = build()
  randomize(m)
  m.save(MODEL)
  print('wrote', MODEL)

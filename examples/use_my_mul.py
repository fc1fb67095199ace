"""Uses an exported MyMulModel the way a consumer would (no project code).

    python examples/use_my_mul.py EXPORT_DIR
"""
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top
import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
import tf_keras  # pylint: disable=g-import-not-at-top


def main(path):
  layer = hub.KerasLayer(path)
  print('hub.KerasLayer(path)([10., 20.]) =', layer([10., 20.]).numpy())

  layer = hub.KerasLayer(path, trainable=True)
  layer([10., 20.])
  print('trainable weights:', [w.numpy() for w in layer.trainable_weights])
  print('losses:', [round(float(l), 6) for l in layer.losses])

  # Fine-tune v towards 3.0 for a few steps: the loss drops, v moves.
  model = tf_keras.Sequential([tf_keras.Input(shape=[]), layer])
  model.compile(optimizer=tf_keras.optimizers.SGD(0.01), loss='mse')
  x = np.linspace(-1, 1, 32).astype(np.float32)
  history = model.fit(x, 3.0 * x, epochs=5, verbose=0)
  print('fine-tuning loss:', [round(l, 4) for l in history.history['loss']])
  print('v after fine-tuning:', layer.trainable_weights[0].numpy())


if __name__ == '__main__':
  tf.get_logger().setLevel('ERROR')
  main(sys.argv[1])

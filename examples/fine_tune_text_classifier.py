"""Fine-tunes a small text classifier on an exported BERT, as a user would.

    python examples/fine_tune_text_classifier.py EXPORT_DIR --keras=3
    python examples/fine_tune_text_classifier.py EXPORT_DIR --keras=tf_keras

EXPORT_DIR holds `encoder/` and `preprocessor/` (the BERT recipe's output).
`--keras=3`: plain Keras 3 with `keras.layers.TFSMLayer` on the exports'
`serve`/`call_training` endpoints; `--keras=tf_keras`: TF Hub's
`hub.KerasLayer` under tf_keras. Nothing of this repository is imported: this
is the consumer side. Prints the loss per epoch as it drops.
"""
import os
import sys

KERAS = next((a.split('=', 1)[1] for a in sys.argv[1:]
              if a.startswith('--keras=')), '3')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
if KERAS == 'tf_keras':
  os.environ['TF_USE_LEGACY_KERAS'] = '1'
else:
  os.environ.pop('TF_USE_LEGACY_KERAS', None)

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top
import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import  (the preprocessor's ops)

# A handful of labelled sentences (1: about the fox, 0: greetings).
SENTENCES = ['the quick brown fox jumps over the lazy dog',
             'a quick fox jumps', 'the brown fox was quick',
             'the fox jumps over a dog',
             'hello world', 'hello to all the world',
             'say hello', 'hello , how are you ?']
LABELS = [1, 1, 1, 1, 0, 0, 0, 0]
EPOCHS = 10


def keras3_model(path):
  """Keras 3: TFSMLayer on the Keras 3 endpoints the exports carry."""
  import keras  # pylint: disable=g-import-not-at-top

  class HubLayer(keras.layers.TFSMLayer):
    """TFSMLayer plus the SavedModel's regularization losses, with weight
    names that optimizers with slots (Adam) accept."""

    def _add_existing_weight(self, weight):
      # TFSMLayer keeps the ':0' of TF variable names, which Adam refuses
      # in its slot names.
      self._track_variable(keras.Variable(
          initializer=weight, trainable=weight.trainable, dtype=weight.dtype,
          shape=weight.shape,
          name=weight.name.split(':')[0].replace('/', '_')))

    def call(self, inputs, training=False):
      if self.trainable:  # TFSMLayer itself ignores regularization_losses.
        for loss in self._reloaded_obj.regularization_losses:
          self.add_loss(loss())
      return super().call(inputs, training=training)

  text = keras.Input(shape=(), dtype='string')
  preprocessor = keras.layers.TFSMLayer(os.path.join(path, 'preprocessor'),
                                        trainable=False)
  encoder = HubLayer(os.path.join(path, 'encoder'), call_endpoint='serve',
                     call_training_endpoint='call_training', trainable=True)
  pooled = encoder(preprocessor(text))['pooled_output']
  logits = keras.layers.Dense(2)(pooled)
  model = keras.Model(text, logits)
  model.compile(optimizer=keras.optimizers.Adam(1e-3),
                loss=keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True), metrics=['accuracy'])
  return model, encoder, f'Keras {keras.__version__}, keras.layers.TFSMLayer'


def tf_keras_model(path):
  """tf_keras: hub.KerasLayer."""
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  text = tf_keras.Input(shape=(), dtype=tf.string)
  preprocessor = hub.KerasLayer(os.path.join(path, 'preprocessor'))
  encoder = hub.KerasLayer(os.path.join(path, 'encoder'), trainable=True)
  pooled = encoder(preprocessor(text))['pooled_output']
  logits = tf_keras.layers.Dense(2)(pooled)
  model = tf_keras.Model(text, logits)
  model.compile(optimizer=tf_keras.optimizers.Adam(1e-3),
                loss=tf_keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True), metrics=['accuracy'])
  return model, encoder, (f'tf_keras {tf_keras.__version__}, '
                          'tensorflow_hub.KerasLayer')


def main(path):
  tf.random.set_seed(0)  # The same run each time (dropout, the head).
  build = tf_keras_model if KERAS == 'tf_keras' else keras3_model
  model, encoder, what = build(path)
  x = tf.constant(SENTENCES)
  y = np.array(LABELS)
  before = [w.numpy().copy() for w in encoder.trainable_weights]
  history = model.fit(x, y, epochs=EPOCHS, batch_size=len(SENTENCES),
                      verbose=0)
  moved = sum(not np.array_equal(b, w.numpy())
              for b, w in zip(before, encoder.trainable_weights))
  print(f'{what}: fine-tuning BERT + a classifier on {len(SENTENCES)} '
        'sentences')
  print('  loss per epoch:', ' '.join(f'{l:.3f}'
                                      for l in history.history['loss']))
  print(f'  accuracy: {history.history["accuracy"][-1]:.2f}; encoder '
        f'weights updated: {moved} of {len(before)}')
  if not history.history['loss'][-1] < history.history['loss'][0]:
    print('error: the loss did not drop', file=sys.stderr)
    return 1
  return 0


if __name__ == '__main__':
  tf.get_logger().setLevel('ERROR')
  args = [a for a in sys.argv[1:] if not a.startswith('--')]
  if len(args) != 1 or KERAS not in ('3', 'tf_keras'):
    print(__doc__.strip(), file=sys.stderr)
    sys.exit(2)
  sys.exit(main(args[0]))

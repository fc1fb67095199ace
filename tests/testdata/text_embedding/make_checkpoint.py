"""Re-creates the tiny committed inputs of the text_embedding recipe tests.

    .venv/bin/python tests/testdata/text_embedding/make_checkpoint.py

  vectors.txt   14 words x 4 dims, GloVe/word2vec text format with the
                `count dim` header; includes words the default tokenizer can
                never produce ("Paris": upper case, "don't": punctuation)
  vocab.txt     the first 10 of those words, one per line
  ckpt.*        a Model Garden trainer-style checkpoint
                `tf.train.Checkpoint(global_step, model, optimizer)` of a tf_keras
                model whose first layer is Model Garden's `OnDeviceEmbedding`
                [10 words + 1 OOV bucket, 4]; the table sits at
                model/layer_with_weights-0/embeddings, beside a dense head and
                optimizer slots the export ignores

The golden outputs under golden/ were written from these with the driver's
--write_golden flag (see tests/test_text_embedding_export.py, GOLDEN*).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import numpy as np  # pylint: disable=g-import-not-at-top

WORDS = ['the', 'of', 'and', 'cat', 'dog', 'café', 'naïve', 'straße', '東京',
         '2024', 'dont', 'Paris', "don't", 'hello']
DIM = 4
CKPT_WORDS = 10


def vectors():
  rng = np.random.RandomState(20261124)
  return np.round(rng.uniform(-1, 1, [len(WORDS), DIM]), 3)


def main():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  from official.nlp.modeling import layers  # pylint: disable=g-import-not-at-top
  v = vectors()
  with open(os.path.join(HERE, 'vectors.txt'), 'w', encoding='utf-8',
            newline='\n') as f:
    f.write(f'{len(WORDS)} {DIM}\n')
    for w, row in zip(WORDS, v):
      f.write(w + ' ' + ' '.join(f'{x:.3f}' for x in row) + '\n')
  with open(os.path.join(HERE, 'vocab.txt'), 'w', encoding='utf-8',
            newline='\n') as f:
    f.write(''.join(w + '\n' for w in WORDS[:CKPT_WORDS]))

  rows = CKPT_WORDS + 1  # One OOV bucket.
  table = np.round(np.random.RandomState(7).uniform(-1, 1, [rows, DIM]),
                   3).astype(np.float32)
  model = tf_keras.Sequential([
      tf_keras.Input([3], dtype=tf.int32),
      layers.OnDeviceEmbedding(rows, DIM, name='word_embeddings'),
      tf_keras.layers.GlobalAveragePooling1D(),
      tf_keras.layers.Dense(1, kernel_initializer='zeros')])
  model.layers[0].embeddings.assign(table)
  optimizer = tf_keras.optimizers.SGD(0.0, momentum=0.9)  # lr 0: no change.
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(model(tf.constant([[1, 2, 3]])))
  optimizer.apply_gradients(zip(
      tape.gradient(loss, model.trainable_variables),
      model.trainable_variables))
  assert np.array_equal(model.layers[0].embeddings.numpy(), table)
  ckpt = tf.train.Checkpoint(global_step=tf.Variable(1000, dtype=tf.int64),
                             model=model, optimizer=optimizer)
  ckpt.write(os.path.join(HERE, 'ckpt'))


if __name__ == '__main__':
  main()

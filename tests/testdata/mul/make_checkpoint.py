"""Writes tests/testdata/mul/ckpt: `tf.train.Checkpoint(model=...)` with v = 2.0.

    .venv/bin/python tests/testdata/mul/make_checkpoint.py
"""
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
import tensorflow as tf  # pylint: disable=g-import-not-at-top

HERE = os.path.dirname(os.path.abspath(__file__))

if __name__ == '__main__':
  model = tf.train.Checkpoint(v=tf.Variable(2.0, name='v'))
  tf.train.Checkpoint(model=model).write(os.path.join(HERE, 'ckpt'))

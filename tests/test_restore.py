"""Strict checkpoint restore (official/hub_export/restore.py)."""
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from official.hub_export import restore
from official.hub_export.spec import ExportError


def _model(hidden=4, seed=0, name='net'):
  """A tiny functional model: the exported `body` plus a `head`."""
  tf_keras.utils.set_random_seed(seed)
  inp = tf_keras.Input([3])
  body = tf_keras.Sequential([tf_keras.layers.Dense(hidden, name='d1'),
                              tf_keras.layers.BatchNormalization(name='bn')],
                             name='body')
  out = tf_keras.layers.Dense(2, name='head')(body(inp))
  return tf_keras.Model(inp, out, name=name), body


@pytest.fixture(scope='session')
def checkpoints(session_tmp):
  """Checkpoints of one trained model in the layouts recipes meet."""
  model, body = _model(seed=1)
  opt = tf_keras.optimizers.Adam()
  model.compile(opt, 'mse')
  model.fit(np.ones([4, 3]), np.ones([4, 2]), verbose=0)  # Optimizer slots.
  d = str(session_tmp / 'restore')
  paths = {
      'trainer': tf.train.Checkpoint(model=model, optimizer=opt,
                                     global_step=tf.Variable(7)).save(
                                         os.path.join(d, 'trainer', 'ckpt')),
      'body_only': tf.train.Checkpoint(encoder=body).write(
          os.path.join(d, 'body', 'ckpt')),
  }
  model.save_weights(os.path.join(d, 'keras', 'weights'))
  paths['keras_tf'] = os.path.join(d, 'keras', 'weights')
  paths['keras_h5'] = os.path.join(d, 'keras.h5')
  model.save_weights(paths['keras_h5'])
  values = {v.name: v.numpy() for v in model.variables}
  wide, wide_body = _model(hidden=8, seed=2)
  paths['wide'] = tf.train.Checkpoint(model=wide).write(
      os.path.join(d, 'wide', 'ckpt'))
  wide.save_weights(os.path.join(d, 'wide.h5'))
  paths['wide_h5'] = os.path.join(d, 'wide.h5')
  del wide_body
  return paths, values


def _assert_restored(model, values):
  for v in model.variables:
    np.testing.assert_array_equal(v.numpy(), values[v.name])


def test_trainer_checkpoint_with_optimizer_slots(checkpoints):
  paths, values = checkpoints
  model, body = _model(seed=5)
  rep = restore.restore(paths['trainer'], [restore.Layout('trainer', model=model)],
                        required=body.variables)
  _assert_restored(model, values)
  assert rep.layout == 'trainer' and rep.restored == len(body.variables)
  assert rep.ignored_values > 0  # Head, optimizer slots, step: not errors.


def test_directory_resolves_to_latest_checkpoint(checkpoints):
  paths, values = checkpoints
  model, body = _model(seed=5)
  restore.restore(os.path.dirname(paths['trainer']),
                  [restore.Layout('trainer', model=model)], body.variables)
  _assert_restored(model, values)


def test_index_suffix_and_directory_without_checkpoint_file(checkpoints):
  paths, _ = checkpoints
  assert restore.resolve(paths['body_only'] + '.index') == (
      'tf', paths['body_only'])
  assert restore.resolve(os.path.dirname(paths['body_only'])) == (
      'tf', paths['body_only'])


def test_second_layout_is_used_when_first_does_not_match(checkpoints):
  paths, values = checkpoints
  model, body = _model(seed=5)
  rep = restore.restore(paths['body_only'],
                        [restore.Layout('trainer', model=model),
                         restore.Layout('encoder-only', encoder=body)],
                        required=body.variables)
  assert rep.layout == 'encoder-only'
  for v in body.variables:
    np.testing.assert_array_equal(v.numpy(), values[v.name])


def test_required_variable_missing_is_reported_with_closest_keys(checkpoints):
  paths, _ = checkpoints
  model, body = _model(seed=5)
  with pytest.raises(ExportError) as e:
    # The exported object includes the head, which body_only lacks.
    restore.restore(paths['body_only'],
                    [restore.Layout('encoder-only', encoder=body,
                                    head=model.get_layer('head'))],
                    required=model.variables)
  msg = str(e.value)
  first = msg.splitlines()[0]
  assert '2 of 8 found nothing' in first
  assert 'not found: head/kernel (checkpoint key head/kernel) [4, 2]' in msg
  # Same variable name, nearest path first.
  assert ('closest checkpoint keys: encoder/layer_with_weights-0/kernel'
          in msg)


def test_shape_mismatch_reports_both_shapes(checkpoints):
  paths, _ = checkpoints
  model, body = _model(seed=5)  # hidden=4; the checkpoint has hidden=8.
  with pytest.raises(ExportError) as e:
    restore.restore(paths['wide'], [restore.Layout('trainer', model=model)],
                    required=model.variables)
  msg = str(e.value)
  assert '7 of 8 exported variables have the wrong shape' in msg.splitlines()[0]
  assert ('wrong shape: d1/kernel (checkpoint key model/layer_with_weights-0/'
          'layer_with_weights-0/kernel): model [3, 4], checkpoint [3, 8]' in msg)
  del body


def test_unrelated_checkpoint_names_known_layouts(checkpoints):
  paths, _ = checkpoints
  model, body = _model(seed=5)
  with pytest.raises(ExportError, match='holds none of the exported variables '
                     r'under any known layout \(trainer\)'):
    restore.restore(paths['body_only'], [restore.Layout('trainer', x=model)],
                    required=body.variables)


def test_keras_save_weights_tf_format(checkpoints):
  paths, values = checkpoints
  model, _ = _model(seed=5)
  rep = restore.restore(paths['keras_tf'], [restore.Layout('trainer', model=model),
                                            restore.Layout('keras', root=model)],
                        required=model.variables)
  assert rep.layout == 'keras'
  _assert_restored(model, values)


def test_keras_h5(checkpoints):
  paths, values = checkpoints
  model, _ = _model(seed=5)
  rep = restore.restore(paths['keras_h5'], [restore.Layout('keras', root=model)],
                        required=model.variables)
  assert rep.format == 'h5'
  _assert_restored(model, values)


def test_keras_h5_shape_mismatch(checkpoints):
  paths, _ = checkpoints
  model, _ = _model(seed=5)
  with pytest.raises(ExportError, match=r'wrong shape: .*model \[3, 4\], file '
                     r'.*\[3, 8\]'):
    restore.restore(paths['wide_h5'], [restore.Layout('keras', root=model)],
                    required=model.variables)


@pytest.mark.parametrize('path,fragment', [
    ('does/not/exist', 'no checkpoint at'),
    ('missing.h5', 'does not exist'),
    ('', 'no checkpoint given'),
])
def test_bad_paths(path, fragment, tmp_path):
  model, _ = _model(seed=5)
  with pytest.raises(ExportError, match=fragment):
    restore.restore(str(tmp_path / path) if path else '',
                    [restore.Layout('m', model=model)], model.variables)


def test_empty_directory(tmp_path):
  with pytest.raises(ExportError, match='no checkpoint in directory'):
    restore.resolve(str(tmp_path))


def test_directory_with_several_checkpoints_and_no_checkpoint_file(tmp_path):
  v = tf.Variable(1.0)
  tf.train.Checkpoint(v=v).write(str(tmp_path / 'a'))
  tf.train.Checkpoint(v=v).write(str(tmp_path / 'b'))
  with pytest.raises(ExportError, match='several checkpoints'):
    restore.resolve(str(tmp_path))


def test_truncated_checkpoint_is_a_clear_error(checkpoints, tmp_path):
  paths, _ = checkpoints
  bad = tmp_path / 'bad'
  bad.with_suffix('.index').write_bytes(b'not a checkpoint index')
  model, _ = _model(seed=5)
  with pytest.raises(ExportError, match='is damaged: its index'):
    restore.restore(str(bad), [restore.Layout('m', model=model)],
                    model.variables)
  del paths


def test_layout_at_a_checkpoint_key():
  from conftest import TESTDATA  # pylint: disable=g-import-not-at-top
  ckpt = os.path.join(TESTDATA, 'text_embedding', 'ckpt')
  keys = ['model/embeddings',
          restore.value_key('model/layer_with_weights-0/embeddings')]
  table = tf.Variable(tf.zeros([11, 4]))
  rep = restore.restore(ckpt, [restore.layout_at(k, table) for k in keys],
                        [table])
  assert rep.layout == keys[1]
  np.testing.assert_array_equal(table.numpy(), tf.train.load_checkpoint(
      ckpt).get_tensor(keys[1]))
  # One row short: the table is [10, 4], the checkpoint's [11, 4].
  short = tf.Variable(tf.zeros([10, 4]))
  with pytest.raises(ExportError, match=r'wrong shape.*\[10, 4\].*\[11, 4\]'
                     ) as e:
    restore.restore(ckpt, [restore.layout_at(k, short) for k in keys],
                    [short], hint='HINT')
  assert 'HINT' in str(e.value).splitlines()[0]


def test_checkpoint_keys_are_unescaped():
  assert restore.object_path('a/b.Sc/d..e') == ['a', 'b/c', 'd.e']
  assert restore.object_path(restore.value_key('a/b.Sc')) == ['a', 'b/c']
  assert restore.value_key('model/kernel') == (
      'model/kernel/.ATTRIBUTES/VARIABLE_VALUE')

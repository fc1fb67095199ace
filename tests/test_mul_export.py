"""Regression tests of the seed recipe (export_scripts/mul_export.py)."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import assert_card_code_runs, TESTDATA, assert_golden, assert_ok, run_script

CKPT = os.path.join(TESTDATA, 'mul', 'ckpt')
GOLDEN = os.path.join(TESTDATA, 'mul', 'golden', 'mul.npz')


@pytest.fixture(scope='session')
def mul_export(session_tmp):
  """The seed recipe exported once through its real command line."""
  out = str(session_tmp / 'my_mul')
  proc = run_script('mul_export.py', '--gin_file=configs/mul/tiny.gin',
                    f'--checkpoint_path={CKPT}', f'--export_dir={out}')
  assert_ok(proc)
  return out, proc


def test_end_to_end_command_line(mul_export):
  out, proc = mul_export
  assert 'verified: ' in proc.stdout and 'checks passed' in proc.stdout
  with open(os.path.join(out, 'assets.extra', 'export_record.json')) as f:
    rec = json.load(f)
  assert rec['recipe'] == 'mul'
  assert rec['verification']['failed'] == 0
  assert rec['source']['checkpoint']['restored_variables'] == 1
  assert 'mul_export.py' in rec['command']
  with open(os.path.join(out, 'assets.extra', 'operative_config.gin')) as f:
    assert 'MyMulModel.l2_regularization' in f.read()


def test_record_fingerprints_the_checkpoint(mul_export):
  # The record's fingerprint (hashed in a background thread during the
  # export) is sha256 over each checkpoint file's name and sha256, sorted.
  import hashlib  # pylint: disable=g-import-not-at-top
  with open(os.path.join(mul_export[0], 'assets.extra',
                         'export_record.json')) as f:
    ckpt = json.load(f)['source']['checkpoint']
  h = hashlib.sha256()
  for suffix in ('.data-00000-of-00001', '.index'):
    with open(CKPT + suffix, 'rb') as f:
      data = f.read()
    h.update(os.path.basename(CKPT + suffix).encode() + b'\0')
    h.update(hashlib.sha256(data).hexdigest().encode())
  assert ckpt['fingerprint_sha256'] == h.hexdigest()
  assert ckpt['bytes'] == sum(os.path.getsize(CKPT + s) for s in
                              ('.data-00000-of-00001', '.index'))


def test_model_card_matches_the_export(mul_export):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  out = mul_export[0]
  with open(os.path.join(out, 'assets.extra', 'README.md')) as f:
    card = f.read()
  assert card.startswith('# Module publisher/my_mul/1\n')
  assert '<!-- format: saved_model_2 -->' in card
  sig = hub.load(out).signatures['serving_default']
  assert list(sig.structured_outputs) == ['outputs']
  assert '| input | `inputs` | float32 | any shape |' in card
  assert '| output | `outputs` | float32 | any shape |' in card
  assert 'L2 regularization of v: 0.001' in card
  assert '1 losses, total 0.004' in card
  with open(os.path.join(out, 'assets.extra',
                         'model-instance-metadata.json')) as f:
    assert json.load(f)['instanceSlug'] == 'my-mul'


def test_golden_outputs(mul_export):
  assert_golden(mul_export[0], GOLDEN)


def test_seed_example_works_as_documented(mul_export):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  layer = hub.KerasLayer(mul_export[0])
  np.testing.assert_array_equal(layer([10., 20.]).numpy(), [20., 40.])
  layer = hub.KerasLayer(mul_export[0], trainable=True)
  layer([10., 20.])
  assert [w.numpy() for w in layer.trainable_weights] == [2.0]
  np.testing.assert_allclose([float(l) for l in layer.losses], [0.004],
                             rtol=1e-6)


def test_fine_tuning_through_keras_layer_lowers_loss(mul_export):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  layer = hub.KerasLayer(mul_export[0], trainable=True)
  model = tf_keras.Sequential([tf_keras.Input(shape=[]), layer])
  model.compile(optimizer=tf_keras.optimizers.SGD(0.05), loss='mse')
  x = np.linspace(-1, 1, 64).astype(np.float32)
  hist = model.fit(x, 3.0 * x, epochs=4, batch_size=16, verbose=0)
  losses = hist.history['loss']
  assert losses[-1] < losses[0]
  assert layer.trainable_weights[0].numpy() > 2.0  # Moved towards 3.


def test_re_export_is_numerically_identical(mul_export, tmp_path):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  again = str(tmp_path / 'again')
  assert_ok(run_script('mul_export.py', '--gin_file=configs/mul/tiny.gin',
                       f'--checkpoint_path={CKPT}', f'--export_dir={again}',
                       '--noverify'))
  x = tf.constant(np.random.RandomState(1).normal(size=[4, 3]), tf.float32)
  a = hub.load(mul_export[0])(x, training=False).numpy()
  b = hub.load(again)(x, training=False).numpy()
  np.testing.assert_array_equal(a, b)
  rec_a = json.load(open(os.path.join(mul_export[0], 'assets.extra',
                                      'export_record.json')))
  rec_b = json.load(open(os.path.join(again, 'assets.extra',
                                      'export_record.json')))
  assert rec_b['verification'] is None  # --noverify is recorded as such.
  assert (rec_a['files']['variables/variables.data-00000-of-00001']['sha256']
          == rec_b['files']['variables/variables.data-00000-of-00001']['sha256'])


def test_model_card_code_runs(mul_export):
  """Every code block of the model cards runs as published (tf_keras with
  hub.KerasLayer, Keras 3 with TFSMLayer), against this export."""
  out = mul_export[0]
  tf_keras_blocks, keras3_blocks = assert_card_code_runs(out)
  assert tf_keras_blocks and keras3_blocks

"""Tests of the seed recipe (export_scripts/mul_export.py).

The low-level family's contract (tests/lowlevel_family.py) on the committed
checkpoint (v = 2.0); here only what is particular to the seed: the record's
checkpoint fingerprint, the model card's text, and the documented example
and fine-tuning.
"""
import json
import os

import numpy as np

import lowlevel_family
from conftest import TESTDATA  # pylint: disable=g-bad-import-order

CKPT = os.path.join(TESTDATA, 'mul', 'ckpt')


class TestLowLevelFamily(lowlevel_family.Contract):
  member = lowlevel_family.Member(
      recipe='mul', args=('--gin_file=configs/mul/tiny.gin',
                          '--checkpoint_path={data}/ckpt'),
      golden='mul.npz')

  def test_record_names_the_checkpoint_and_config(self, exported):
    rec = lowlevel_family.record(exported[0])
    assert rec['source']['checkpoint']['restored_variables'] == 1
    with open(os.path.join(exported[0], 'assets.extra',
                           'operative_config.gin')) as f:
      assert 'MyMulModel.l2_regularization' in f.read()

  def test_record_fingerprints_the_checkpoint(self, exported):
    # The record's fingerprint (hashed in a background thread during the
    # export) is sha256 over each checkpoint file's name and sha256, sorted.
    import hashlib  # pylint: disable=g-import-not-at-top
    ckpt = lowlevel_family.record(exported[0])['source']['checkpoint']
    h = hashlib.sha256()
    for suffix in ('.data-00000-of-00001', '.index'):
      with open(CKPT + suffix, 'rb') as f:
        data = f.read()
      h.update(os.path.basename(CKPT + suffix).encode() + b'\0')
      h.update(hashlib.sha256(data).hexdigest().encode())
    assert ckpt['fingerprint_sha256'] == h.hexdigest()
    assert ckpt['bytes'] == sum(os.path.getsize(CKPT + s) for s in
                                ('.data-00000-of-00001', '.index'))

  def test_model_card_matches_the_export(self, exported):
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    out = exported[0]
    with open(os.path.join(out, 'assets.extra', 'README.md')) as f:
      card = f.read()
    assert card.startswith('# Module publisher/my_mul/1\n')
    sig = hub.load(out).signatures['serving_default']
    assert list(sig.structured_outputs) == ['outputs']
    assert '| input | `inputs` | float32 | any shape |' in card
    assert '| output | `outputs` | float32 | any shape |' in card
    assert 'L2 regularization of v: 0.001' in card
    assert '1 losses, total 0.004' in card
    with open(os.path.join(out, 'assets.extra',
                           'model-instance-metadata.json')) as f:
      assert json.load(f)['instanceSlug'] == 'my-mul'

  def test_seed_example_works_as_documented(self, exported):
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    layer = hub.KerasLayer(exported[0])
    np.testing.assert_array_equal(layer([10., 20.]).numpy(), [20., 40.])
    layer = hub.KerasLayer(exported[0], trainable=True)
    layer([10., 20.])
    assert [w.numpy() for w in layer.trainable_weights] == [2.0]
    np.testing.assert_allclose([float(l) for l in layer.losses], [0.004],
                               rtol=1e-6)

  def test_fine_tuning_through_keras_layer_lowers_loss(self, exported):
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    import tf_keras  # pylint: disable=g-import-not-at-top
    layer = hub.KerasLayer(exported[0], trainable=True)
    model = tf_keras.Sequential([tf_keras.Input(shape=[]), layer])
    model.compile(optimizer=tf_keras.optimizers.SGD(0.05), loss='mse')
    x = np.linspace(-1, 1, 64).astype(np.float32)
    hist = model.fit(x, 3.0 * x, epochs=4, batch_size=16, verbose=0)
    losses = hist.history['loss']
    assert losses[-1] < losses[0]
    assert layer.trainable_weights[0].numpy() > 2.0  # Moved towards 3.

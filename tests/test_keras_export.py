"""Regression tests of the Keras 3 / KerasHub recipe (export_scripts/keras_export.py).

Sources: the committed tiny Keras 3 model (tests/testdata/keras/tiny.keras)
and tiny KerasHub presets built from their config classes with random
weights (a BertBackbone with its BertTokenizer, a ResNetImageClassifier with
its ImageConverter), written by tests/testdata/keras/make_checkpoint.py in
a Keras 3 process together with the outputs KerasHub itself computes. Each
is exported once through the real command line (session fixtures); this
process is a tf_keras consumer (hub.load, hub.KerasLayer) comparing the
exports with those Keras 3 outputs.
"""
import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import tensorflow as tf

import lowlevel_family
from conftest import (ROOT, TESTDATA, assert_card_code_runs, assert_ok,  # pylint: disable=g-multiple-import,g-bad-import-order
                      assert_one_line_error, run_script, script_env)

HERE = os.path.join(TESTDATA, 'keras')
TINY_MODEL = os.path.join(HERE, 'tiny.keras')
TINY = '--gin_file=configs/keras/tiny.gin'
SEQ_LENGTH = 16  # make_checkpoint.SEQ_LENGTH


def _keras3(kind, path):
  """Writes a KerasHub preset (or model) and its Keras 3 outputs, in a
  Keras 3 process (make_checkpoint.py --kind=KIND PATH)."""
  env = dict(script_env(), TF_USE_LEGACY_KERAS='0')
  proc = subprocess.run(
      [sys.executable, os.path.join(HERE, 'make_checkpoint.py'),
       f'--kind={kind}', path], env=env, capture_output=True, text=True,
      timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return (dict(np.load(path + '.npz')) if os.path.exists(path + '.npz')
          else None)


def _export(out, model_path, *args):
  proc = run_script('keras_export.py', TINY, f'--model_path={model_path}',
                    f'--export_dir={out}', *args)
  assert_ok(proc)
  return proc


def _record(path):
  with open(os.path.join(path, 'assets.extra', 'export_record.json')) as f:
    return json.load(f)


# ---------------------------------------------------------------------------
# Sources and exports (once per session).

@pytest.fixture(scope='session')
def tiny_reference():
  """tiny.keras's Keras 3 outputs, losses and variable names, written with
  it by make_checkpoint.py."""
  return dict(np.load(os.path.join(HERE, 'tiny_reference.npz')))


@pytest.fixture(scope='session')
def bert_preset(session_tmp):
  path = str(session_tmp / 'bert_preset')
  return path, _keras3('bert', path)


@pytest.fixture(scope='session')
def bert_export(session_tmp, bert_preset):
  out = str(session_tmp / 'bert_export')
  return out, _export(out, bert_preset[0],
                      f'--gin_params=keras.seq_length = {SEQ_LENGTH}')


@pytest.fixture(scope='session')
def resnet_preset(session_tmp):
  path = str(session_tmp / 'resnet_preset')
  return path, _keras3('resnet', path)


@pytest.fixture(scope='session')
def resnet_export(session_tmp, resnet_preset):
  out = str(session_tmp / 'resnet_export')
  return out, _export(out, resnet_preset[0])


# ---------------------------------------------------------------------------
# A .keras file, exported as it is.

class TestLowLevelFamily(lowlevel_family.Contract):
  """The low-level family's contract on the committed tiny .keras file
  (the 'model' API), and what Keras 3 itself has for the model."""
  member = lowlevel_family.Member(
      recipe='keras', args=(TINY, '--model_path={data}/tiny.keras'),
      golden='keras.npz',
      bad_choice=("keras.api = 'nope'",
                  "gin: keras.api = 'nope' is invalid: use 'auto' or"))

  def test_record_names_the_keras_file(self, exported):
    rec = _record(exported[0])
    source = rec['source']['inputs']['keras_model']
    assert source['api'] == 'model' and source['path'] == TINY_MODEL
    assert source['parameters'] == 187

  def test_keras_file_export_equals_keras3(self, exported, tiny_reference):
    """Outputs, variables, trainable variables and regularization losses are
    what Keras 3 has for the model."""
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    obj = hub.load(exported[0])
    ref = tiny_reference
    np.testing.assert_allclose(obj(ref['inputs'], training=False),
                               ref['outputs'], rtol=1e-5, atol=1e-6)
    name = lambda v: v.name[:-len(':0')]
    weights = [name(v) for v in obj.variables if 'seed_generator' not in v.name]
    assert weights == list(ref['variables'])
    assert [name(v) for v in obj.trainable_variables] == list(ref['trainable'])
    assert 'frozen/kernel' not in [name(v) for v in obj.trainable_variables]
    # The dropout's seed is saved too (training=True reads and advances it).
    assert any('seed_generator' in v.name for v in obj.variables)
    np.testing.assert_allclose([float(f()) for f in obj.regularization_losses],
                               ref['losses'], rtol=1e-6)
    a, b = (obj(ref['inputs'], training=True).numpy() for _ in range(2))
    assert not np.allclose(a, b)  # Dropout active, a fresh mask per call.

  def test_fine_tuning_moves_trainable_weights_only(self, exported):
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    import tf_keras  # pylint: disable=g-import-not-at-top
    tf_keras.utils.set_random_seed(0)
    layer = hub.KerasLayer(exported[0], trainable=True)
    model = tf_keras.Sequential([tf_keras.Input([6]), layer,
                                 tf_keras.layers.Dense(2)])
    model.compile(optimizer=tf_keras.optimizers.SGD(0.05),
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True))
    assert len(layer.losses) == 3  # The regularizers are in the loss.
    before = {w.name: w.numpy().copy() for w in layer.weights}
    rng = np.random.RandomState(0)
    model.fit(rng.uniform(0, 1, [32, 6]).astype(np.float32),
              np.arange(32) % 2, epochs=3, batch_size=8, verbose=0)
    for w in layer.weights:
      moved = not np.array_equal(before[w.name], w.numpy())
      if w.name.startswith('frozen/') or 'seed_generator' in w.name:
        continue
      assert moved, w.name
    for w in layer.weights:
      if w.name.startswith('frozen/'):  # trainable=False in Keras: frozen.
        np.testing.assert_array_equal(before[w.name], w.numpy())


# ---------------------------------------------------------------------------
# KerasHub BertBackbone preset -> TF Hub BERT encoder + preprocessor.

def test_end_to_end_bert_preset(bert_export):
  out, proc = bert_export
  assert sorted(os.listdir(out)) == ['encoder', 'preprocessor']
  assert proc.stdout.count('checks passed') == 2, proc.stdout
  for name, task in (('encoder', 'text-embedding'),
                     ('preprocessor', 'text-preprocessing')):
    rec = _record(os.path.join(out, name))
    assert rec['api']['task'] == task
    assert rec['verification']['failed'] == 0
    config = rec['source']['inputs']['preset/config.json']
    assert config['api'] == 'bert_encoder'
    assert config['class'].endswith('BertBackbone')


def _assert_equals_keras_hub(out, ref, vocab_size, ragged_rank, layers):
  """The preprocessor gives the ids of KerasHub's own preprocessor (one and
  two segments), and the encoder KerasHub's backbone outputs on them."""
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
  from official.hub_export import bert_family  # pylint: disable=g-import-not-at-top
  mc = _make_checkpoint()
  pre = hub.load(os.path.join(out, 'preprocessor'))
  sentences = tf.constant(mc.SENTENCES)
  single = pre(sentences)
  pair = pre.bert_pack_inputs([pre.tokenize(sentences[:3]),
                               pre.tokenize(sentences[3:])],
                              seq_length=SEQ_LENGTH)
  for packed, prefix in ((single, 'single'), (pair, 'pair')):
    np.testing.assert_array_equal(packed['input_word_ids'],
                                  ref[f'{prefix}_token_ids'])
    np.testing.assert_array_equal(packed['input_type_ids'],
                                  ref[f'{prefix}_segment_ids'])
    np.testing.assert_array_equal(packed['input_mask'],
                                  ref[f'{prefix}_padding_mask'].astype(int))
  tokens = pre.tokenize(sentences)
  assert isinstance(tokens, tf.RaggedTensor)
  assert tokens.ragged_rank == ragged_rank
  special = pre.tokenize.get_special_tokens_dict()
  assert {k: int(v) for k, v in special.items()} == dict(
      vocab_size=vocab_size, padding_id=0, start_of_sequence_id=2,
      end_of_segment_id=3, mask_id=4)
  encoder = hub.load(os.path.join(out, 'encoder'))
  outputs = encoder(single, training=False)
  np.testing.assert_allclose(outputs['pooled_output'], ref['pooled_output'],
                             atol=1e-5)
  np.testing.assert_allclose(outputs['sequence_output'],
                             ref['sequence_output'], atol=1e-5)
  np.testing.assert_array_equal(outputs['default'], outputs['pooled_output'])
  assert len(outputs['encoder_outputs']) == layers
  np.testing.assert_array_equal(outputs['encoder_outputs'][-1],
                                outputs['sequence_output'])
  assert set(outputs) == set(bert_family.ENCODER_SPEC.outputs)
  return encoder


def test_bert_export_equals_keras_hub(bert_export, bert_preset):
  """BertBackbone + BertTokenizer (WordPiece): KerasHub's
  BertTextClassifierPreprocessor and backbone outputs."""
  mc = _make_checkpoint()
  encoder = _assert_equals_keras_hub(bert_export[0], bert_preset[1],
                                     len(mc.VOCAB), ragged_rank=2, layers=2)
  # As the TF Hub BERT encoders: the vocabulary and casing travel along.
  with open(encoder.vocab_file.asset_path.numpy().decode()) as f:
    assert f.read().split('\n')[:-1] == mc.VOCAB
  assert bool(encoder.do_lower_case.numpy())


@pytest.fixture(scope='session')
def albert_preset(session_tmp):
  path = str(session_tmp / 'albert_preset')
  return path, _keras3('albert', path)


def test_albert_preset_equals_keras_hub(albert_preset, tmp_path):
  """AlbertBackbone + AlbertTokenizer (SentencePiece) in the same API: the
  ids of KerasHub's AlbertTextClassifierPreprocessor, the backbone's
  outputs, one encoder output per application of the shared layer; the
  SentencePiece model travels along as `sp_model_file`, as on the TF Hub
  ALBERTs."""
  out = str(tmp_path / 'albert')
  proc = _export(out, albert_preset[0],
                 f'--gin_params=keras.seq_length = {SEQ_LENGTH}')
  assert proc.stdout.count('checks passed') == 2, proc.stdout
  config = _record(os.path.join(out, 'encoder'))['source']['inputs'][
      'preset/config.json']
  assert config['api'] == 'bert_encoder'
  assert config['class'].endswith('AlbertBackbone')
  encoder = _assert_equals_keras_hub(out, albert_preset[1], 40,
                                     ragged_rank=1, layers=3)
  with open(encoder.sp_model_file.asset_path.numpy().decode(), 'rb') as f, \
      open(os.path.join(albert_preset[0], 'assets', 'tokenizer',
                        'vocabulary.spm'), 'rb') as g:
    assert f.read() == g.read()
  assert not hasattr(encoder, 'vocab_file')


def test_bert_preset_model_cards_run_and_fine_tune(bert_export):
  """The published way to fine-tune the KerasHub BERT export: every code
  block of both model cards runs against it, the tf_keras blocks with
  hub.KerasLayer and the Keras 3 blocks with TFSMLayer (a `fit` on
  preprocessor + encoder in each)."""
  out = bert_export[0]
  tf_keras_blocks, keras3_blocks = assert_card_code_runs(
      os.path.join(out, 'encoder'), os.path.join(out, 'preprocessor'))
  assert any('.fit(' in b for b in tf_keras_blocks)
  assert any('TFSMLayer' in b and '.fit(' in b for b in keras3_blocks)


# ---------------------------------------------------------------------------
# KerasHub ResNetImageClassifier preset -> TF Hub image APIs.

@pytest.mark.slow
def test_end_to_end_resnet_preset(resnet_export, resnet_preset):
  """The exports take [0, 1] images and give KerasHub's own pipeline's
  results (ImageConverter on 0-255 pixels, backbone, pooler, head)."""
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  out, proc = resnet_export
  assert proc.stdout.count('checks passed') == 2, proc.stdout
  ref = resnet_preset[1]
  for name in ('feature_vector', 'classification'):
    rec = _record(os.path.join(out, name))
    assert rec['verification']['failed'] == 0
    assert rec['source']['inputs']['preset/config.json'][
        'api'] == 'image_classifier'
  logits = hub.load(os.path.join(out, 'classification'))(ref['images'])
  features = hub.load(os.path.join(out, 'feature_vector'))(ref['images'])
  np.testing.assert_allclose(logits, ref['logits'], atol=1e-5)
  np.testing.assert_allclose(features, ref['feature_vector'], atol=1e-5)
  fv = hub.load(os.path.join(out, 'feature_vector'))
  assert not any('predictions' in v.name for v in fv.variables)
  assert fv(ref['images'][:2, :20, :24]).shape == [2, 16]  # Any size.


@pytest.mark.slow
def test_end_to_end_vit_preset(session_tmp):
  """A ViT classifier (fixed image size, class-token features): both exports
  verified (the attention softmax is no final softmax); the classifier's
  logits equal KerasHub's predict."""
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  preset = str(session_tmp / 'vit_preset')
  ref = _keras3('vit', preset)
  out = str(session_tmp / 'vit_export')
  _export(out, preset, "--gin_params=EXPORTS = ['feature_vector']")
  assert _record(os.path.join(out, 'feature_vector'))['verification'][
      'failed'] == 0
  out_cls = str(session_tmp / 'vit_export_cls')
  _export(out_cls, preset, "--gin_params=EXPORTS = ['classification']")
  assert _record(os.path.join(out_cls, 'classification'))['verification'][
      'failed'] == 0
  obj = hub.load(os.path.join(out_cls, 'classification'))
  np.testing.assert_allclose(obj(ref['images'], training=False),
                             ref['logits'], atol=1e-5)
  fv = hub.load(os.path.join(out, 'feature_vector'))
  assert fv(ref['images']).shape == [3, 16]  # The class token, hidden 16.
  sig = fv.signatures['serving_default']
  assert sig.structured_input_signature[1]['images'].shape.as_list() == [
      None, 32, 32, 3]


@pytest.mark.slow
def test_end_to_end_efficientnet_preset(session_tmp):
  """An EfficientNet classifier (MBConv blocks, squeeze-and-excite, batch
  norm): both exports verified; features and logits equal KerasHub's own
  pooler output and predict on the same images."""
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  preset = str(session_tmp / 'efficientnet_preset')
  ref = _keras3('efficientnet', preset)
  out = str(session_tmp / 'efficientnet_export')
  proc = _export(out, preset)
  assert proc.stdout.count('checks passed') == 2, proc.stdout
  for name in ('feature_vector', 'classification'):
    assert _record(os.path.join(out, name))['verification']['failed'] == 0
  cls = hub.load(os.path.join(out, 'classification'))
  np.testing.assert_allclose(cls(ref['images'], training=False),
                             ref['logits'], atol=1e-5)
  fv = hub.load(os.path.join(out, 'feature_vector'))
  np.testing.assert_allclose(fv(ref['images'], training=False),
                             ref['feature_vector'], atol=1e-5)


@pytest.mark.slow
def test_benchmark_against_keras_export_runs(tmp_path):
  """The benchmark case (benchmarks/keras3.py) does not rot: a quick run
  exports both ways and finds the same logits."""
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'benchmarks', 'run.py'),
       '--cases=keras', '--quick', '--noverified', '--out=',
       f'--workdir={tmp_path}'], cwd=ROOT, env=script_env(),
      capture_output=True, text=True, timeout=1200, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'vs Keras 3 `model.export()`' in proc.stdout
  assert 'logits: ' in proc.stdout and '— met (<= 0.0001)' in proc.stdout


# ---------------------------------------------------------------------------
# Bad inputs: one-line errors, nothing written.

def _fails(tmp_path, *args):
  out = str(tmp_path / 'out')
  proc = run_script('keras_export.py', TINY, f'--export_dir={out}', *args)
  assert not os.path.exists(out), os.listdir(out)
  assert not [p for p in os.listdir(tmp_path) if p.startswith('.out')]
  return proc


def test_not_a_keras_file(tmp_path):
  path = tmp_path / 'model.keras'
  path.write_text('not a model')
  proc = _fails(tmp_path, f'--model_path={path}')
  assert_one_line_error(proc, 'is not a Keras 3 model file', code=1)


def test_preset_without_weights(tmp_path, bert_preset):
  preset = str(tmp_path / 'preset')
  shutil.copytree(bert_preset[0], preset)
  os.remove(os.path.join(preset, 'model.weights.h5'))
  proc = _fails(tmp_path, f'--model_path={preset}')
  assert_one_line_error(proc, 'has no model.weights.h5',
                        'would export random weights', code=1)


def test_keras_file_whose_weights_do_not_match_its_config(tmp_path):
  """A .keras whose config says 9 units where the weights have 8."""
  path = str(tmp_path / 'mismatch.keras')
  with zipfile.ZipFile(TINY_MODEL) as src, zipfile.ZipFile(path, 'w') as dst:
    for item in src.infolist():
      data = src.read(item.filename)
      if item.filename == 'config.json':
        config = json.loads(data)
        for layer in config['config']['layers']:
          if layer['config']['name'] == 'hidden':
            layer['config']['units'] = 9
        data = json.dumps(config).encode()
      dst.writestr(item, data)
  proc = _fails(tmp_path, f'--model_path={path}')
  assert_one_line_error(proc, 'do not match its model config', code=1)


def test_lambda_layers_are_refused(tmp_path):
  """safe_mode=True: a Lambda layer's pickled code is never run."""
  proc = _fails(tmp_path, f'--model_path={os.path.join(HERE, "lambda.keras")}')
  assert_one_line_error(proc, 'safe_mode=True', 'Lambda', code=1)


# ---------------------------------------------------------------------------
# The library, called directly (Keras 3 beside tf_keras in this process).

def _make_checkpoint():
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location(
      'keras_make_ckpt', os.path.join(HERE, 'make_checkpoint.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_weights_not_in_the_file_are_refused():
  """The strict check does not rely on Keras: a weight whose value is not
  stored in the file (here overwritten after loading) stops the export."""
  from official.hub_export import keras3  # pylint: disable=g-import-not-at-top
  from official.hub_export import spec  # pylint: disable=g-import-not-at-top
  loaded = keras3.load(TINY_MODEL)
  weights = loaded.model.weights
  assert keras3.check_weights_from_files(weights, loaded) == len(weights)
  kernel = loaded.model.get_layer('hidden').kernel
  kernel.assign(kernel.numpy() + 1.0)
  with pytest.raises(spec.ExportError, match='1 of 10 weights.*hidden/kernel'):
    keras3.check_weights_from_files(weights, loaded)


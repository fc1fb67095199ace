"""Regression tests of the ALBERT recipe (export_scripts/albert_export.py).

A tiny ALBERT (L=3 shared, H=32, A=2, E=16, 100-piece SentencePiece model;
configs/albert/tiny.gin) in the checkpoint layouts the recipe restores,
exported through the real command line and compared with the in-memory Model
Garden models and with Model Garden's own exporter
(`official.nlp.tools.export_tfhub_lib`); the published usage; bad inputs.
albert_en_base size is `slow`.
"""
import importlib.util
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import (assert_card_code_runs, ROOT, TESTDATA, assert_golden, assert_ok,
                      assert_one_line_error, run_script)
from official.hub_export import bert_family  # pylint: disable=g-bad-import-order

# By path, under its own name: other tests have a make_checkpoint.
_MC_SPEC = importlib.util.spec_from_file_location(
    'albert_make_checkpoint',
    os.path.join(TESTDATA, 'albert', 'make_checkpoint.py'))
mc = importlib.util.module_from_spec(_MC_SPEC)
_MC_SPEC.loader.exec_module(mc)

TINY = '--gin_file=configs/albert/tiny.gin'
SP_MODEL = mc.SP_MODEL
CKPT = mc.CKPT
GOLDEN = os.path.join(TESTDATA, 'albert', 'golden')
# Text with punctuation, accents, CJK, unknown words, an empty string and an
# over-length input (the verification's sample text).
SENTENCES = bert_family.SENTENCES


def _export(out, *args, ckpt=CKPT, sp_model=SP_MODEL, gin=TINY):
  flags = [gin, f'--export_dir={out}']
  if ckpt:
    flags.append(f'--checkpoint_path={ckpt}')
  if sp_model:
    flags.append(f'--sp_model_file={sp_model}')
  return run_script('albert_export.py', *flags, *args)


def _inputs(batch=3, seq=12, seed=0, vocab_size=100):
  rng = np.random.RandomState(seed)
  mask = np.ones([batch, seq], np.int32)
  mask[1:, seq - 3:] = 0
  return dict(
      input_word_ids=(rng.randint(1, vocab_size, [batch, seq]) * mask).astype(
          np.int32),
      input_mask=mask,
      input_type_ids=np.concatenate([np.zeros([batch, seq // 2], np.int32),
                                     mask[:, seq // 2:]], axis=1))


_POSITIONS = np.array([[1, 2, 5]] * 3, np.int32)


def _outputs(obj, inputs, with_mlm=True):
  """{name: array} of an encoder's call (and its .mlm call)."""
  out = obj(inputs, training=False)
  got = {k: out[k] for k in ('pooled_output', 'sequence_output', 'default')}
  got.update({f'encoder_outputs/{i}': t
              for i, t in enumerate(out['encoder_outputs'])})
  if with_mlm:
    batch = inputs['input_word_ids'].shape[0]
    mlm = obj.mlm(dict(inputs, masked_lm_positions=_POSITIONS[:1].repeat(
        batch, axis=0)), training=False)
    got['mlm_logits'] = mlm['mlm_logits']
    got.update({f'mlm/{k}': mlm[k]
                for k in ('pooled_output', 'sequence_output')})
  return {k: np.asarray(v) for k, v in got.items()}


def _assert_matches_model_garden(export_dir, encoder, pretrainer,
                                 with_mlm=True, atol=1e-5):
  """The export equals the in-memory Model Garden models (run as graphs)."""
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  obj = hub.load(os.path.join(export_dir, 'encoder'))
  inputs = _inputs()
  enc = tf.function(lambda x: encoder(x, training=False))(inputs)
  got = _outputs(obj, inputs, with_mlm)
  np.testing.assert_allclose(got['pooled_output'], enc['pooled_output'],
                             atol=atol, rtol=0)
  np.testing.assert_allclose(got['default'], enc['pooled_output'], atol=atol,
                             rtol=0)
  np.testing.assert_allclose(got['sequence_output'], enc['sequence_output'],
                             atol=atol, rtol=0)
  assert len(enc['encoder_outputs']) == 3
  for i, want in enumerate(enc['encoder_outputs']):
    np.testing.assert_allclose(got[f'encoder_outputs/{i}'], want, atol=atol,
                               rtol=0)
  if with_mlm:
    pre = tf.function(lambda x: pretrainer(x, training=False))(
        dict(inputs, masked_lm_positions=_POSITIONS))
    assert got['mlm_logits'].shape == (3, 3, 100)
    np.testing.assert_allclose(got['mlm_logits'], pre['mlm_logits'],
                               atol=atol, rtol=0)
  else:
    assert not hasattr(obj, 'mlm')


# ---------------------------------------------------------------------------
# Session fixtures: each checkpoint layout written and exported once.

@pytest.fixture(scope='session')
def committed_model():
  """The Model Garden models holding the committed tiny checkpoint."""
  encoder, pretrainer = mc.build(mc.encoder_config())
  tf.train.Checkpoint(model=pretrainer, **pretrainer.checkpoint_items).read(
      CKPT).assert_existing_objects_matched()
  return encoder, pretrainer


@pytest.fixture(scope='session')
def albert_export(session_tmp):
  """The committed tiny checkpoint exported through the command line."""
  out = str(session_tmp / 'albert')
  proc = _export(out)
  assert_ok(proc)
  return out, proc


@pytest.fixture(scope='session')
def model_garden_export(session_tmp, committed_model):
  """The same weights through Model Garden's own TF Hub exporter, with an
  albert EncoderConfig (as official/nlp/tools/export_tfhub.py runs it). It
  asserts a `save_counter`, which its trainer's CheckpointManager writes:
  the committed values are saved that way first."""
  from official.nlp.tools import export_tfhub_lib  # pylint: disable=g-import-not-at-top
  _, pretrainer = committed_model
  out = session_tmp / 'model_garden'
  ckpt = tf.train.Checkpoint(model=pretrainer, **pretrainer.checkpoint_items
                             ).save(str(out / 'ckpt' / 'ckpt'))
  export_tfhub_lib.export_model(
      str(out / 'encoder'), encoder_config=mc.encoder_config(),
      model_checkpoint_path=ckpt, with_mlm=True, sp_model_file=SP_MODEL)
  export_tfhub_lib.export_preprocessing(
      str(out / 'preprocessor'), sp_model_file=SP_MODEL, do_lower_case=True,
      tokenize_with_offsets=False, default_seq_length=16)
  return str(out)


# ---------------------------------------------------------------------------

def test_end_to_end_trainer_checkpoint(albert_export, committed_model):
  out, proc = albert_export
  assert 'verified: ' in proc.stdout
  assert sorted(os.listdir(out)) == ['encoder', 'preprocessor']
  for name in ('encoder', 'preprocessor'):
    with open(os.path.join(out, name, 'assets.extra',
                           'export_record.json')) as f:
      rec = json.load(f)
    assert rec['recipe'] == 'albert' and rec['export'] == name
    assert rec['verification']['failed'] == 0
    assert rec['source']['checkpoint']['layout'] == 'trainer'
    assert rec['source']['inputs']['sp_model_file']['tokens'] == 100
    with open(os.path.join(out, name, 'assets.extra', 'README.md')) as f:
      card = f.read()
    assert ('albert_en_tiny' in card and 'ALBERT' in card), card[:500]
  assert os.path.isfile(os.path.join(out, 'encoder', 'assets', 'sp.model'))
  _assert_matches_model_garden(out, *committed_model)


def test_golden_outputs(albert_export):
  for name in ('encoder', 'preprocessor'):
    assert_golden(os.path.join(albert_export[0], name),
                  os.path.join(GOLDEN, f'{name}.npz'))


def test_equals_model_garden_exporter(albert_export, model_garden_export):
  """Number for number what Model Garden's export_tfhub_lib exports from the
  same checkpoint: encoder, .mlm and the preprocessor."""
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
  ours = hub.load(os.path.join(albert_export[0], 'encoder'))
  theirs = hub.load(os.path.join(model_garden_export, 'encoder'))
  for seed, (batch, seq) in enumerate(((1, 7), (3, 12), (2, 30))):
    inputs = _inputs(batch, seq, seed=seed)
    got, want = _outputs(ours, inputs), _outputs(theirs, inputs)
    assert sorted(got) == sorted(want)
    for k in want:
      np.testing.assert_allclose(got[k], want[k], atol=1e-6, rtol=0,
                                 err_msg=k)
  assert ([v.shape for v in ours.trainable_variables] ==
          [v.shape for v in theirs.trainable_variables])
  pre_ours = hub.load(os.path.join(albert_export[0], 'preprocessor'))
  pre_theirs = hub.load(os.path.join(model_garden_export, 'preprocessor'))
  s = tf.constant(SENTENCES)
  assert pre_ours.tokenize(s).to_list() == pre_theirs.tokenize(s).to_list()
  for k, v in pre_theirs(s).items():
    np.testing.assert_array_equal(pre_ours(s)[k], v, err_msg=k)
  a, b = pre_ours.tokenize(s[:3]), pre_ours.tokenize(s[3:])
  for n in (9, 40):
    want = pre_theirs.bert_pack_inputs([a, b], seq_length=n)
    got = pre_ours.bert_pack_inputs([a, b], seq_length=n)
    for k in want:
      np.testing.assert_array_equal(got[k], want[k], err_msg=(k, n))


def test_encoder_api_as_published(albert_export):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  enc = hub.load(os.path.join(albert_export[0], 'encoder'))
  assert enc.sp_model_file.asset_path.numpy().decode().endswith('sp.model')
  assert not hasattr(enc, 'do_lower_case') and not hasattr(enc, 'vocab_file')
  sig = enc.signatures['serving_default']
  _, kw = sig.structured_input_signature
  assert sorted(kw) == ['input_mask', 'input_type_ids', 'input_word_ids']
  assert all(s.dtype == tf.int32 and s.shape.as_list() == [None, None]
             for s in kw.values())
  out = enc(_inputs(batch=1, seq=7), training=False)
  assert sorted(out) == ['default', 'encoder_outputs', 'pooled_output',
                         'sequence_output']
  assert out['sequence_output'].shape == (1, 7, 32)
  assert len(out['encoder_outputs']) == 3
  x = _inputs()
  mlm = enc.mlm(dict(x, masked_lm_positions=np.zeros([3, 2], np.int32)))
  assert sorted(mlm) == ['encoder_outputs', 'mlm_logits', 'pooled_output',
                         'sequence_output']
  assert mlm['mlm_logits'].shape == (3, 2, 100)
  # ALBERT: factorized embeddings [100, 16] -> [16, 32], one shared block.
  shapes = {v.name: v.shape.as_list() for v in enc.variables}
  assert shapes['word_embeddings/embeddings:0'] == [100, 16]
  assert shapes['embedding_projection/kernel:0'] == [16, 32]
  assert sum(n.startswith('transformer/') for n in shapes) == 16
  assert len(enc.trainable_variables) == len(enc.variables) == 25
  # The root's variables are the encoder's; the MLM head lives in .mlm only.
  assert len(enc.mlm.variables) == 30


def test_preprocessor_sentencepiece_round_trip(albert_export, tmp_path):
  """Tokenize with the exported preprocessor, detokenize with the exported
  SentencePiece asset: the lower-cased, accent-stripped text comes back;
  ids equal Model Garden's SentencepieceTokenizer."""
  import shutil  # pylint: disable=g-import-not-at-top
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  import tensorflow_text as text  # pylint: disable=g-import-not-at-top
  from official.nlp.modeling import layers  # pylint: disable=g-import-not-at-top
  pre = hub.load(os.path.join(albert_export[0], 'preprocessor'))
  enc = hub.load(os.path.join(albert_export[0], 'encoder'))
  with open(enc.sp_model_file.asset_path.numpy().decode(), 'rb') as f:
    sp = text.SentencepieceTokenizer(model=f.read())
  s = tf.constant(['The Quick brown FOX', 'Café naïve hello world', ''])
  ids = pre.tokenize(s)
  assert ids.dtype == tf.int32 and ids.ragged_rank == 1
  assert [t.decode() for t in sp.detokenize(ids).numpy()] == [
      'the quick brown fox', 'cafe naive hello world', '']
  tok = layers.SentencepieceTokenizer(model_file_path=SP_MODEL,
                                      lower_case=True, strip_diacritics=True)
  s = tf.constant(SENTENCES)
  assert pre.tokenize(s).to_list() == tok(s).to_list()
  d = {k: int(v) for k, v in pre.tokenize.get_special_tokens_dict().items()}
  assert d == dict(vocab_size=100, padding_id=0, start_of_sequence_id=2,
                   end_of_segment_id=3, mask_id=4)
  packed = pre(s)
  assert packed['input_word_ids'].shape == (6, 16)  # seq_length of tiny.gin.
  assert (packed['input_word_ids'].numpy()[:, 0] == 2).all()  # [CLS]
  pair = pre.bert_pack_inputs([pre.tokenize(s[:3]), pre.tokenize(s[3:])],
                              seq_length=12)['input_type_ids'].numpy()
  assert (pair[0] == 1).sum() >= 3  # Both segments kept.
  # In tf.data, and re-saved after the original directory is gone.
  copy = str(tmp_path / 'copy')
  shutil.copytree(os.path.join(albert_export[0], 'preprocessor'), copy)
  loaded = hub.load(copy)
  batches = list(tf.data.Dataset.from_tensor_slices(SENTENCES).batch(4).map(
      loaded))
  assert [b['input_word_ids'].shape[0] for b in batches] == [4, 2]
  resaved = str(tmp_path / 'resaved')
  tf.saved_model.save(loaded, resaved)
  del loaded
  shutil.rmtree(copy)
  np.testing.assert_array_equal(hub.load(resaved)(s)['input_word_ids'],
                                packed['input_word_ids'])


def test_fine_tuning_usage_snippet(albert_export):
  """The published usage: a classifier on pooled_output trains the shared
  ALBERT weights through hub.KerasLayer(trainable=True)."""
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
  import tf_keras  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(0)
  a = np.array([' '.join(rng.choice(mc.WORDS, 5)) for _ in range(32)])
  y = np.array([('fox' in s) or ('dog' in s) or i % 2
                for i, s in enumerate(a)], np.float32)
  text_in = tf_keras.layers.Input(shape=(), dtype=tf.string)
  preprocessor = hub.KerasLayer(os.path.join(albert_export[0], 'preprocessor'))
  encoder = hub.KerasLayer(os.path.join(albert_export[0], 'encoder'),
                           trainable=True)
  pooled = encoder(preprocessor(text_in))['pooled_output']
  model = tf_keras.Model(text_in, tf_keras.layers.Dense(1)(pooled))
  model.compile(optimizer=tf_keras.optimizers.Adam(3e-3),
                loss=tf_keras.losses.BinaryCrossentropy(from_logits=True))
  assert len(encoder.trainable_weights) == 25
  before = [w.numpy().copy() for w in encoder.trainable_weights]
  loss0 = model.evaluate(a, y, verbose=0, batch_size=32)
  model.fit(a, y, epochs=10, batch_size=8, verbose=0)
  loss1 = model.evaluate(a, y, verbose=0, batch_size=32)
  assert loss1 < loss0, (loss0, loss1)
  changed = [not np.array_equal(w0, w.numpy())
             for w0, w in zip(before, encoder.trainable_weights)]
  assert all(changed[:2]) and sum(changed) >= 20, changed


def test_end_to_end_optimizer_and_tf1_checkpoints(tmp_path):
  """A trainer checkpoint with Adam slots, and a google-research/albert TF1
  checkpoint converted on the fly: both restore and equal the source."""
  encoder, pretrainer = mc.build(mc.encoder_config())
  mc.randomize(pretrainer, seed=3)
  prefix = mc.trainer_checkpoint(encoder, pretrainer,
                                 str(tmp_path / 'trainer' / 'ckpt-3'))
  out = str(tmp_path / 'out')
  proc = _export(out, '--noverify', ckpt=prefix)  # Compared below instead.
  assert_ok(proc)
  assert "layout 'trainer'" in proc.stdout
  assert 'other values ignored' in proc.stdout
  _assert_matches_model_garden(out, encoder, pretrainer)

  tf1 = mc.tf1_checkpoint(pretrainer, str(tmp_path / 'tf1' / 'model.ckpt'))
  out = str(tmp_path / 'tf1_out')
  proc = _export(out, '--noverify', ckpt=tf1)
  assert_ok(proc)
  assert '(tf1, layout' in proc.stdout and 'google-research/albert' in (
      proc.stdout)
  _assert_matches_model_garden(out, encoder, pretrainer)


def test_end_to_end_encoder_only_checkpoint(tmp_path):
  encoder, pretrainer = mc.build(mc.encoder_config())
  mc.randomize(encoder, seed=5)
  prefix = mc.encoder_checkpoint(encoder, str(tmp_path / 'ckpt'))
  out = str(tmp_path / 'out')
  proc = _export(out, '--gin_params=WITH_MLM = False', '--noverify',
                 ckpt=prefix)
  assert_ok(proc)
  assert "layout 'encoder'" in proc.stdout
  _assert_matches_model_garden(out, encoder, pretrainer, with_mlm=False)
  # with_mlm (the default) needs the MLM head: a one-line error.
  proc = _export(str(tmp_path / 'mlm'), ckpt=prefix)
  assert_one_line_error(proc, 'found nothing', 'WITH_MLM = False')
  assert not (tmp_path / 'mlm').exists()


# ---------------------------------------------------------------------------
# Bad inputs: one-line errors, nothing written.

def _assert_bad(tmp_path, *fragments, **kwargs):
  out = tmp_path / 'out'
  args = kwargs.pop('args', ())
  proc = _export(str(out), *args, **kwargs)
  assert_one_line_error(proc, *fragments)
  assert not out.exists()
  assert not list(tmp_path.glob('.out.tmp-*'))
  return proc


def test_bad_config_checkpoint_mismatch(tmp_path):
  """embedding_width 24 in the config, 16 in the checkpoint: the strict
  restore report names the shapes, the first line says what to do."""
  proc = _assert_bad(tmp_path, 'wrong shape', 'model [100, 24]',
                     'checkpoint [100, 16]', 'embedding_width',
                     args=['--gin_params=EMBEDDING_WIDTH = 24'])
  assert 'layout: trainer' in proc.stderr


def test_bad_missing_sp_model_file(tmp_path):
  _assert_bad(tmp_path, 'no vocabulary given', '--sp_model_file',
              sp_model=None)


# ---------------------------------------------------------------------------

@pytest.mark.slow
def test_end_to_end_albert_en_base_random_checkpoint(tmp_path):
  """albert_en_base size (vocab 30000, E=128, H=768, L=12 shared, A=12) from a
  random trainer checkpoint, --noverify, compared with Model Garden here."""
  path = os.path.join(ROOT, 'configs', 'albert', 'albert_en_base.gin')
  config = mc.encoder_config(vocab_size=30000, embedding_width=128,
                             hidden_size=768, num_layers=12,
                             num_attention_heads=12, intermediate_size=3072,
                             max_position_embeddings=512)
  encoder, pretrainer = mc.build(config)
  prefix = mc.trainer_checkpoint(encoder, pretrainer,
                                 str(tmp_path / 'ckpt' / 'ckpt-1'),
                                 optimizer=False)
  # A 30000-piece SentencePiece model needs a real corpus: a WordPiece
  # vocabulary of the same size exercises the same encoder.
  vocab = str(tmp_path / 'vocab.txt')
  with open(vocab, 'w') as f:
    f.write('[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n' +
            ''.join(f'tok{i}\n' for i in range(30000 - 5)))
  out = str(tmp_path / 'out')
  proc = run_script('albert_export.py', f'--gin_file={path}',
                    f'--checkpoint_path={prefix}', f'--vocab_file={vocab}',
                    '--gin_params=DO_LOWER_CASE = True', '--noverify',
                    f'--export_dir={out}')
  assert_ok(proc)
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  obj = hub.load(os.path.join(out, 'encoder'))
  x = _inputs(batch=2, seq=24, vocab_size=30000)
  want = tf.function(lambda i: encoder(i, training=False))(x)
  got = obj(x, training=False)
  for k in ('pooled_output', 'sequence_output'):
    np.testing.assert_allclose(got[k], want[k], atol=1e-5, rtol=0)
  mlm = obj.mlm(dict(x, masked_lm_positions=_POSITIONS[:2]))
  assert mlm['mlm_logits'].shape == (2, 3, 30000)


def test_variable_groups_shared_block(albert_export):
  """ALBERT shares one Transformer block across its layers: one group."""
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  obj = hub.load(os.path.join(albert_export[0], 'encoder'))
  names = [g.name.numpy().decode() for g in obj.variable_groups]
  assert names == ['embeddings', 'transformer_shared', 'pooler']
  assert [g.name.numpy().decode() for g in obj.mlm.variable_groups] == (
      names + ['mlm_head'])
  assert (sum(len(g.trainable_variables) for g in obj.variable_groups) ==
          len(obj.trainable_variables))


def test_model_card_code_runs(albert_export):
  """Every code block of the model cards runs as published (tf_keras with
  hub.KerasLayer, Keras 3 with TFSMLayer), against this export."""
  out = albert_export[0]
  tf_keras_blocks, keras3_blocks = assert_card_code_runs(os.path.join(out, 'encoder'), os.path.join(out, 'preprocessor'))
  assert tf_keras_blocks and keras3_blocks

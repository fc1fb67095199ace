"""Regression tests of the BERT recipe (export_scripts/bert_export.py).

Tiny BERTs (L=2, H=32, A=2, 100-token vocab; configs/bert/tiny.gin) in every
checkpoint layout the recipe restores, exported through the real command line
and compared with the in-memory Model Garden models; the published usage
snippets; bad inputs. BERT-base/large sizes are `slow`.
"""
import glob
import json
import os
import shutil
import sys

import numpy as np
import pytest
import tensorflow as tf

from official.hub_export import bert_family

from conftest import (assert_card_code_runs, ROOT, TESTDATA, assert_golden, assert_ok,
                      assert_one_line_error, run_script)

sys.path.insert(0, os.path.join(TESTDATA, 'bert'))
import make_checkpoint as mc  # pylint: disable=g-import-not-at-top,wrong-import-position

TINY = '--gin_file=configs/bert/tiny.gin'
VOCAB = mc.VOCAB
CKPT = mc.CKPT
GOLDEN = os.path.join(TESTDATA, 'bert', 'golden')
# The preprocessor's verification sample (punctuation, accents, CJK, unknown
# words, an empty string, an over-length input) serves the tests too.
SENTENCES = bert_family.SENTENCES


def _export(out, *args, ckpt=CKPT, vocab=VOCAB, gin=TINY):
  flags = [gin, f'--export_dir={out}']
  if ckpt:
    flags.append(f'--checkpoint_path={ckpt}')
  if vocab:
    flags.append(f'--vocab_file={vocab}')
  return run_script('bert_export.py', *flags, *args)


def _inputs(batch=3, seq=12, seed=0):
  rng = np.random.RandomState(seed)
  mask = np.ones([batch, seq], np.int32)
  mask[1:, seq - 3:] = 0
  return dict(
      input_word_ids=(rng.randint(1, 100, [batch, seq]) * mask).astype(
          np.int32),
      input_mask=mask,
      input_type_ids=np.concatenate([np.zeros([batch, seq // 2], np.int32),
                                     mask[:, seq // 2:]], axis=1))


def _mg_outputs(encoder, pretrainer, inputs, positions):
  """Outputs of the in-memory Model Garden models (as graphs)."""
  enc = tf.function(lambda x: encoder(x, training=False))(inputs)
  pre = tf.function(lambda x: pretrainer(x, training=False))(
      dict(inputs, masked_lm_positions=positions))
  return enc, pre


def _assert_matches_model_garden(export_dir, encoder, pretrainer,
                                 with_mlm=True, atol=1e-5):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  obj = hub.load(os.path.join(export_dir, 'encoder'))
  inputs = _inputs()
  positions = np.array([[1, 2, 5]] * 3, np.int32)
  enc, pre = _mg_outputs(encoder, pretrainer, inputs, positions)
  got = obj(inputs, training=False)
  for key in ('pooled_output', 'sequence_output'):
    np.testing.assert_allclose(got[key], enc[key], atol=atol, rtol=0)
  np.testing.assert_allclose(got['default'], enc['pooled_output'], atol=atol,
                             rtol=0)
  assert len(got['encoder_outputs']) == len(enc['encoder_outputs']) == 2
  for a, b in zip(got['encoder_outputs'], enc['encoder_outputs']):
    np.testing.assert_allclose(a, b, atol=atol, rtol=0)
  if with_mlm:
    mlm = obj.mlm(dict(inputs, masked_lm_positions=positions), training=False)
    assert mlm['mlm_logits'].shape == (3, 3, 100)
    np.testing.assert_allclose(mlm['mlm_logits'], pre['mlm_logits'],
                               atol=atol, rtol=0)
  else:
    assert not hasattr(obj, 'mlm')


# ---------------------------------------------------------------------------
# Session fixtures: each checkpoint layout written and exported once.

@pytest.fixture(scope='session')
def committed_model():
  """The Model Garden models holding the committed tiny checkpoint."""
  encoder, pretrainer = mc.build(mc.bert_config())
  tf.train.Checkpoint(model=pretrainer, **pretrainer.checkpoint_items).read(
      CKPT).assert_existing_objects_matched()
  return encoder, pretrainer


@pytest.fixture(scope='session')
def bert_export(session_tmp):
  """The committed tiny checkpoint exported through the command line."""
  out = str(session_tmp / 'bert')
  proc = _export(out)
  assert_ok(proc)
  return out, proc


@pytest.fixture(scope='session')
def optimizer_checkpoint(session_tmp):
  """Model Garden trainer layout with Adam slots and a next-sentence head."""
  encoder, pretrainer = mc.build(mc.bert_config(), next_sentence=True)
  mc.randomize(pretrainer, seed=3)
  prefix = mc.trainer_checkpoint(encoder, pretrainer,
                                 str(session_tmp / 'trainer' / 'ckpt'),
                                 save=True)
  return prefix, encoder, pretrainer


# ---------------------------------------------------------------------------

def test_end_to_end_trainer_checkpoint(bert_export, committed_model):
  out, proc = bert_export
  assert 'verified: ' in proc.stdout
  assert sorted(os.listdir(out)) == ['encoder', 'preprocessor']
  for name in ('encoder', 'preprocessor'):
    with open(os.path.join(out, name, 'assets.extra',
                           'export_record.json')) as f:
      rec = json.load(f)
    assert rec['recipe'] == 'bert' and rec['export'] == name
    assert rec['verification']['failed'] == 0
    assert rec['source']['checkpoint']['layout'] == 'trainer'
    assert rec['source']['inputs']['vocab_file']['tokens'] == 100
  assert os.path.isfile(os.path.join(out, 'encoder', 'assets', 'vocab.txt'))
  _assert_matches_model_garden(out, *committed_model)


def test_golden_outputs(bert_export):
  for name in ('encoder', 'preprocessor'):
    assert_golden(os.path.join(bert_export[0], name),
                  os.path.join(GOLDEN, f'{name}.npz'))


def test_encoder_api_as_published(bert_export):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  enc = hub.load(os.path.join(bert_export[0], 'encoder'))
  assert enc.do_lower_case.numpy()  # 'uncased' in the model name.
  assert enc.vocab_file.asset_path.numpy().decode().endswith('vocab.txt')
  sig = enc.signatures['serving_default']
  _, kw = sig.structured_input_signature
  assert sorted(kw) == ['input_mask', 'input_type_ids', 'input_word_ids']
  assert all(s.dtype == tf.int32 and s.shape.as_list() == [None, None]
             for s in kw.values())
  out = enc(_inputs(batch=1, seq=7), training=False)
  assert sorted(out) == ['default', 'encoder_outputs', 'pooled_output',
                         'sequence_output']
  assert out['sequence_output'].shape == (1, 7, 32)
  # Dropout only with training=True.
  x = _inputs()
  a = enc(x, training=False)['pooled_output']
  b = enc(x, training=True)['pooled_output']
  np.testing.assert_array_equal(a, enc(x, training=False)['pooled_output'])
  assert not np.allclose(a, b)
  mlm = enc.mlm(dict(x, masked_lm_positions=np.zeros([3, 2], np.int32)))
  assert sorted(mlm) == ['encoder_outputs', 'mlm_logits', 'pooled_output',
                         'sequence_output']
  # The root's variables are the encoder's; the MLM head lives in .mlm only.
  assert len(enc.variables) < len(enc.mlm.variables)


def test_preprocessor_equals_model_garden_layers(bert_export):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
  from official.nlp.modeling import layers  # pylint: disable=g-import-not-at-top
  pre = hub.load(os.path.join(bert_export[0], 'preprocessor'))
  tok = layers.BertTokenizer(vocab_file=VOCAB, lower_case=True)
  special = tok.get_special_tokens_dict()
  pack = layers.BertPackInputs(seq_length=16, special_tokens_dict=special)
  s = tf.constant(SENTENCES)
  ids = tok(s)
  got = pre.tokenize(s)
  assert got.dtype == tf.int32 and got.ragged_rank == 2
  np.testing.assert_array_equal(got.flat_values, ids.flat_values)
  assert got.to_list() == ids.to_list()
  # Accents stripped, CJK split, unknown words -> [UNK] (1), empty -> [].
  assert ids.to_list()[4] == []
  assert [1] in ids.to_list()[3]
  for k, v in pack(ids).items():
    np.testing.assert_array_equal(pre(s)[k], v, err_msg=k)
  assert pre(s)['input_word_ids'].shape == (6, 16)  # seq_length of tiny.gin.
  d = {k: int(v) for k, v in pre.tokenize.get_special_tokens_dict().items()}
  assert d == dict(vocab_size=100, padding_id=0, start_of_sequence_id=2,
                   end_of_segment_id=3, mask_id=4) == special
  # Pairs, ragged rank 1 and 2, explicit seq_length, fair truncation.
  a, b = ids[:3], ids[3:]
  for segs in ([a, b], [a.merge_dims(1, 2), b.merge_dims(1, 2)], [a]):
    for n in (9, 64):
      want = layers.BertPackInputs.bert_pack_inputs(
          segs, seq_length=n, start_of_sequence_id=2, end_of_segment_id=3,
          padding_id=0)
      got = pre.bert_pack_inputs(segs, seq_length=n)
      for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=(k, n))
  packed = pre.bert_pack_inputs([a, b], seq_length=9)['input_type_ids']
  assert (packed.numpy()[0] == 1).sum() >= 3  # Both segments kept.
  default = pre.bert_pack_inputs([a])  # Default seq_length from the config.
  assert default['input_word_ids'].shape == (3, 16)


def test_preprocessor_in_dataset_map_and_resavable(bert_export, tmp_path):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
  src = os.path.join(bert_export[0], 'preprocessor')
  for name in ('preprocessor', 'encoder'):
    with open(os.path.join(bert_export[0], name, 'saved_model.pb'), 'rb') as f:
      graph = f.read()
    assert os.path.dirname(os.path.abspath(VOCAB)).encode() not in graph
  copy = str(tmp_path / 'copy')
  shutil.copytree(src, copy)
  pre = hub.load(copy)
  ds = tf.data.Dataset.from_tensor_slices(SENTENCES).batch(2).map(pre)
  batches = list(ds)
  assert len(batches) == 3
  assert batches[0]['input_word_ids'].shape == (2, 16)
  want = pre(tf.constant(SENTENCES))['input_word_ids'].numpy()
  resaved = str(tmp_path / 'resaved')
  tf.saved_model.save(pre, resaved)
  del pre
  shutil.rmtree(copy)
  again = hub.load(resaved)
  np.testing.assert_array_equal(
      again(tf.constant(SENTENCES))['input_word_ids'], want)
  assert again.tokenize(tf.constant(['hello world'])).to_list() == [
      [[mc.vocab_tokens().index('hello')], [mc.vocab_tokens().index('world')]]]


def test_fine_tuning_usage_snippet(bert_export):
  """The published usage: classifier on pooled_output; single sentences and
  pairs through tokenize + bert_pack_inputs."""
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
  import tf_keras  # pylint: disable=g-import-not-at-top
  enc_path = os.path.join(bert_export[0], 'encoder')
  pre_path = os.path.join(bert_export[0], 'preprocessor')
  words = mc.vocab_tokens()[21:]
  rng = np.random.RandomState(0)
  a = np.array([' '.join(rng.choice(words, 5)) for _ in range(32)])
  b = np.array([' '.join(rng.choice(words, 4)) for _ in range(32)])
  y = np.array([('fox' in s) or ('dog' in s) or i % 2
                for i, s in enumerate(a)], np.float32)

  def train(model, x):
    model.compile(optimizer=tf_keras.optimizers.Adam(3e-3),
                  loss=tf_keras.losses.BinaryCrossentropy(from_logits=True))
    encoder = [l for l in model.layers
               if isinstance(l, hub.KerasLayer) and l.trainable][0]
    before = [w.numpy().copy() for w in encoder.trainable_weights]
    loss0 = model.evaluate(x, y, verbose=0, batch_size=32)
    model.fit(x, y, epochs=12, batch_size=8, verbose=0)
    loss1 = model.evaluate(x, y, verbose=0, batch_size=32)
    assert loss1 < loss0, (loss0, loss1)
    assert any(not np.array_equal(w0, w.numpy()) for w0, w in
               zip(before, encoder.trainable_weights))

  # Single sentences.
  text = tf_keras.layers.Input(shape=(), dtype=tf.string)
  preprocessor = hub.KerasLayer(pre_path)
  encoder = hub.KerasLayer(enc_path, trainable=True)
  pooled = encoder(preprocessor(text))['pooled_output']
  train(tf_keras.Model(text, tf_keras.layers.Dense(1)(pooled)), a)

  # Sentence pairs.
  pre = hub.load(pre_path)
  ta = tf_keras.layers.Input(shape=(), dtype=tf.string)
  tb = tf_keras.layers.Input(shape=(), dtype=tf.string)
  tokenize = hub.KerasLayer(pre.tokenize)
  pack = hub.KerasLayer(pre.bert_pack_inputs, arguments=dict(seq_length=16))
  encoder = hub.KerasLayer(enc_path, trainable=True)
  pooled = encoder(pack([tokenize(ta), tokenize(tb)]))['pooled_output']
  train(tf_keras.Model([ta, tb], tf_keras.layers.Dense(1)(pooled)), [a, b])


def test_end_to_end_optimizer_checkpoint_copy_pooler(optimizer_checkpoint,
                                                      tmp_path):
  prefix, encoder, pretrainer = optimizer_checkpoint
  out = str(tmp_path / 'out')
  proc = _export(out, '--gin_params=COPY_POOLER_DENSE_TO_ENCODER = True',
                 '--noverify', ckpt=prefix)  # Compared below instead.
  assert_ok(proc)
  assert "layout 'trainer'" in proc.stdout
  # The pooler now is the next-sentence head's dense layer.
  head = pretrainer.classification_heads[0].dense
  encoder.pooler_layer.set_weights(head.get_weights())
  _assert_matches_model_garden(out, encoder, pretrainer)


@pytest.mark.parametrize('key', ['encoder', 'model'])
def test_end_to_end_encoder_only_checkpoint(key, tmp_path):
  encoder, pretrainer = mc.build(mc.bert_config())
  mc.randomize(encoder, seed=5)
  prefix = mc.encoder_checkpoint(encoder, str(tmp_path / 'ckpt'), key=key)
  out = str(tmp_path / 'out')
  # The legacy run also checks do_lower_case guessed from a 'cased' name.
  cased = ["--gin_params=MODEL_NAME = 'bert_en_cased_L-2_H-32_A-2'"
           ] if key == 'model' else []
  proc = _export(out, '--gin_params=WITH_MLM = False', '--noverify', *cased,
                 ckpt=prefix)
  assert_ok(proc)
  layout = 'encoder' if key == 'encoder' else 'legacy encoder'
  assert f"layout '{layout}'" in proc.stdout
  _assert_matches_model_garden(out, encoder, pretrainer, with_mlm=False)
  if key != 'encoder':
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
    assert not hub.load(os.path.join(out, 'encoder')).do_lower_case.numpy()
    pre = hub.load(os.path.join(out, 'preprocessor'))
    hello = mc.vocab_tokens().index('hello')
    assert pre.tokenize(tf.constant(['Hello hello'])).to_list() == [
        [[1], [hello]]]  # Cased: 'Hello' is not in the lower-case vocab.
    return
  # with_mlm (the default) needs the MLM head: a one-line error.
  proc = _export(str(tmp_path / 'mlm'), ckpt=prefix)
  assert_one_line_error(proc, "found nothing", "WITH_MLM = False")
  assert not os.path.exists(tmp_path / 'mlm')


def test_end_to_end_bert_v2_checkpoint(tmp_path):
  """A trainer checkpoint of a BertEncoderV2 (encoder type 'bert_v2')."""
  encoder, pretrainer = mc.build(mc.bert_config(), encoder_type='bert_v2')
  mc.randomize(pretrainer, seed=9)
  prefix = mc.trainer_checkpoint(encoder, pretrainer, str(tmp_path / 'ckpt'),
                                 optimizer=False)
  proc = _export(str(tmp_path / 'default'), '--noverify', ckpt=prefix)
  assert_one_line_error(proc, 'found nothing', "ENCODER_TYPE = 'bert_v2'")
  assert not (tmp_path / 'default').exists()
  out = str(tmp_path / 'out')
  assert_ok(_export(out, '--noverify', "--gin_params=ENCODER_TYPE = 'bert_v2'",
                    ckpt=prefix))
  _assert_matches_model_garden(out, encoder, pretrainer)


def test_end_to_end_tf1_checkpoint(tmp_path):
  """A google-research/bert checkpoint, converted on the fly."""
  cfg = mc.bert_config()
  encoder, pretrainer = mc.build(cfg)
  mc.randomize(pretrainer, seed=7)
  prefix = mc.tf1_checkpoint(encoder, pretrainer,
                             str(tmp_path / 'tf1' / 'bert_model.ckpt'), cfg)
  out = str(tmp_path / 'out')
  proc = _export(out, ckpt=prefix)
  assert_ok(proc)
  assert '(tf1, layout' in proc.stdout
  with open(os.path.join(out, 'encoder', 'assets.extra',
                         'export_record.json')) as f:
    rec = json.load(f)
  assert rec['source']['checkpoint']['path'] == os.path.abspath(prefix)
  _assert_matches_model_garden(out, encoder, pretrainer)
  assert not glob.glob('/tmp/bert_tf1_converted_*')


def test_end_to_end_sentencepiece(committed_model, tmp_path):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
  from official.nlp.modeling import layers  # pylint: disable=g-import-not-at-top
  sp_model = mc.write_sp_model(str(tmp_path / 'sp.model'))
  out = str(tmp_path / 'out')
  proc = _export(out, f'--sp_model_file={sp_model}', '--noverify',
                 vocab=None)  # Compared with Model Garden's layers below.
  assert_ok(proc)
  enc = hub.load(os.path.join(out, 'encoder'))
  assert enc.sp_model_file.asset_path.numpy().decode().endswith('sp.model')
  assert not hasattr(enc, 'do_lower_case')
  _assert_matches_model_garden(out, *committed_model)
  pre = hub.load(os.path.join(out, 'preprocessor'))
  tok = layers.SentencepieceTokenizer(model_file_path=sp_model,
                                      lower_case=True, strip_diacritics=True)
  s = tf.constant(SENTENCES)
  assert pre.tokenize(s).to_list() == tok(s).to_list()
  pack = layers.BertPackInputs(seq_length=16,
                               special_tokens_dict=tok.get_special_tokens_dict())
  for k, v in pack(tok(s)).items():
    np.testing.assert_array_equal(pre(s)[k], v, err_msg=k)
  d = {k: int(v) for k, v in pre.tokenize.get_special_tokens_dict().items()}
  assert d == dict(vocab_size=100, padding_id=0, start_of_sequence_id=2,
                   end_of_segment_id=3, mask_id=4)


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
  proc = _assert_bad(tmp_path, 'wrong shape', 'model [100, 64]',
                     'checkpoint [100, 32]',
                     args=['--gin_params=HIDDEN_SIZE = 64',
                           '--gin_params=INTERMEDIATE_SIZE = 128'])
  assert 'layout: trainer' in proc.stderr


def test_bad_copy_pooler_without_next_sentence_head(tmp_path):
  _assert_bad(tmp_path, 'no next-sentence pooler',
              'COPY_POOLER_DENSE_TO_ENCODER = False',
              args=['--gin_params=COPY_POOLER_DENSE_TO_ENCODER = True'])


def test_bad_vocab_size(tmp_path):
  vocab = str(tmp_path / 'vocab.txt')
  mc.write_vocab(vocab, size=90)
  _assert_bad(tmp_path, 'has 90 tokens', 'vocab_size 100', vocab=vocab)


def test_bad_missing_vocab(tmp_path):
  _assert_bad(tmp_path, 'does not exist', '--vocab_file',
              vocab=str(tmp_path / 'nope.txt'))


def test_bad_vocab_flags(tmp_path):
  _assert_bad(tmp_path, 'no vocabulary given', vocab=None)
  _assert_bad(tmp_path, 'both --vocab_file and --sp_model_file',
              args=[f'--sp_model_file={VOCAB}'])


def test_bad_attention_heads(tmp_path):
  _assert_bad(tmp_path, "HIDDEN_SIZE 32 is not a multiple of "
              "NUM_ATTENTION_HEADS 3",
              args=['--gin_params=NUM_ATTENTION_HEADS = 3'])


def test_bad_existing_export_dir(bert_export):
  before = sorted(os.listdir(bert_export[0]))
  proc = _export(bert_export[0])
  assert_one_line_error(proc, 'already exists', '--overwrite')
  assert sorted(os.listdir(bert_export[0])) == before


# ---------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize('gin,verify', [
    ('bert_en_uncased_L-12_H-768_A-12', True),
    # Verifying BERT-large in a second process needs ~12 GB more memory.
    ('bert_en_cased_L-24_H-1024_A-16', False)])
def test_end_to_end_large_random_checkpoint(gin, verify, tmp_path):
  """BERT-base and BERT-large sizes from random trainer checkpoints."""
  path = os.path.join(ROOT, 'configs', 'bert', gin + '.gin')
  with open(path) as f:
    text = f.read()
  vals = dict(l.split(' = ') for l in text.splitlines()
              if ' = ' in l and not l.startswith(('#', 'include')))
  cfg = mc.bert_config(vocab_size=int(vals['vocab_size']),
                       hidden_size=int(vals['hidden_size']),
                       num_hidden_layers=int(vals['num_layers']),
                       num_attention_heads=int(vals['num_attention_heads']),
                       intermediate_size=int(vals['intermediate_size']),
                       max_position_embeddings=512)
  encoder, pretrainer = mc.build(cfg)
  prefix = mc.trainer_checkpoint(encoder, pretrainer,
                                 str(tmp_path / 'ckpt' / 'ckpt-1'),
                                 optimizer=False)
  vocab = mc.write_vocab(str(tmp_path / 'vocab.txt'))
  tokens = mc.vocab_tokens()
  with open(vocab, 'a') as f:
    f.write(''.join(f'tok{i}\n' for i in range(cfg.vocab_size - len(tokens))))
  out = str(tmp_path / 'out')
  proc = _export(out, *([] if verify else ['--noverify']), ckpt=prefix,
                 vocab=vocab, gin=f'--gin_file={path}')
  assert_ok(proc)
  _assert_matches_model_garden_sized(out, encoder, cfg)


def _assert_matches_model_garden_sized(out, encoder, cfg):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  obj = hub.load(os.path.join(out, 'encoder'))
  x = _inputs(batch=2, seq=24)
  x['input_word_ids'] = (x['input_word_ids'] * 97) % cfg.vocab_size
  want = tf.function(lambda i: encoder(i, training=False))(x)
  got = obj(x, training=False)
  np.testing.assert_allclose(got['pooled_output'], want['pooled_output'],
                             atol=1e-5, rtol=0)
  np.testing.assert_allclose(got['sequence_output'], want['sequence_output'],
                             atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------
# Fine-tuning controls (tunable dropout, freezing all but the top layers).

def test_dropout_rates_tunable_per_call(bert_export):
  """`dropout_rate`/`attention_dropout_rate` default to the configured 0.1;
  rate 0 in training mode gives the inference outputs, a high rate moves
  them more than the default; after hub.load and through arguments=."""
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  path = os.path.join(bert_export[0], 'encoder')
  obj = hub.load(path)
  x = _inputs()
  infer = obj(x, training=False)['sequence_output'].numpy()
  off = dict(dropout_rate=0.0, attention_dropout_rate=0.0)
  np.testing.assert_allclose(
      obj(x, training=True, **off)['sequence_output'], infer, atol=1e-5)
  layer = hub.KerasLayer(path, trainable=True, arguments=off)
  np.testing.assert_allclose(layer(x, training=True)['sequence_output'],
                             infer, atol=1e-5)
  change = lambda **kw: np.mean([np.mean((obj(
      x, training=True, **kw)['sequence_output'].numpy() - infer) ** 2)
                                 for _ in range(3)])
  assert change(dropout_rate=0.6, attention_dropout_rate=0.6) > 2 * change()
  with open(os.path.join(path, 'assets.extra', 'README.md')) as f:
    card = f.read()
  for name in ('dropout_rate', 'attention_dropout_rate'):
    assert f'| `{name}` | 0.1 | dropout on the ' in card


def test_fine_tune_top_groups_with_card_snippets(bert_export):
  """The card's tf_keras and Keras 3 snippets train only the pooler and the
  last layer: every other variable bit-identical, theirs moved."""
  import finetune_consumer  # pylint: disable=g-import-not-at-top
  path = os.path.join(bert_export[0], 'encoder')
  for run in (finetune_consumer.tf_keras_top_groups,
              finetune_consumer.keras3_top_groups):
    got = run(path, _inputs(batch=4, seq=8), 'pooled_output')
    assert got['groups'] == ['embeddings', 'layer_0', 'layer_1', 'pooler']
    assert not got['frozen_changed'], (run.__name__, got)
    assert not got['top_unmoved'], (run.__name__, got)


def test_model_card_code_runs(bert_export):
  """Every code block of the model cards runs as published (tf_keras with
  hub.KerasLayer, Keras 3 with TFSMLayer), against this export."""
  out = bert_export[0]
  tf_keras_blocks, keras3_blocks = assert_card_code_runs(os.path.join(out, 'encoder'), os.path.join(out, 'preprocessor'))
  assert tf_keras_blocks and keras3_blocks

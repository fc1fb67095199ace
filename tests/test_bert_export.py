"""Tests of the BERT recipe (export_scripts/bert_export.py).

The BERT-like family's contract (tests/bert_like_family.py) on the committed
tiny checkpoint (L=2, H=32, A=2, 100-token WordPiece vocabulary;
configs/bert/tiny.gin), including Model Garden's own `export_tfhub` of it;
here only what is particular to BERT: the legacy `model=` encoder key with a
cased name, the pooler of the next-sentence head, `BertEncoderV2`
checkpoints, a SentencePiece vocabulary, and the BERT-base/large sizes
(`slow`).
"""
import os

import numpy as np
import pytest
import tensorflow as tf

import bert_like_family as family
from conftest import ROOT, assert_ok, assert_one_line_error, run_script  # pylint: disable=g-bad-import-order

mc = family.make_checkpoint('bert')
SENTENCES = family.SENTENCES


def _tf1_checkpoint(mc_, encoder, pretrainer, prefix):
  return mc_.tf1_checkpoint(encoder, pretrainer, prefix, mc_.config())


def _tokenizer(vocab):
  from official.nlp.modeling import layers  # pylint: disable=g-import-not-at-top
  return layers.BertTokenizer(vocab_file=vocab, lower_case=True)


MEMBER = family.Member(
    recipe='bert', vocab_flag='--vocab_file', vocab='vocab.txt',
    write_vocab=lambda mc_, path, size: mc_.write_vocab(path, size=size),
    tokenizer=_tokenizer, num_layers=2, hidden_size=32, dropout=0.1,
    groups=('embeddings', 'layer_0', 'layer_1', 'pooler'),
    words=lambda mc_: mc_.vocab_tokens()[21:],
    tf1_checkpoint=_tf1_checkpoint,
    model_garden_config=lambda mc_: dict(bert_config=mc_.config()),
    mismatch=(('HIDDEN_SIZE = 64', 'INTERMEDIATE_SIZE = 128'),
              ('model [100, 64]', 'checkpoint [100, 32]')))


class TestBertLikeFamily(family.Contract):
  member = MEMBER


def _export(out, *args, **kwargs):
  return family.export(MEMBER, out, *args, **kwargs)


def test_end_to_end_optimizer_checkpoint_copy_pooler(tmp_path):
  """A trainer checkpoint with Adam slots and a next-sentence head, whose
  pooler becomes the encoder's (as Model Garden's exporter can do)."""
  encoder, pretrainer = mc.build(mc.config(), next_sentence=True)
  mc.randomize(pretrainer, seed=3)
  prefix = mc.trainer_checkpoint(encoder, pretrainer,
                                 str(tmp_path / 'trainer' / 'ckpt'), save=True)
  out = str(tmp_path / 'out')
  proc = _export(out, '--gin_params=COPY_POOLER_DENSE_TO_ENCODER = True',
                 '--noverify', ckpt=prefix)  # Compared below instead.
  assert_ok(proc)
  assert "layout 'trainer'" in proc.stdout
  # The pooler now is the next-sentence head's dense layer.
  head = pretrainer.classification_heads[0].dense
  encoder.pooler_layer.set_weights(head.get_weights())
  family.assert_matches_model_garden(out, encoder, pretrainer)


def test_end_to_end_legacy_encoder_checkpoint_cased(tmp_path):
  """An encoder-only checkpoint under the legacy `model=` key, with a cased
  model name: DO_LOWER_CASE is guessed False from it."""
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
  encoder, pretrainer = mc.build(mc.config())
  mc.randomize(encoder, seed=5)
  prefix = mc.encoder_checkpoint(encoder, str(tmp_path / 'ckpt'), key='model')
  out = str(tmp_path / 'out')
  proc = _export(out, '--gin_params=WITH_MLM = False', '--noverify',
                 "--gin_params=MODEL_NAME = 'bert_en_cased_L-2_H-32_A-2'",
                 ckpt=prefix)
  assert_ok(proc)
  assert "layout 'legacy encoder'" in proc.stdout
  family.assert_matches_model_garden(out, encoder, pretrainer, with_mlm=False)
  assert not hub.load(os.path.join(out, 'encoder')).do_lower_case.numpy()
  pre = hub.load(os.path.join(out, 'preprocessor'))
  hello = mc.vocab_tokens().index('hello')
  assert pre.tokenize(tf.constant(['Hello hello'])).to_list() == [
      [[1], [hello]]]  # Cased: 'Hello' is not in the lower-case vocab.


def test_end_to_end_bert_v2_checkpoint(tmp_path):
  """A trainer checkpoint of a BertEncoderV2 (encoder type 'bert_v2')."""
  encoder, pretrainer = mc.build(mc.config(), encoder_type='bert_v2')
  mc.randomize(pretrainer, seed=9)
  prefix = mc.trainer_checkpoint(encoder, pretrainer, str(tmp_path / 'ckpt'),
                                 optimizer=False)
  proc = _export(str(tmp_path / 'default'), '--noverify', ckpt=prefix)
  assert_one_line_error(proc, 'found nothing', "ENCODER_TYPE = 'bert_v2'")
  assert not (tmp_path / 'default').exists()
  out = str(tmp_path / 'out')
  assert_ok(_export(out, '--noverify', "--gin_params=ENCODER_TYPE = 'bert_v2'",
                    ckpt=prefix))
  family.assert_matches_model_garden(out, encoder, pretrainer)


def test_end_to_end_sentencepiece(tmp_path):
  """--sp_model_file instead of --vocab_file: the committed weights with a
  SentencePiece vocabulary of the same size."""
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
  encoder, pretrainer = mc.build(mc.config())
  tf.train.Checkpoint(model=pretrainer, **pretrainer.checkpoint_items).read(
      mc.CKPT).assert_existing_objects_matched()
  family.assert_matches_model_garden(out, encoder, pretrainer)
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


def test_bad_copy_pooler_without_next_sentence_head(tmp_path):
  proc = _export(str(tmp_path / 'out'),
                 '--gin_params=COPY_POOLER_DENSE_TO_ENCODER = True')
  assert_one_line_error(proc, 'no next-sentence pooler',
                        'COPY_POOLER_DENSE_TO_ENCODER = False', code=1)
  assert os.listdir(tmp_path) == []


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
  cfg = mc.config(vocab_size=int(vals['VOCAB_SIZE']),
                  hidden_size=int(vals['HIDDEN_SIZE']),
                  num_hidden_layers=int(vals['NUM_LAYERS']),
                  num_attention_heads=int(vals['NUM_ATTENTION_HEADS']),
                  intermediate_size=int(vals['INTERMEDIATE_SIZE']),
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
  proc = run_script('bert_export.py', f'--gin_file={path}',
                    f'--checkpoint_path={prefix}', f'--vocab_file={vocab}',
                    f'--export_dir={out}',
                    *([] if verify else ['--noverify']))
  assert_ok(proc)
  _assert_matches_model_garden_sized(out, encoder, cfg)


def _assert_matches_model_garden_sized(out, encoder, cfg):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  obj = hub.load(os.path.join(out, 'encoder'))
  x = family.inputs(batch=2, seq=24)
  x['input_word_ids'] = (x['input_word_ids'] * 97) % cfg.vocab_size
  want = tf.function(lambda i: encoder(i, training=False))(x)
  got = obj(x, training=False)
  np.testing.assert_allclose(got['pooled_output'], want['pooled_output'],
                             atol=1e-5, rtol=0)
  np.testing.assert_allclose(got['sequence_output'], want['sequence_output'],
                             atol=1e-5, rtol=0)

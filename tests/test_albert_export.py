"""Tests of the ALBERT recipe (export_scripts/albert_export.py).

The BERT-like family's contract (tests/bert_like_family.py) on the committed
tiny checkpoint (L=3 layers sharing one block, H=32, A=2, E=16, 100-piece
SentencePiece model; configs/albert/tiny.gin), including Model Garden's own
`export_tfhub` of it; here only what is particular to ALBERT: the factorized
embeddings and the shared block, the SentencePiece round trip, and the
albert_en_base size (`slow`).
"""
import os

import numpy as np
import pytest
import tensorflow as tf

import bert_like_family as family
from conftest import ROOT, assert_ok, run_script  # pylint: disable=g-bad-import-order

mc = family.make_checkpoint('albert')
SENTENCES = family.SENTENCES


def _tokenizer(sp_model):
  from official.nlp.modeling import layers  # pylint: disable=g-import-not-at-top
  return layers.SentencepieceTokenizer(model_file_path=sp_model,
                                       lower_case=True, strip_diacritics=True)


class TestBertLikeFamily(family.Contract):
  member = family.Member(
      recipe='albert', vocab_flag='--sp_model_file', vocab='sp.model',
      write_vocab=lambda mc_, path, size: mc_.write_sp_model(path, size=size),
      tokenizer=_tokenizer, num_layers=3, hidden_size=32, dropout=0.0,
      groups=('embeddings', 'transformer_shared', 'pooler'),
      words=lambda mc_: mc_.WORDS,
      tf1_checkpoint=lambda mc_, encoder, pretrainer, prefix: (
          mc_.tf1_checkpoint(pretrainer, prefix)),
      model_garden_config=lambda mc_: dict(encoder_config=mc_.config()),
      mismatch=(('EMBEDDING_WIDTH = 24',),
                ('model [100, 24]', 'checkpoint [100, 16]',
                 'embedding_width')))

  def test_factorized_embeddings_and_shared_block(self, exported):
    """Word embeddings [100, 16] projected to 32; one Transformer block for
    all three layers: 25 trainable variables whatever the depth, the .mlm
    head adds 5."""
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    enc = hub.load(os.path.join(exported[0], 'encoder'))
    shapes = {v.name: v.shape.as_list() for v in enc.variables}
    assert shapes['word_embeddings/embeddings:0'] == [100, 16]
    assert shapes['embedding_projection/kernel:0'] == [16, 32]
    assert sum(n.startswith('transformer/') for n in shapes) == 16
    assert len(enc.trainable_variables) == len(enc.variables) == 25
    assert len(enc.mlm.variables) == 30

  def test_preprocessor_sentencepiece_round_trip(self, exported):
    """Tokenize with the exported preprocessor, detokenize with the exported
    SentencePiece asset: the lower-cased, accent-stripped text comes back."""
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    import tensorflow_text as text  # pylint: disable=g-import-not-at-top
    pre = hub.load(os.path.join(exported[0], 'preprocessor'))
    enc = hub.load(os.path.join(exported[0], 'encoder'))
    with open(enc.sp_model_file.asset_path.numpy().decode(), 'rb') as f:
      sp = text.SentencepieceTokenizer(model=f.read())
    s = tf.constant(['The Quick brown FOX', 'Café naïve hello world', ''])
    ids = pre.tokenize(s)
    assert ids.dtype == tf.int32 and ids.ragged_rank == 1
    assert [t.decode() for t in sp.detokenize(ids).numpy()] == [
        'the quick brown fox', 'cafe naive hello world', '']


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
  x = family.inputs(batch=2, seq=24, vocab_size=30000)
  want = tf.function(lambda i: encoder(i, training=False))(x)
  got = obj(x, training=False)
  for k in ('pooled_output', 'sequence_output'):
    np.testing.assert_allclose(got[k], want[k], atol=1e-5, rtol=0)
  mlm = obj.mlm(dict(x, masked_lm_positions=family.POSITIONS[:2]))
  assert mlm['mlm_logits'].shape == (2, 3, 30000)

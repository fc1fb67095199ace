r"""Tiny BERT checkpoints (L=2, H=32, A=2, 100-token vocab) for the tests.

    python tests/testdata/bert/make_checkpoint.py

re-creates, deterministically, the committed golden-test inputs
`tests/testdata/bert/vocab.txt` and `tests/testdata/bert/ckpt` (Model
Garden's trainer layout, without optimizer slots to keep it small; the
configuration is configs/bert/tiny.gin). The tests import this module to write
the other layouts (trainer with optimizer slots, encoder-only, legacy,
google-research TF1) into temporary directories.
"""
import os
import sys

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = os.path.join(HERE, 'vocab.txt')
CKPT = os.path.join(HERE, 'ckpt')

# As configs/bert/tiny.gin.
TINY = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=2, intermediate_size=64, hidden_act='gelu',
            max_position_embeddings=64, type_vocab_size=2)

_WORDS = (
    'the quick brown fox jumps over lazy dog hello world ca va naive cafe '
    'a an is was of to and in it that for on with as at by this be are from '
    'or have not but what all were when we there can your which their said '
    'if do will each about how up out them then she many some so these would '
    'other into has more her two like him see time could no make than first '
    'text').split()
_PIECES = ['##s', '##ing', '##ed', '##er', '##ly', '##e', '##y']
_SYMBOLS = ['.', ',', '!', '?', '日', '本', '語', '中', '文']


def vocab_tokens(size=100):
  tokens = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] + _SYMBOLS + _PIECES
  tokens += [w for w in _WORDS if w not in tokens]
  assert len(tokens) >= size, len(tokens)
  return tokens[:size]


def write_vocab(path, size=100):
  with open(path, 'w', encoding='utf-8') as f:
    f.write('\n'.join(vocab_tokens(size)) + '\n')
  return path


def write_sp_model(path, size=100):
  """A tiny SentencePiece model with ALBERT's special tokens (<pad>=0,
  <unk>=1, [CLS]=2, [SEP]=3, [MASK]=4)."""
  import io  # pylint: disable=g-import-not-at-top
  import sentencepiece as spm  # pylint: disable=g-import-not-at-top
  words = vocab_tokens()[21:]
  rng = np.random.RandomState(0)
  corpus = [' '.join(rng.choice(words, 8)) for _ in range(500)]
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(corpus), model_writer=model, vocab_size=size,
      pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, model_type='unigram',
      user_defined_symbols=['[CLS]', '[SEP]', '[MASK]'], minloglevel=2)
  with open(path, 'wb') as f:
    f.write(model.getvalue())
  return path


def bert_config(**overrides):
  from official.legacy.bert import configs  # pylint: disable=g-import-not-at-top
  return configs.BertConfig(**dict(TINY, **overrides))


def config(**overrides):
  """The tiny model's config (the BERT-like family contract's name)."""
  return bert_config(**overrides)


def build(cfg, next_sentence=False, encoder_type='bert'):
  """(encoder, pretrainer) as Model Garden's trainer builds them."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  from official.modeling import tf_utils  # pylint: disable=g-import-not-at-top
  from official.nlp.configs import encoders  # pylint: disable=g-import-not-at-top
  from official.nlp.modeling import layers, models  # pylint: disable=g-import-not-at-top
  from official.nlp.tools import export_tfhub_lib  # pylint: disable=g-import-not-at-top
  if encoder_type == 'bert_v2':  # Through Model Garden's encoder config.
    encoder = encoders.build_encoder(encoders.EncoderConfig(
        type='bert_v2', bert_v2=encoders.BertEncoderConfig(
            vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size,
            num_layers=cfg.num_hidden_layers,
            num_attention_heads=cfg.num_attention_heads,
            intermediate_size=cfg.intermediate_size,
            max_position_embeddings=cfg.max_position_embeddings,
            type_vocab_size=cfg.type_vocab_size)))
  else:
    encoder = export_tfhub_lib.get_bert_encoder(cfg)
  heads = [layers.ClassificationHead(inner_dim=cfg.hidden_size, num_classes=2,
                                     name='next_sentence')
           ] if next_sentence else None
  pretrainer = models.BertPretrainerV2(
      encoder_network=encoder,
      mlm_activation=tf_utils.get_activation(cfg.hidden_act),
      mlm_initializer=tf_keras.initializers.TruncatedNormal(
          stddev=cfg.initializer_range),
      classification_heads=heads)
  ids = tf.zeros([1, 4], tf.int32)
  pretrainer(dict(input_word_ids=ids, input_mask=ids + 1, input_type_ids=ids,
                  masked_lm_positions=ids[:, :2]))
  return encoder, pretrainer


def randomize(model, seed=0):
  """Deterministic, non-trivial values for every variable (sorted by name)."""
  rng = np.random.RandomState(seed)
  for v in sorted(model.variables, key=lambda v: v.name):
    shape = v.shape.as_list()
    if 'gamma' in v.name:
      value = 1.0 + 0.1 * rng.normal(size=shape)
    else:
      value = 0.2 * rng.normal(size=shape)
    v.assign(value.astype(v.dtype.as_numpy_dtype))


def trainer_checkpoint(encoder, pretrainer, prefix, optimizer=True,
                       save=False):
  """As Model Garden's trainer writes it (optionally with Adam slots; with
  `save`, through `Checkpoint.save` as its CheckpointManager does: numbered
  PREFIX-1 with a `checkpoint` file and `save_counter`)."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  items = dict(global_step=tf.Variable(7, dtype=tf.int64),
               model=pretrainer, **pretrainer.checkpoint_items)
  if optimizer:
    opt = tf_keras.optimizers.legacy.Adam(1e-3)
    # Zero gradients create the slots without changing the weights.
    variables = pretrainer.trainable_variables
    opt.apply_gradients([(tf.zeros_like(v), v) for v in variables])
    for v in variables:
      for name in ('m', 'v'):
        opt.get_slot(v, name).assign(tf.ones_like(v) * 0.5)
    items['optimizer'] = opt
  ckpt = tf.train.Checkpoint(**items)
  return ckpt.save(prefix) if save else ckpt.write(prefix)


def encoder_checkpoint(encoder, prefix, key='encoder'):
  return tf.train.Checkpoint(**{key: encoder}).write(prefix)


def tf1_checkpoint(encoder, pretrainer, prefix, cfg):
  """The google-research/bert layout (`bert/encoder/layer_0/...`), with Adam
  slots and the next-sentence head, written from the TF2 model's values."""
  h, heads = cfg.hidden_size, cfg.num_attention_heads
  n = lambda v: v.numpy()
  values = {
      'bert/embeddings/word_embeddings': n(encoder.get_embedding_table()),
      'bert/embeddings/token_type_embeddings':
          n(encoder._type_embedding_layer.embeddings),  # pylint: disable=protected-access
      'bert/embeddings/position_embeddings':
          n(encoder._position_embedding_layer._position_embeddings),  # pylint: disable=protected-access
      'bert/embeddings/LayerNorm/gamma': n(encoder._embedding_norm_layer.gamma),  # pylint: disable=protected-access
      'bert/embeddings/LayerNorm/beta': n(encoder._embedding_norm_layer.beta),  # pylint: disable=protected-access
      'bert/pooler/dense/kernel': n(encoder.pooler_layer.kernel),
      'bert/pooler/dense/bias': n(encoder.pooler_layer.bias),
  }
  for i, block in enumerate(encoder.transformer_layers):
    p = f'bert/encoder/layer_{i}/'
    att = block._attention_layer  # pylint: disable=protected-access
    for name, dense in (('query', att._query_dense), ('key', att._key_dense),  # pylint: disable=protected-access
                        ('value', att._value_dense)):  # pylint: disable=protected-access
      values[p + f'attention/self/{name}/kernel'] = n(dense.kernel).reshape(
          [h, h])
      values[p + f'attention/self/{name}/bias'] = n(dense.bias).reshape([h])
    values[p + 'attention/output/dense/kernel'] = n(
        att._output_dense.kernel).reshape([h, h])  # pylint: disable=protected-access
    values[p + 'attention/output/dense/bias'] = n(att._output_dense.bias)  # pylint: disable=protected-access
    for tf1, layer in (('attention/output/LayerNorm', block._attention_layer_norm),  # pylint: disable=protected-access
                       ('output/LayerNorm', block._output_layer_norm)):  # pylint: disable=protected-access
      values[p + tf1 + '/gamma'] = n(layer.gamma)
      values[p + tf1 + '/beta'] = n(layer.beta)
    values[p + 'intermediate/dense/kernel'] = n(block._intermediate_dense.kernel)  # pylint: disable=protected-access
    values[p + 'intermediate/dense/bias'] = n(block._intermediate_dense.bias)  # pylint: disable=protected-access
    values[p + 'output/dense/kernel'] = n(block._output_dense.kernel)  # pylint: disable=protected-access
    values[p + 'output/dense/bias'] = n(block._output_dense.bias)  # pylint: disable=protected-access
  mlm = pretrainer.masked_lm
  values.update({
      'cls/predictions/transform/dense/kernel': n(mlm.dense.kernel),
      'cls/predictions/transform/dense/bias': n(mlm.dense.bias),
      'cls/predictions/transform/LayerNorm/gamma': n(mlm.layer_norm.gamma),
      'cls/predictions/transform/LayerNorm/beta': n(mlm.layer_norm.beta),
      'cls/predictions/output_bias': n(mlm.bias),
      'cls/seq_relationship/output_weights': np.ones([2, h], np.float32),
      'cls/seq_relationship/output_bias': np.zeros([2], np.float32),
  })
  del heads
  with tf.Graph().as_default():
    var_list = {}
    for name, value in values.items():
      var_list[name] = tf.compat.v1.Variable(value, name=name)
      slot = tf.compat.v1.Variable(np.full_like(value, 0.5),
                                   name=name + '/adam_m')
      var_list[name + '/adam_m'] = slot
    var_list['global_step'] = tf.compat.v1.Variable(
        7, dtype=tf.int64, name='global_step')
    saver = tf.compat.v1.train.Saver(var_list)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      return saver.save(sess, prefix, write_meta_graph=False)


def main():
  write_vocab(VOCAB)
  cfg = bert_config()
  encoder, pretrainer = build(cfg)
  randomize(pretrainer, seed=0)
  for f in os.listdir(HERE):
    if f.startswith('ckpt.'):
      os.remove(os.path.join(HERE, f))
  trainer_checkpoint(encoder, pretrainer, CKPT, optimizer=False)
  print('wrote', VOCAB, 'and', CKPT)


if __name__ == '__main__':
  sys.exit(main())

r"""Tiny ALBERT checkpoints (L=3 shared, H=32, A=2, E=16, 100 pieces) for tests.

    python tests/testdata/albert/make_checkpoint.py

re-creates, deterministically, the committed golden-test inputs
`tests/testdata/albert/sp.model` (a 100-piece SentencePiece model with
ALBERT's special tokens) and `tests/testdata/albert/ckpt` (Model Garden's
trainer layout, without optimizer slots to keep it small; the configuration
is configs/albert/tiny.gin). The tests import this module to write the other
layouts (trainer with optimizer slots, encoder-only, google-research/albert
TF1) into temporary directories.
"""
import io
import os
import sys

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

HERE = os.path.dirname(os.path.abspath(__file__))
SP_MODEL = os.path.join(HERE, 'sp.model')
CKPT = os.path.join(HERE, 'ckpt')

# As configs/albert/tiny.gin.
TINY = dict(vocab_size=100, embedding_width=16, hidden_size=32, num_layers=3,
            num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=64)

WORDS = (
    'the quick brown fox jumps over lazy dog hello world ca va naive cafe '
    'a an is was of to and in it that for on with as at by this be are from '
    'or have not but what all were when we there can your which their said '
    'if do will each about how up out them then she many some so these would '
    'other into has more her two like him see time could no make than first '
    'text').split()


def write_sp_model(path, size=100):
  """A tiny unigram SentencePiece model with ALBERT's special tokens
  (<pad>=0, <unk>=1, [CLS]=2, [SEP]=3, [MASK]=4), from a fixed corpus."""
  import sentencepiece as spm  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(0)
  corpus = [' '.join(rng.choice(WORDS, 8)) for _ in range(500)]
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(corpus), model_writer=model, vocab_size=size,
      pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, model_type='unigram',
      user_defined_symbols=['[CLS]', '[SEP]', '[MASK]'], minloglevel=2,
      num_threads=1)
  with open(path, 'wb') as f:
    f.write(model.getvalue())
  return path


def encoder_config(**overrides):
  """Model Garden's EncoderConfig(type='albert') of the tiny model."""
  from official.nlp.configs import encoders  # pylint: disable=g-import-not-at-top
  return encoders.EncoderConfig(
      type='albert',
      albert=encoders.AlbertEncoderConfig(**dict(TINY, **overrides)))


def config(**overrides):
  """The tiny model's config (the BERT-like family contract's name)."""
  return encoder_config(**overrides)


def build(config):  # pylint: disable=redefined-outer-name
  """(encoder, pretrainer) as Model Garden's pretraining task builds them."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  from official.modeling import tf_utils  # pylint: disable=g-import-not-at-top
  from official.nlp.configs import encoders  # pylint: disable=g-import-not-at-top
  from official.nlp.modeling import models  # pylint: disable=g-import-not-at-top
  encoder = encoders.build_encoder(config)
  cfg = config.get()
  pretrainer = models.BertPretrainerV2(
      encoder_network=encoder,
      mlm_activation=tf_utils.get_activation(cfg.hidden_activation),
      mlm_initializer=tf_keras.initializers.TruncatedNormal(
          stddev=cfg.initializer_range))
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


def trainer_checkpoint(encoder, pretrainer, prefix, optimizer=True):
  """As Model Garden's trainer writes it (optionally with Adam slots)."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  del encoder  # In pretrainer.checkpoint_items.
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
  return tf.train.Checkpoint(**items).write(prefix)


def encoder_checkpoint(encoder, prefix, key='encoder'):
  return tf.train.Checkpoint(**{key: encoder}).write(prefix)


def tf1_checkpoint(pretrainer, prefix):
  """The google-research/albert layout (`bert/encoder/transformer/group_0/
  inner_group_0/...`), with Adam slots and the sentence-order head, written
  from the TF2 model's values (TF1 keeps attention kernels 2-D)."""
  values = {}
  group = 'bert/encoder/transformer/group_0/inner_group_0/'
  tf1_of = {  # TF2 name (minus ':0') -> TF1 name.
      'word_embeddings/embeddings': 'bert/embeddings/word_embeddings',
      'type_embeddings/embeddings': 'bert/embeddings/token_type_embeddings',
      'position_embedding/embeddings': 'bert/embeddings/position_embeddings',
      'embeddings/layer_norm/gamma': 'bert/embeddings/LayerNorm/gamma',
      'embeddings/layer_norm/beta': 'bert/embeddings/LayerNorm/beta',
      'embedding_projection/kernel':
          'bert/encoder/embedding_hidden_mapping_in/kernel',
      'embedding_projection/bias':
          'bert/encoder/embedding_hidden_mapping_in/bias',
      'pooler_transform/kernel': 'bert/pooler/dense/kernel',
      'pooler_transform/bias': 'bert/pooler/dense/bias',
      'transformer/self_attention_layer_norm/gamma': group + 'LayerNorm/gamma',
      'transformer/self_attention_layer_norm/beta': group + 'LayerNorm/beta',
      'transformer/output_layer_norm/gamma': group + 'LayerNorm_1/gamma',
      'transformer/output_layer_norm/beta': group + 'LayerNorm_1/beta',
      'transformer/intermediate/kernel':
          group + 'ffn_1/intermediate/dense/kernel',
      'transformer/intermediate/bias': group + 'ffn_1/intermediate/dense/bias',
      'transformer/output/kernel':
          group + 'ffn_1/intermediate/output/dense/kernel',
      'transformer/output/bias': group + 'ffn_1/intermediate/output/dense/bias',
      'transformer/self_attention/attention_output/kernel':
          group + 'attention_1/output/dense/kernel',
      'transformer/self_attention/attention_output/bias':
          group + 'attention_1/output/dense/bias',
      'bert/cls/predictions/transform/dense/kernel':
          'cls/predictions/transform/dense/kernel',
      'bert/cls/predictions/transform/dense/bias':
          'cls/predictions/transform/dense/bias',
      'bert/cls/predictions/transform/LayerNorm/gamma':
          'cls/predictions/transform/LayerNorm/gamma',
      'bert/cls/predictions/transform/LayerNorm/beta':
          'cls/predictions/transform/LayerNorm/beta',
      'bert/cls/predictions/output_bias/bias': 'cls/predictions/output_bias',
  }
  for qkv in ('query', 'key', 'value'):
    for w in ('kernel', 'bias'):
      tf1_of[f'transformer/self_attention/{qkv}/{w}'] = (
          group + f'attention_1/self/{qkv}/{w}')
  for v in pretrainer.variables:
    name = v.name[:-len(':0')]
    value = v.numpy()
    if 'self_attention/' in name and 'layer_norm' not in name:
      if name.endswith('attention_output/kernel'):
        value = value.reshape([-1, value.shape[-1]])  # [h, h]
      else:
        value = value.reshape([value.shape[0], -1] if name.endswith('kernel')
                              else [-1])
    values[tf1_of[name]] = value
  h = values['bert/pooler/dense/bias'].shape[0]
  values['cls/seq_relationship/output_weights'] = np.ones([2, h], np.float32)
  values['cls/seq_relationship/output_bias'] = np.zeros([2], np.float32)
  with tf.Graph().as_default():
    var_list = {}
    for name, value in values.items():
      var_list[name] = tf.compat.v1.Variable(value, name=name)
      var_list[name + '/adam_m'] = tf.compat.v1.Variable(
          np.full_like(value, 0.5), name=name + '/adam_m')
    var_list['global_step'] = tf.compat.v1.Variable(
        7, dtype=tf.int64, name='global_step')
    saver = tf.compat.v1.train.Saver(var_list)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      return saver.save(sess, prefix, write_meta_graph=False)


def main():
  write_sp_model(SP_MODEL)
  encoder, pretrainer = build(encoder_config())
  randomize(pretrainer, seed=0)
  for f in os.listdir(HERE):
    if f.startswith('ckpt.'):
      os.remove(os.path.join(HERE, f))
  trainer_checkpoint(encoder, pretrainer, CKPT, optimizer=False)
  print('wrote', SP_MODEL, 'and', CKPT)


if __name__ == '__main__':
  sys.exit(main())

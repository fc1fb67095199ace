r"""BERT: encoder (+ masked-LM) and preprocessor, in the API of the TF Hub BERTs.

Exports a BERT trained with TensorFlow Model Garden (tf-models-official), or
an original google-research/bert TF1 checkpoint, as two reusable SavedModels
with exactly the API of the published TF Hub / Kaggle BERTs, so that existing
user code works unchanged:

    OUT/encoder/
      encoder = hub.load(OUT + '/encoder')
      outputs = encoder(dict(input_word_ids=...,    # int32 [batch, seq_length]
                             input_mask=...,        # int32 [batch, seq_length]
                             input_type_ids=...),   # int32 [batch, seq_length]
                        training=False)
      outputs['pooled_output']     # float32 [batch, hidden_size]
      outputs['sequence_output']   # float32 [batch, seq_length, hidden_size]
      outputs['encoder_outputs']   # list: one [batch, seq, hidden] per layer
      outputs['default']           # = pooled_output
      encoder.mlm(dict(..., masked_lm_positions=...))   # int32 [batch, n]
          -> the above (no default) + mlm_logits [batch, n, vocab_size]
      encoder.vocab_file (asset), encoder.do_lower_case   (or .sp_model_file)
      encoder.variables / trainable_variables / regularization_losses

    OUT/preprocessor/                 (needs `import tensorflow_text`)
      preprocessor = hub.load(OUT + '/preprocessor')
      preprocessor(strings)           -> the encoder inputs at seq_length (128)
      preprocessor.tokenize(strings)  -> int32 ragged [batch, words, pieces]
      preprocessor.tokenize.get_special_tokens_dict()
          -> vocab_size, padding_id, start_of_sequence_id, end_of_segment_id,
             mask_id
      preprocessor.bert_pack_inputs([seg_a, seg_b], seq_length=N)
          -> encoder inputs; 1 or 2 segments of ragged rank 1 or 2, [CLS] and
             [SEP] added, truncated fairly (round robin)

Usage:
  python export_scripts/bert_export.py \
      --gin_file=configs/bert/bert_en_uncased_L-12_H-768_A-12.gin \
      --checkpoint_path=CKPT --vocab_file=vocab.txt --export_dir=OUT
  (--sp_model_file=M.model instead of --vocab_file for SentencePiece models)

Checkpoint layouts restored (strictly: every exported weight must come from
the checkpoint, with the configured shapes):
  * Model Garden's trainer: tf.train.Checkpoint(global_step, model=pretrainer,
    optimizer, **pretrainer.checkpoint_items) (optimizer slots are ignored);
  * an encoder-only checkpoint (`encoder=` or the legacy `model=` key; set
    WITH_MLM = False, since it holds no masked-LM head);
  * an original TF1 BERT checkpoint (`bert/encoder/layer_0/...` names),
    converted on the fly with Model Garden's converter library
    (official.nlp.tools.tf1_bert_checkpoint_converter_lib) into a temporary
    directory, then restored strictly.
With COPY_POOLER_DENSE_TO_ENCODER = True, the pooler comes from the
next-sentence head (`next_sentence.pooler_dense`), as in Model Garden's
official.nlp.tools.export_tfhub. The encoder is Model Garden's `BertEncoder`
(encoder type 'bert', the default of its trainer and exporter); set
ENCODER_TYPE = 'bert_v2' for checkpoints of a `BertEncoderV2` (the error for
such a checkpoint says so).
"""
import os
import sys
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from absl import flags  # pylint: disable=g-import-not-at-top
import gin  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top
import tf_keras  # pylint: disable=g-import-not-at-top

# Model Garden registers gin configurables on import: import it before the
# driver parses (and locks) the gin config.
from official.legacy.bert import configs  # pylint: disable=g-import-not-at-top
from official.modeling import tf_utils  # pylint: disable=g-import-not-at-top
from official.nlp.modeling import networks  # pylint: disable=g-import-not-at-top
from official.nlp.tools import export_tfhub_lib  # pylint: disable=g-import-not-at-top
from official.nlp.tools import tf2_bert_encoder_checkpoint_converter as conv  # pylint: disable=g-import-not-at-top

from official.hub_export import bert_family  # pylint: disable=g-import-not-at-top
from official.hub_export import driver  # pylint: disable=g-import-not-at-top
from official.hub_export import restore  # pylint: disable=g-import-not-at-top
from official.hub_export import spec  # pylint: disable=g-import-not-at-top
from official.hub_export import writer  # pylint: disable=g-import-not-at-top

flags.DEFINE_string('vocab_file', None,
                    'WordPiece vocabulary (vocab.txt) the model was trained '
                    'with; exactly one of --vocab_file and --sp_model_file.')
flags.DEFINE_string('sp_model_file', None,
                    'SentencePiece model file (ALBERT-style vocabularies) '
                    'instead of --vocab_file.')
FLAGS = flags.FLAGS

# The exported API (TF Hub's BERT encoder and preprocessor) is declared once
# for the family: bert_family.ENCODER_SPEC, ENCODER_WITH_MLM_SPEC,
# preprocessor_spec().


@gin.configurable
def bert_architecture(vocab_size, hidden_size, num_layers, num_attention_heads,
                      intermediate_size, hidden_activation='gelu',
                      dropout_rate=0.1, attention_dropout_rate=0.1,
                      max_position_embeddings=512, type_vocab_size=2,
                      initializer_range=0.02, embedding_size=None):
  """The BERT hyper-parameters, as Model Garden's legacy `BertConfig`."""
  bert_family.check_attention_heads(hidden_size, num_attention_heads)
  return configs.BertConfig(
      vocab_size=vocab_size, hidden_size=hidden_size,
      num_hidden_layers=num_layers, num_attention_heads=num_attention_heads,
      intermediate_size=intermediate_size, hidden_act=hidden_activation,
      hidden_dropout_prob=dropout_rate,
      attention_probs_dropout_prob=attention_dropout_rate,
      max_position_embeddings=max_position_embeddings,
      type_vocab_size=type_vocab_size, initializer_range=initializer_range,
      embedding_size=embedding_size)


@spec.export_options('bert')
class Options(spec.Options):
  """The export choices (configs/bert/base.gin binds each to a macro).

  Attributes:
    model_name: the published name, e.g. 'bert_en_uncased_L-12_H-768_A-12'
      (the model card's title; 'uncased'/'cased' in it sets do_lower_case
      when that is None).
    with_mlm: also export `encoder.mlm` (masked-LM logits), as the public
      BERTs have; False for an encoder-only checkpoint.
    copy_pooler_dense_to_encoder: take the pooler from the next-sentence
      head (`next_sentence.pooler_dense`), as Model Garden's exporter can.
    do_lower_case: the preprocessor lower-cases (and strips accents); None:
      from model_name, or True with --sp_model_file.
    seq_length: the preprocessor's default sequence length.
    encoder_type: the Model Garden encoder the checkpoint was written by,
      one of ENCODER_TYPES.
  """
  model_name: str = gin.REQUIRED
  with_mlm: bool = True
  copy_pooler_dense_to_encoder: bool = False
  do_lower_case: Optional[bool] = None
  seq_length: int = 128
  encoder_type: str = 'bert'

  def __post_init__(self):
    bert_family.check_options(self)
    self.require('copy_pooler_dense_to_encoder',
                  isinstance(self.copy_pooler_dense_to_encoder, bool),
                  'True or False')
    self.require('encoder_type', self.encoder_type in ENCODER_TYPES,
                 ' or '.join(map(repr, ENCODER_TYPES)))


# Model Garden's encoder types (official.nlp.configs.encoders): 'bert' builds
# the functional `BertEncoder` (its trainer's and exporter's default), 'bert_v2'
# the `BertEncoderV2` layer. Same weights and numbers, but their checkpoints
# name the weights differently, so pick the one the checkpoint was written by.
ENCODER_TYPES = ('bert', 'bert_v2')


def build(cfg, encoder_type='bert'):
  """Returns (encoder, pretrainer): the piece to share and the full model.

  The encoder is built exactly as Model Garden's export_tfhub builds it from a
  BertConfig (`BertEncoder`, dict outputs; or `BertEncoderV2` with the same
  arguments), the pretrainer as its `BertPretrainerV2` with the masked-LM
  head.
  """
  if encoder_type == 'bert_v2':
    encoder = networks.BertEncoderV2(
        vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size,
        num_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        inner_dim=cfg.intermediate_size,
        inner_activation=tf_utils.get_activation(cfg.hidden_act),
        output_dropout=cfg.hidden_dropout_prob,
        attention_dropout=cfg.attention_probs_dropout_prob,
        max_sequence_length=cfg.max_position_embeddings,
        type_vocab_size=cfg.type_vocab_size,
        initializer=tf_keras.initializers.TruncatedNormal(
            stddev=cfg.initializer_range),
        embedding_width=cfg.embedding_size)
  else:
    encoder = export_tfhub_lib.get_bert_encoder(cfg)
  return encoder, bert_family.build_pretrainer(encoder, cfg.hidden_act,
                                               cfg.initializer_range)


def _encoder_type_of(path):
  """'bert' (functional BertEncoder), 'bert_v2' or None, from the keys."""
  names = [n for n, _ in tf.train.list_variables(path)]
  if any('_transformer_layers/' in n for n in names):
    return 'bert_v2'
  if any(n.startswith(('encoder/layer_with_weights-',
                       'model/layer_with_weights-',
                       'model/encoder_network/layer_with_weights-'))
         for n in names):
    return 'bert'
  return None


def restore_encoder(ctx, cfg, encoder, pretrainer, opts):
  """Strict restore (see the module doc and `bert_family.restore_pretrainer`).
  """
  hint = ('Check that the gin config matches the checkpoint '
          '(--gin_file/--gin_params)' + (
              '; for an encoder-only checkpoint (no masked-LM head) set '
              "--gin_params='WITH_MLM = False'" if opts.with_mlm else '')
          + '.')
  _, path = restore.resolve(ctx.checkpoint_path)
  tf1 = bert_family.is_tf1_checkpoint(path)
  if not tf1 and not path.endswith(('.h5', '.hdf5')):
    written_by = _encoder_type_of(path)
    if written_by and written_by != opts.encoder_type:
      hint = (f'The checkpoint was written by a Model Garden {written_by!r} '
              f"encoder: set --gin_params=\"ENCODER_TYPE = '{written_by}'\".")
  if tf1 and opts.encoder_type != 'bert':
    raise spec.ExportError(
        "a TF1 BERT checkpoint converts to Model Garden's 'bert' encoder: "
        "set --gin_params=\"ENCODER_TYPE = 'bert'\"")

  def convert_tf1(v1_path, output_path):  # Model Garden's converter library.
    conv.convert_checkpoint(bert_config=cfg, output_path=output_path,
                            v1_checkpoint=v1_path, converted_model='pretrainer')

  bert_family.restore_pretrainer(
      ctx, encoder, pretrainer, with_mlm=opts.with_mlm,
      copy_pooler_dense_to_encoder=opts.copy_pooler_dense_to_encoder,
      hint=hint, convert_tf1=convert_tf1, tf1_name='google-research/bert')


def export(ctx: driver.Context):
  cfg = bert_architecture()
  opts = Options()
  vocab, sp_model, do_lower_case = bert_family.check_vocab(
      ctx, FLAGS.vocab_file, FLAGS.sp_model_file, cfg.vocab_size,
      opts.do_lower_case, opts.model_name)
  # No random initializers (the strict restore fills every weight), no
  # AutoGraph conversion (the writer traces without it).
  with restore.skip_initializers(), writer.no_autograph():
    encoder, pretrainer = build(cfg, opts.encoder_type)
  restore_encoder(ctx, cfg, encoder, pretrainer, opts)
  bert_family.export_encoder_and_preprocessor(
      ctx, encoder, pretrainer, vocab_size=cfg.vocab_size,
      with_mlm=opts.with_mlm, vocab=vocab, sp_model=sp_model,
      do_lower_case=do_lower_case, seq_length=opts.seq_length)


if __name__ == '__main__':
  driver.run(export, recipe='bert')

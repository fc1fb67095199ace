r"""ALBERT: encoder (+ masked-LM) and preprocessor, as the TF Hub ALBERTs.

Exports an ALBERT trained with TensorFlow Model Garden (tf-models-official:
`AlbertEncoder` inside `BertPretrainerV2`) as two reusable SavedModels with
exactly the API of the published TF Hub / Kaggle ALBERTs (albert_en_*), which
is the API of the BERT recipe:

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
      encoder.sp_model_file (asset)   (or .vocab_file + .do_lower_case)
      encoder.variables / trainable_variables / regularization_losses

    OUT/preprocessor/                 (needs `import tensorflow_text`)
      preprocessor = hub.load(OUT + '/preprocessor')
      preprocessor(strings)           -> the encoder inputs at seq_length (128)
      preprocessor.tokenize(strings)  -> int32 ragged [batch, pieces]
      preprocessor.tokenize.get_special_tokens_dict()
      preprocessor.bert_pack_inputs([seg_a, seg_b], seq_length=N)

Usage:
  python export_scripts/albert_export.py \
      --gin_file=configs/albert/albert_en_base.gin \
      --checkpoint_path=CKPT --sp_model_file=30k-clean.model --export_dir=OUT

ALBERT differs from BERT inside the encoder only: factorized embeddings
(vocab_size x embedding_width, then a projection to hidden_size) and one
Transformer block shared by all num_layers layers. The encoder is built as
Model Garden's exporter builds it (`EncoderConfig(type='albert')` through
`encoders.build_encoder`); everything else is the BERT family's
(official/hub_export/bert_family.py). Checkpoint layouts restored strictly:
Model Garden's trainer (`model=pretrainer`, `encoder=`, `masked_lm=`,
optimizer slots ignored) and encoder-only checkpoints (`encoder=` or the
legacy `model=`; set WITH_MLM = False); google-research/albert TF1
checkpoints are converted on the fly with Model Garden's
tf2_albert_encoder_checkpoint_converter.
"""
import os
import sys
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from absl import flags  # pylint: disable=g-import-not-at-top
import gin  # pylint: disable=g-import-not-at-top

# Model Garden registers gin configurables on import: import it before the
# driver parses (and locks) the gin config.
from official.legacy.albert import configs as albert_configs  # pylint: disable=g-import-not-at-top
from official.nlp.configs import encoders  # pylint: disable=g-import-not-at-top
from official.nlp.tools import tf2_albert_encoder_checkpoint_converter as conv  # pylint: disable=g-import-not-at-top

from official.hub_export import bert_family  # pylint: disable=g-import-not-at-top
from official.hub_export import driver  # pylint: disable=g-import-not-at-top
from official.hub_export import restore  # pylint: disable=g-import-not-at-top
from official.hub_export import spec  # pylint: disable=g-import-not-at-top
from official.hub_export import writer  # pylint: disable=g-import-not-at-top

flags.DEFINE_string('sp_model_file', None,
                    'SentencePiece model (e.g. 30k-clean.model) the ALBERT was '
                    'trained with.')
flags.DEFINE_string('vocab_file', None,
                    'WordPiece vocabulary (vocab.txt) instead of '
                    '--sp_model_file, for ALBERTs trained with one.')
FLAGS = flags.FLAGS

# The exported API (TF Hub's BERT/ALBERT encoder and preprocessor) is declared
# once for the family: bert_family.ENCODER_SPEC, ENCODER_WITH_MLM_SPEC,
# preprocessor_spec().


@gin.configurable
def albert_architecture(vocab_size, embedding_width, hidden_size, num_layers,
                        num_attention_heads, intermediate_size,
                        hidden_activation='gelu', dropout_rate=0.0,
                        attention_dropout_rate=0.0,
                        max_position_embeddings=512, type_vocab_size=2,
                        initializer_range=0.02):
  """The ALBERT hyper-parameters, as Model Garden's `EncoderConfig`."""
  bert_family.check_attention_heads(hidden_size, num_attention_heads)
  albert = encoders.AlbertEncoderConfig(
      vocab_size=vocab_size, embedding_width=embedding_width,
      hidden_size=hidden_size, num_layers=num_layers,
      num_attention_heads=num_attention_heads,
      intermediate_size=intermediate_size, hidden_activation=hidden_activation,
      dropout_rate=dropout_rate, attention_dropout_rate=attention_dropout_rate,
      max_position_embeddings=max_position_embeddings,
      type_vocab_size=type_vocab_size, initializer_range=initializer_range)
  return encoders.EncoderConfig(type='albert', albert=albert)


@spec.export_options('albert')
class Options(spec.Options):
  """The export choices (configs/albert/base.gin binds each to a macro).

  Attributes:
    model_name: the published name, e.g. 'albert_en_base' (the model card's
      title).
    with_mlm: also export `encoder.mlm` (masked-LM logits), as the public
      ALBERTs have; False for an encoder-only checkpoint.
    do_lower_case: the preprocessor lower-cases (and strips accents); None:
      True with --sp_model_file (all public ALBERTs), else from model_name.
    seq_length: the preprocessor's default sequence length.
  """
  model_name: str = gin.REQUIRED
  with_mlm: bool = True
  do_lower_case: Optional[bool] = None
  seq_length: int = 128

  def __post_init__(self):
    bert_family.check_options(self)


def build(encoder_config):
  """(AlbertEncoder, BertPretrainerV2 with the masked-LM head), as Model
  Garden's export_tfhub builds them from an EncoderConfig."""
  encoder = encoders.build_encoder(encoder_config)
  cfg = encoder_config.get()
  return encoder, bert_family.build_pretrainer(encoder, cfg.hidden_activation,
                                               cfg.initializer_range)


def convert_tf1(encoder_config):
  """A google-research/albert checkpoint -> a Model Garden pretrainer
  checkpoint, with Model Garden's converter."""
  cfg = encoder_config.get()
  legacy = albert_configs.AlbertConfig(
      vocab_size=cfg.vocab_size, embedding_size=cfg.embedding_width,
      hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_layers,
      num_attention_heads=cfg.num_attention_heads,
      intermediate_size=cfg.intermediate_size,
      hidden_act=cfg.hidden_activation, hidden_dropout_prob=cfg.dropout_rate,
      attention_probs_dropout_prob=cfg.attention_dropout_rate,
      max_position_embeddings=cfg.max_position_embeddings,
      type_vocab_size=cfg.type_vocab_size,
      initializer_range=cfg.initializer_range)

  def convert(v1_path, output_path):
    # The converter writes OUTPUT_DIR/temp_v1/ without creating it.
    os.makedirs(os.path.join(os.path.dirname(output_path), 'temp_v1'))
    conv.convert_checkpoint(legacy, output_path, v1_path,
                            checkpoint_model_name='model',
                            converted_model='pretrainer')
  return convert


def export(ctx: driver.Context):
  encoder_config = albert_architecture()
  opts = Options()
  vocab, sp_model, do_lower_case = bert_family.check_vocab(
      ctx, FLAGS.vocab_file, FLAGS.sp_model_file,
      encoder_config.albert.vocab_size, opts.do_lower_case,
      opts.model_name)
  # No random initializers (the strict restore fills every weight), no
  # AutoGraph conversion (the writer traces without it).
  with restore.skip_initializers(), writer.no_autograph():
    encoder, pretrainer = build(encoder_config)
  hint = ('Check that the gin config matches the checkpoint (--gin_file/'
          '--gin_params: embedding_width, hidden_size, intermediate_size, '
          'vocab_size)' + (
              '; for an encoder-only checkpoint (no masked-LM head) set '
              "--gin_params='WITH_MLM = False'" if opts.with_mlm else '')
          + '.')
  bert_family.restore_pretrainer(
      ctx, encoder, pretrainer, with_mlm=opts.with_mlm,
      copy_pooler_dense_to_encoder=False, hint=hint,
      convert_tf1=convert_tf1(encoder_config),
      tf1_name='google-research/albert')
  bert_family.export_encoder_and_preprocessor(
      ctx, encoder, pretrainer, vocab_size=encoder_config.albert.vocab_size,
      with_mlm=opts.with_mlm, vocab=vocab, sp_model=sp_model,
      do_lower_case=do_lower_case, seq_length=opts.seq_length)


if __name__ == '__main__':
  driver.run(export, recipe='albert')

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
    with_mlm = False, since it holds no masked-LM head);
  * an original TF1 BERT checkpoint (`bert/encoder/layer_0/...` names),
    converted on the fly with Model Garden's converter library
    (official.nlp.tools.tf1_bert_checkpoint_converter_lib) into a temporary
    directory, then restored strictly.
With copy_pooler_dense_to_encoder = True, the pooler comes from the
next-sentence head (`next_sentence.pooler_dense`), as in Model Garden's
official.nlp.tools.export_tfhub. The encoder is Model Garden's `BertEncoder`
(encoder type 'bert', the default of its trainer and exporter); set
encoder_type = 'bert_v2' for checkpoints of a `BertEncoderV2` (the error for
such a checkpoint says so).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import dataclasses  # pylint: disable=g-import-not-at-top
import shutil  # pylint: disable=g-import-not-at-top
import tempfile  # pylint: disable=g-import-not-at-top
import warnings  # pylint: disable=g-import-not-at-top

from absl import flags  # pylint: disable=g-import-not-at-top
import gin  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top
import tf_keras  # pylint: disable=g-import-not-at-top

# Model Garden registers gin configurables on import: import it before the
# driver parses (and locks) the gin config.
from official.legacy.bert import configs  # pylint: disable=g-import-not-at-top
from official.modeling import tf_utils  # pylint: disable=g-import-not-at-top
from official.nlp.modeling import layers  # pylint: disable=g-import-not-at-top
from official.nlp.modeling import models  # pylint: disable=g-import-not-at-top
from official.nlp.modeling import networks  # pylint: disable=g-import-not-at-top
from official.nlp.tools import export_tfhub_lib  # pylint: disable=g-import-not-at-top
from official.nlp.tools import tf2_bert_encoder_checkpoint_converter as conv  # pylint: disable=g-import-not-at-top

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

# BertPretrainerV2 hands masked_lm_positions to the encoder, which ignores it.
warnings.filterwarnings('ignore', message='Input dict contained keys')

_INT_SEQ = lambda name: tf.TensorSpec([None, None], tf.int32, name=name)
ENCODER_INPUTS = {n: _INT_SEQ(n) for n in
                  ('input_word_ids', 'input_mask', 'input_type_ids')}
_FEATURES = {
    'pooled_output': spec.Output(
        'features', 1e-5, 'float32 [batch, hidden_size]: the [CLS] token '
        'through the pooler (tanh) layer'),
    'sequence_output': spec.Output(
        'features', 1e-5, 'float32 [batch, seq_length, hidden_size]: the last '
        'Transformer layer'),
    'encoder_outputs': spec.Output(
        'features', 1e-5, 'list of float32 [batch, seq_length, hidden_size], '
        'one per Transformer layer'),
}
MLM_SPEC = spec.ExportSpec(
    inputs=dict(ENCODER_INPUTS,
                masked_lm_positions=_INT_SEQ('masked_lm_positions')),
    outputs=dict(_FEATURES, mlm_logits=spec.Output(
        'logits', 1e-5, 'float32 [batch, num_predictions, vocab_size]: '
        'masked-LM logits at masked_lm_positions')),
    task='text-embedding')
ENCODER_SPEC = spec.ExportSpec(
    inputs=ENCODER_INPUTS,
    outputs=dict(_FEATURES, default=spec.Output(
        'features', 1e-5, 'the same as pooled_output')),
    task='text-embedding')
ENCODER_WITH_MLM_SPEC = dataclasses.replace(ENCODER_SPEC,
                                            subobjects={'mlm': MLM_SPEC})

_IDS = spec.Output('ids', 0, 'int32 [batch, seq_length]')
_PACKED = {k: _IDS for k in ENCODER_INPUTS}
_RAGGED = lambda rank: tf.RaggedTensorSpec([None] * (rank + 1), tf.int32)
_SEQ_LENGTH = {'seq_length': tf.TensorSpec([], tf.int32)}


def preprocessor_spec():
  """The preprocessor's API (sub-objects without `training`, not trainable)."""
  tokenize = spec.single(
      tf.TensorSpec([None], tf.string, name='sentences'), 'tokens',
      spec.Output('ids', 0, 'int32 ragged [batch, (words), (wordpieces)]'),
      training_arg=False, trainable=False, task='text-preprocessing')
  pack = spec.ExportSpec(
      inputs=[_RAGGED(1)], outputs=_PACKED, training_arg=False,
      trainable=False, task='text-preprocessing',
      # 1 or 2 segments, ragged rank 1 or 2, with an optional seq_length.
      traces=[([_RAGGED(rank)] * segments, _SEQ_LENGTH)
              for rank in (1, 2) for segments in (1, 2)])
  return spec.ExportSpec(
      inputs=tf.TensorSpec([None], tf.string, name='sentences'),
      outputs=_PACKED, training_arg=False, trainable=False,
      task='text-preprocessing',
      subobjects={'tokenize': tokenize, 'bert_pack_inputs': pack})


@gin.configurable
def bert_architecture(vocab_size, hidden_size, num_layers, num_attention_heads,
                      intermediate_size, hidden_activation='gelu',
                      dropout_rate=0.1, attention_dropout_rate=0.1,
                      max_position_embeddings=512, type_vocab_size=2,
                      initializer_range=0.02, embedding_size=None):
  """The BERT hyper-parameters, as Model Garden's legacy `BertConfig`."""
  if hidden_size % num_attention_heads:
    raise spec.ExportError(
        f'hidden_size {hidden_size} is not a multiple of num_attention_heads '
        f'{num_attention_heads}: fix the gin config')
  return configs.BertConfig(
      vocab_size=vocab_size, hidden_size=hidden_size,
      num_hidden_layers=num_layers, num_attention_heads=num_attention_heads,
      intermediate_size=intermediate_size, hidden_act=hidden_activation,
      hidden_dropout_prob=dropout_rate,
      attention_probs_dropout_prob=attention_dropout_rate,
      max_position_embeddings=max_position_embeddings,
      type_vocab_size=type_vocab_size, initializer_range=initializer_range,
      embedding_size=embedding_size)


@gin.configurable
def export_options(model_name, with_mlm=True,
                   copy_pooler_dense_to_encoder=False, do_lower_case=None,
                   seq_length=128, encoder_type='bert'):
  if encoder_type not in ENCODER_TYPES:
    raise spec.ExportError(
        f'encoder_type {encoder_type!r} is unknown: set it to one of '
        f'{", ".join(map(repr, ENCODER_TYPES))}')
  return dict(model_name=model_name, with_mlm=with_mlm,
              copy_pooler_dense_to_encoder=copy_pooler_dense_to_encoder,
              do_lower_case=do_lower_case, seq_length=seq_length,
              encoder_type=encoder_type)


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
  pretrainer = models.BertPretrainerV2(
      encoder_network=encoder,
      mlm_activation=tf_utils.get_activation(cfg.hidden_act),
      mlm_initializer=tf_keras.initializers.TruncatedNormal(
          stddev=cfg.initializer_range))
  ids = tf.zeros([1, 4], tf.int32)
  pretrainer(dict(input_word_ids=ids, input_mask=ids + 1, input_type_ids=ids,
                  masked_lm_positions=ids[:, :2]))  # Builds the MLM head.
  return encoder, pretrainer


def _encoder_outputs(out):
  return {'pooled_output': out['pooled_output'],
          'sequence_output': out['sequence_output'],
          'encoder_outputs': list(out['encoder_outputs'])}


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


def is_tf1_checkpoint(path):
  names = [n for n, _ in tf.train.list_variables(path)]
  return any(n.startswith('bert/embeddings/') or
             n.startswith('bert/encoder/layer_') for n in names)


def restore_encoder(ctx, cfg, encoder, pretrainer, opts):
  """Strict restore through the pretrainer's checkpoint items (see module doc).
  """
  required = list(encoder.variables)
  if opts['with_mlm']:
    required += list(pretrainer.masked_lm.variables)
  layouts = [
      restore.Layout('trainer', model=pretrainer,
                     **pretrainer.checkpoint_items),
      restore.Layout('pretrainer', model=pretrainer),
      restore.Layout('encoder', encoder=encoder),
      restore.Layout('legacy encoder', model=encoder),
  ]
  hint = ('Check that the gin config matches the checkpoint '
          '(--gin_file/--gin_params)' + (
              '; for an encoder-only checkpoint (no masked-LM head) set '
              "--gin_params='with_mlm = False'" if opts['with_mlm'] else '')
          + '.')
  _, path = restore.resolve(ctx.checkpoint_path)
  tf1 = not path.endswith(('.h5', '.hdf5')) and is_tf1_checkpoint(path)
  if not tf1 and not path.endswith(('.h5', '.hdf5')):
    written_by = _encoder_type_of(path)
    if written_by and written_by != opts['encoder_type']:
      hint = (f'The checkpoint was written by a Model Garden {written_by!r} '
              f"encoder: set --gin_params=\"encoder_type = '{written_by}'\".")
  if opts['copy_pooler_dense_to_encoder']:
    fix = "set --gin_params='copy_pooler_dense_to_encoder = False'"
    if tf1:
      raise spec.ExportError(
          'copy_pooler_dense_to_encoder is on, but a TF1 BERT checkpoint keeps '
          f'its pooler in the encoder (bert/pooler/dense): {fix}')
    if not any(k.startswith(('next_sentence..pooler_dense/',
                             'next_sentence.pooler_dense/'))
               for k, _ in tf.train.list_variables(path)):
      raise spec.ExportError(
          f'copy_pooler_dense_to_encoder is on, but checkpoint {path} has no '
          f'next-sentence pooler (next_sentence.pooler_dense): {fix}')
  if tf1:
    if opts['encoder_type'] != 'bert':
      raise spec.ExportError(
          "a TF1 BERT checkpoint converts to Model Garden's 'bert' encoder: "
          "set --gin_params=\"encoder_type = 'bert'\"")
    report = _restore_tf1(path, cfg, layouts, required, hint)
    ctx.restore_report = dataclasses.replace(
        report, path=path, format='tf1',
        layout=f'google-research/bert, converted ({report.layout})')
  else:
    ctx.restore(layouts, required=required, hint=hint)
  if opts['copy_pooler_dense_to_encoder']:
    restore.restore(
        path, [restore.Layout('next_sentence.pooler_dense', **{
            'next_sentence.pooler_dense': encoder.pooler_layer})],
        required=encoder.pooler_layer.variables,
        hint='Check that hidden_size in the gin config matches the checkpoint.')


def _restore_tf1(path, cfg, layouts, required, hint):
  """Converts a google-research/bert checkpoint with Model Garden's converter
  into a temporary directory and restores from there."""
  with tempfile.TemporaryDirectory(prefix='bert_tf1_converted_') as tmp:
    try:
      conv.convert_checkpoint(
          bert_config=cfg, output_path=os.path.join(tmp, 'ckpt'),
          v1_checkpoint=path, converted_model='pretrainer')
    except (AssertionError, ValueError, tf.errors.OpError) as e:
      first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
      raise spec.ExportError(
          f'cannot convert the TF1 BERT checkpoint {path}: {first}. {hint}'
      ) from None
    converted = tf.train.latest_checkpoint(tmp)
    return restore.restore(converted, layouts, required, hint=hint)


def _check_vocab(ctx, cfg, opts):
  """The vocabulary flags: exactly one, readable, matching vocab_size."""
  vocab, sp_model = FLAGS.vocab_file, FLAGS.sp_model_file
  if bool(vocab) == bool(sp_model):
    raise spec.ExportError(
        ('both --vocab_file and --sp_model_file given' if vocab else
         'no vocabulary given') + ': pass exactly one of --vocab_file '
        '(WordPiece vocab.txt) or --sp_model_file (SentencePiece model)')
  path = vocab or sp_model
  flag = '--vocab_file' if vocab else '--sp_model_file'
  if not os.path.isfile(path):
    raise spec.ExportError(f'{flag} {path} does not exist: pass the '
                           'vocabulary the model was trained with')
  if vocab:
    with open(path, 'rb') as f:
      size = sum(1 for line in f if line.strip())
  else:
    import tensorflow_text as text  # pylint: disable=g-import-not-at-top
    with open(path, 'rb') as f:
      try:
        size = int(text.SentencepieceTokenizer(model=f.read()).vocab_size())
      except (tf.errors.OpError, ValueError):
        raise spec.ExportError(f'{flag} {path} is not a SentencePiece model: '
                               'pass the .model file') from None
  if size != cfg.vocab_size:
    raise spec.ExportError(
        f'{flag} {path} has {size} tokens but the model has vocab_size '
        f'{cfg.vocab_size} word-embedding rows: pass the vocabulary the model '
        "was trained with (or fix --gin_params='vocab_size = ...')")
  ctx.add_source('vocab_file' if vocab else 'sp_model_file', path,
                 tokens=size)
  do_lower_case = opts['do_lower_case']
  if do_lower_case is None:
    name = opts['model_name']
    if sp_model:
      do_lower_case = True  # All public ALBERTs do.
    elif 'uncased' in name:
      do_lower_case = True
    elif 'cased' in name:
      do_lower_case = False
    else:
      raise spec.ExportError(
          f'cannot tell from model_name {name!r} whether to lower-case: set '
          "--gin_params='do_lower_case = True' (or False)")
  return vocab, sp_model, do_lower_case


def encoder_cases(vocab_size, with_mlm, seed=0):
  """Shape sweep: batch 1 and 3, two sequence lengths, padded rows."""
  rng = np.random.RandomState(seed)
  cases = []
  for batch, seq in ((1, 8), (3, 16), (3, 5)):
    ids = rng.randint(1, vocab_size, size=[batch, seq]).astype(np.int32)
    lengths = rng.randint(2, seq + 1, size=[batch])
    lengths[0] = seq
    mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int32)
    types = ((np.arange(seq)[None, :] >= lengths[:, None] // 2) *
             mask).astype(np.int32)
    inputs = dict(input_word_ids=ids * mask, input_mask=mask,
                  input_type_ids=types)
    cases.append(spec.Case(inputs))
    if with_mlm:
      pos = np.sort(rng.randint(0, seq, size=[batch, 3]), axis=1)
      cases.append(spec.Case(dict(inputs, masked_lm_positions=pos.astype(
          np.int32)), target='mlm'))
  return cases


# Sample text for the preprocessor's verification: punctuation, accents, CJK,
# unknown words, an empty string and an over-length input.
SENTENCES = [
    'The quick brown fox jumps over the lazy dog.',
    'Héllo, Wörld! Ça va? naïve café',
    '日本語のテキスト 中文',
    'zyxwv qqqq unknownword',
    '',
    ' '.join(['the quick brown fox'] * 40),
]


def _ragged_rank(rt, rank):
  """Token ids as ragged rank 1 [batch, (tokens)] or 2 [batch, (words),
  (tokens)] (SentencePiece gives rank 1: then each token is a word)."""
  if rt.ragged_rank == rank:
    return rt
  if rank == 1:
    return rt.merge_dims(1, 2)
  words = tf.RaggedTensor.from_row_lengths(
      rt.values, tf.ones_like(rt.values, tf.int64))
  return tf.RaggedTensor.from_row_splits(words, rt.row_splits)


def preprocessor_cases(tokenizer):
  s = np.array(SENTENCES, dtype=object)
  tok = lambda x: tokenizer(tf.constant(x))
  a, b = tok(s[:3]), tok(s[3:])
  r1, r2 = (lambda t: _ragged_rank(t, 1)), (lambda t: _ragged_rank(t, 2))
  return [
      spec.Case(s[:1]), spec.Case(s[:3]), spec.Case(s[3:]),
      spec.Case(s[:1], target='tokenize'), spec.Case(s, target='tokenize'),
      spec.Case([r2(a)], target='bert_pack_inputs'),
      spec.Case([r1(a)], target='bert_pack_inputs', kwargs={'seq_length': 8}),
      spec.Case([r2(a), r2(b)], target='bert_pack_inputs',
                kwargs={'seq_length': 12}),
      spec.Case([r1(a[:1]), r1(b[:1])], target='bert_pack_inputs',
                kwargs={'seq_length': 40}),
  ]


def build_preprocessor(vocab, sp_model, do_lower_case, seq_length):
  """Model Garden's BertTokenizer (or SentencepieceTokenizer) and
  BertPackInputs, wrapped as a SavedModel object with the TF Hub API."""
  if vocab:
    tokenizer = layers.BertTokenizer(vocab_file=vocab, lower_case=do_lower_case)
    # The table (its initializer holds the vocab as an Asset, so the export
    # copies it to assets/ and re-saving keeps it) and the tf.text module.
    track = {'_vocab_initializer': tokenizer._vocab_initializer_donotuse,  # pylint: disable=protected-access
             '_tokenizer': tokenizer._bert_tokenizer}  # pylint: disable=protected-access
  else:
    tokenizer = layers.SentencepieceTokenizer(
        model_file_path=sp_model, lower_case=do_lower_case,
        strip_diacritics=True)  # As ALBERT (and Model Garden's exporter).
    track = {'_tokenizer': tokenizer._tokenizer}  # pylint: disable=protected-access
  special = tokenizer.get_special_tokens_dict()
  missing = [k for k in ('start_of_sequence_id', 'end_of_segment_id',
                         'padding_id') if k not in special]
  if missing:
    raise spec.ExportError(
        f'the vocabulary lacks the special tokens for {", ".join(missing)} '
        '([CLS], [SEP], [PAD]): pass the vocabulary the model was trained '
        'with')
  pack = layers.BertPackInputs(seq_length=seq_length,
                               special_tokens_dict=special)
  ids = dict(start_of_sequence_id=pack.start_of_sequence_id,
             end_of_segment_id=pack.end_of_segment_id,
             padding_id=pack.padding_id)

  def pack_call(inputs, seq_length=seq_length):
    return layers.BertPackInputs.bert_pack_inputs(
        inputs, seq_length=seq_length, **ids)

  tokenize = writer.reusable(lambda sentences: tokenizer(sentences),  # pylint: disable=unnecessary-lambda
                             variables=[], trainable_variables=[])
  tokenize.get_special_tokens_dict = writer.Reusable()
  tokenize.get_special_tokens_dict.__call__ = tf.function(
      lambda: dict(special), input_signature=[])
  bert_pack_inputs = writer.reusable(pack_call, variables=[],
                                     trainable_variables=[])
  bert_pack_inputs.__call__ = tf.function(pack_call, autograph=False)
  obj = writer.reusable(
      lambda sentences: pack(tokenizer(sentences)), variables=[],
      trainable_variables=[], track=dict(
          track, tokenize=tokenize, bert_pack_inputs=bert_pack_inputs))

  def reference(case):
    if case.target == 'tokenize':
      return tokenizer(case.inputs)
    if case.target == 'bert_pack_inputs':
      return pack_call(case.inputs, **(case.kwargs or {}))
    return pack(tokenizer(case.inputs))
  return obj, tokenizer, reference


def export(ctx: driver.Context):
  cfg = bert_architecture()
  opts = export_options()
  vocab, sp_model, do_lower_case = _check_vocab(ctx, cfg, opts)
  encoder, pretrainer = build(cfg, opts['encoder_type'])
  restore_encoder(ctx, cfg, encoder, pretrainer, opts)

  def call(inputs, training=False):
    out = _encoder_outputs(encoder(inputs, training=training))
    out['default'] = out['pooled_output']
    return out

  def mlm_call(inputs, training=False):
    out = pretrainer(inputs, training=training)
    return dict(_encoder_outputs(out), mlm_logits=out['mlm_logits'])

  attributes = {}
  if vocab:
    attributes['vocab_file'] = tf.saved_model.Asset(vocab)
    attributes['do_lower_case'] = tf.Variable(do_lower_case, trainable=False,
                                              name='do_lower_case')
  else:
    attributes['sp_model_file'] = tf.saved_model.Asset(sp_model)
  track = {}
  if opts['with_mlm']:
    track['mlm'] = writer.from_keras(pretrainer, call=mlm_call)
  obj = writer.from_keras(encoder, call=call, track=track, **attributes)

  # The in-memory Model Garden models, run as graphs like the export (eager
  # execution orders some float ops differently: ~1e-6 apart).
  run_encoder = tf.function(lambda x: encoder(x, training=False))
  run_pretrainer = tf.function(lambda x: pretrainer(x, training=False))

  def encoder_reference(case):
    if case.target == 'mlm':
      out = run_pretrainer(case.inputs)
      return dict(_encoder_outputs(out), mlm_logits=out['mlm_logits'])
    out = _encoder_outputs(run_encoder(case.inputs))
    return dict(out, default=out['pooled_output'])

  ctx.save('encoder', obj,
           ENCODER_WITH_MLM_SPEC if opts['with_mlm'] else ENCODER_SPEC,
           encoder_cases(cfg.vocab_size, opts['with_mlm']), encoder_reference)

  # The lookup table's name in the graph contains the vocab's path: read it
  # from a neutral temporary copy (as Model Garden's exporter does), so that
  # no path of the user's machine stays in the export.
  with tempfile.TemporaryDirectory(prefix='bert_vocab_') as tmp:
    copy = os.path.join(tmp, os.path.basename(vocab or sp_model))
    shutil.copyfile(vocab or sp_model, copy)
    pre, tokenizer, pre_reference = build_preprocessor(
        copy if vocab else None, copy if sp_model else None, do_lower_case,
        opts['seq_length'])
    ctx.save('preprocessor', pre, preprocessor_spec(),
             preprocessor_cases(tokenizer), pre_reference)


if __name__ == '__main__':
  driver.run(export, recipe='bert')

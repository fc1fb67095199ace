"""The BERT family: what the BERT-like text encoder recipes share.

Model-family library code, used by two recipes:
`export_scripts/bert_export.py` (Model Garden `BertEncoder`/`BertEncoderV2`)
and `export_scripts/albert_export.py` (`AlbertEncoder`). Both export a Model Garden encoder inside its
`BertPretrainerV2` (core model + pretrainer split) in the API of the TF Hub
BERTs and ALBERTs:

  * `OUT/encoder/`: `pooled_output`, `sequence_output`, `encoder_outputs`,
    `default`; the `.mlm` sub-object (masked-LM logits) when `with_mlm`; the
    vocabulary as an asset (`vocab_file` + `do_lower_case`, or
    `sp_model_file`);
  * `OUT/preprocessor/`: Model Garden's `BertTokenizer` (WordPiece) or
    `SentencepieceTokenizer` and `BertPackInputs`, with `.tokenize` and
    `.bert_pack_inputs`.

A recipe says what its encoder is (its gin-configured sizes, its Model Garden
class, its TF1 converter) and calls, in order: `build_pretrainer`,
`check_vocab`, `restore_pretrainer`, `export_encoder_and_preprocessor`.
"""
import dataclasses
import os
import shutil
import tempfile
import warnings
from typing import Callable, Optional

import numpy as np
import tensorflow as tf
import tf_keras

from official.modeling import tf_utils
from official.nlp.modeling import layers
from official.nlp.modeling import models

from official.hub_export import driver
from official.hub_export import restore
from official.hub_export import spec
from official.hub_export import vocab as vocab_lib
from official.hub_export import writer

# BertPretrainerV2 hands masked_lm_positions to the encoder, which ignores it.
warnings.filterwarnings('ignore', message='Input dict contained keys')

# ---------------------------------------------------------------------------
# The exported API (TF Hub text encoder + BERT preprocessor).

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


# ---------------------------------------------------------------------------
# Building and restoring.

def build_pretrainer(encoder, hidden_activation, initializer_range):
  """Model Garden's `BertPretrainerV2` (masked-LM head) around `encoder`,
  called once so that every variable exists."""
  pretrainer = models.BertPretrainerV2(
      encoder_network=encoder,
      mlm_activation=tf_utils.get_activation(hidden_activation),
      mlm_initializer=tf_keras.initializers.TruncatedNormal(
          stddev=initializer_range))
  ids = tf.zeros([1, 4], tf.int32)
  pretrainer(dict(input_word_ids=ids, input_mask=ids + 1, input_type_ids=ids,
                  masked_lm_positions=ids[:, :2]))  # Builds the MLM head.
  return pretrainer


def is_tf1_checkpoint(path):
  """A google-research/bert or /albert checkpoint (`bert/...` names)."""
  if path.endswith(('.h5', '.hdf5')):
    return False
  names = [n for n, _ in tf.train.list_variables(path)]
  return any(n.startswith(('bert/embeddings/', 'bert/encoder/'))
             for n in names)


def restore_pretrainer(ctx: driver.Context, encoder, pretrainer, *,
                       with_mlm: bool, copy_pooler_dense_to_encoder: bool,
                       hint: str, convert_tf1: Optional[Callable] = None,
                       tf1_name: str = 'TF1'):
  """Strict restore of the encoder (and, `with_mlm`, the masked-LM head).

  Layouts, tried in order: Model Garden's trainer
  (`tf.train.Checkpoint(model=pretrainer, **pretrainer.checkpoint_items)`,
  optimizer slots ignored), a pretrainer alone (`model=`), an encoder-only
  checkpoint (`encoder=`) and the legacy `model=encoder`. A TF1 checkpoint
  (see `is_tf1_checkpoint`) is converted by `convert_tf1(v1_path,
  output_prefix)` (writing a pretrainer checkpoint, as Model Garden's
  converters do) into a temporary directory and restored from there; without
  `convert_tf1` it is refused. With `copy_pooler_dense_to_encoder`, the pooler
  comes from the next-sentence head (`next_sentence.pooler_dense`), as in
  Model Garden's export_tfhub.
  """
  required = list(encoder.variables)
  if with_mlm:
    required += list(pretrainer.masked_lm.variables)
  layouts = [
      restore.Layout('trainer', model=pretrainer,
                     **pretrainer.checkpoint_items),
      restore.Layout('pretrainer', model=pretrainer),
      restore.Layout('encoder', encoder=encoder),
      restore.Layout('legacy encoder', model=encoder),
  ]
  _, path = restore.resolve(ctx.checkpoint_path)
  tf1 = is_tf1_checkpoint(path)
  if copy_pooler_dense_to_encoder:
    fix = "set --gin_params='COPY_POOLER_DENSE_TO_ENCODER = False'"
    if tf1:
      raise spec.ExportError(
          f'copy_pooler_dense_to_encoder is on, but a {tf1_name} checkpoint '
          f'keeps its pooler in the encoder (bert/pooler/dense): {fix}')
    if not any(restore.object_path(k)[0] == 'next_sentence.pooler_dense'
               for k, _ in tf.train.list_variables(path)):
      raise spec.ExportError(
          f'copy_pooler_dense_to_encoder is on, but checkpoint {path} has no '
          f'next-sentence pooler (next_sentence.pooler_dense): {fix}')
  if tf1:
    if convert_tf1 is None:
      raise spec.ExportError(
          f'checkpoint {path} is a TF1 checkpoint (bert/... names), which '
          'this recipe does not convert: convert it with Model Garden\'s '
          'converter first')
    report = _restore_tf1(path, convert_tf1, layouts, required, hint,
                          tf1_name)
    ctx.restore_report = dataclasses.replace(
        report, path=path, format='tf1',
        layout=f'{tf1_name}, converted ({report.layout})')
  else:
    ctx.restore(layouts, required=required, hint=hint)
  if copy_pooler_dense_to_encoder:
    restore.restore(
        path, [restore.Layout('next_sentence.pooler_dense', **{
            'next_sentence.pooler_dense': encoder.pooler_layer})],
        required=encoder.pooler_layer.variables,
        hint='Check that HIDDEN_SIZE in the gin config matches the checkpoint.')


def _restore_tf1(path, convert_tf1, layouts, required, hint, tf1_name):
  """Converts a TF1 checkpoint into a temporary directory and restores from
  there."""
  with tempfile.TemporaryDirectory(prefix='bert_tf1_converted_') as tmp:
    try:
      convert_tf1(path, os.path.join(tmp, 'ckpt'))
    except (AssertionError, ValueError, tf.errors.OpError) as e:
      first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
      raise spec.ExportError(
          f'cannot convert the {tf1_name} checkpoint {path}: {first}. {hint}'
      ) from None
    converted = tf.train.latest_checkpoint(tmp)
    return restore.restore(converted, layouts, required, hint=hint)


# ---------------------------------------------------------------------------
# The export choices.

def check_options(opts: spec.Options) -> None:
  """Checks the export choices every BERT-family recipe's `Options` has
  (model_name, with_mlm, do_lower_case, seq_length)."""
  opts.require('model_name', isinstance(opts.model_name, str) and
               bool(opts.model_name), "a name, e.g. 'bert_en_uncased_L-12_H-768_A-12'")
  opts.require('with_mlm', isinstance(opts.with_mlm, bool), 'True or False')
  opts.require('do_lower_case', opts.do_lower_case is None or
               isinstance(opts.do_lower_case, bool),
               'True, False or None (from the model name)')
  # [CLS] and [SEP] and at least one token.
  opts.require('seq_length', spec.is_int(opts.seq_length, 3),
               'an integer >= 3')


# ---------------------------------------------------------------------------
# The vocabulary.

def check_attention_heads(hidden_size: int, num_attention_heads: int) -> None:
  """Every encoder of the family splits hidden_size evenly across heads."""
  if hidden_size % num_attention_heads:
    raise spec.ExportError(
        f'HIDDEN_SIZE {hidden_size} is not a multiple of NUM_ATTENTION_HEADS '
        f'{num_attention_heads}: fix the gin config')


def check_vocab(ctx: driver.Context, vocab_file: Optional[str],
                sp_model_file: Optional[str], vocab_size: int,
                do_lower_case: Optional[bool], model_name: str):
  """The vocabulary flags: exactly one, readable, matching `vocab_size`.

  Returns (vocab_file, sp_model_file, do_lower_case); `do_lower_case=None`
  is guessed as Model Garden's exporter does: True for SentencePiece (all
  public ALBERTs), else from 'uncased'/'cased' in `model_name`.
  """
  vocab, sp_model = vocab_file, sp_model_file
  if bool(vocab) == bool(sp_model):
    raise spec.ExportError(
        ('both --vocab_file and --sp_model_file given' if vocab else
         'no vocabulary given') + ': pass exactly one of --vocab_file '
        '(WordPiece vocab.txt) or --sp_model_file (SentencePiece model)')
  path = vocab or sp_model
  flag = '--vocab_file' if vocab else '--sp_model_file'
  if vocab:
    # One distinct UTF-8 token per line, or ids would shift silently.
    size = len(vocab_lib.read_vocab(path, flag))
  else:
    vocab_lib.require_file(path, flag)
    import tensorflow_text as text  # pylint: disable=g-import-not-at-top
    with open(path, 'rb') as f:
      try:
        size = int(text.SentencepieceTokenizer(model=f.read()).vocab_size())
      except (tf.errors.OpError, ValueError):
        raise spec.ExportError(f'{flag} {path} is not a SentencePiece model: '
                               'pass the .model file') from None
  if size != vocab_size:
    raise spec.ExportError(
        f'{flag} {path} has {size} tokens but the model has vocab_size '
        f'{vocab_size} word-embedding rows: pass the vocabulary the model '
        "was trained with (or fix --gin_params='VOCAB_SIZE = ...')")
  ctx.add_source('vocab_file' if vocab else 'sp_model_file', path,
                 tokens=size)
  if do_lower_case is None:
    if sp_model:
      do_lower_case = True  # All public ALBERTs do.
    elif 'uncased' in model_name:
      do_lower_case = True
    elif 'cased' in model_name:
      do_lower_case = False
    else:
      raise spec.ExportError(
          f'cannot tell from model_name {model_name!r} whether to lower-case: '
          "set --gin_params='DO_LOWER_CASE = True' (or False)")
  return vocab, sp_model, do_lower_case


# ---------------------------------------------------------------------------
# Verification cases.

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


# ---------------------------------------------------------------------------
# The export objects.

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


def encoder_outputs(out):
  return {'pooled_output': out['pooled_output'],
          'sequence_output': out['sequence_output'],
          'encoder_outputs': list(out['encoder_outputs'])}


# ---------------------------------------------------------------------------
# Fine-tuning controls: tunable dropout rates and variable groups.

DROPOUT_RATE = ('dropout on the embeddings and on the output of each '
                'Transformer layer\'s feed-forward block (BERT\'s '
                '`hidden_dropout_prob`, Model Garden\'s `dropout_rate`)')
ATTENTION_DROPOUT_RATE = (
    'dropout on the attention probabilities and on the output of each '
    'attention block (Model Garden\'s `attention_dropout_rate`, which its '
    'TransformerEncoderBlock applies to both)')


def _blocks(encoder):
  """The encoder's Transformer blocks, bottom to top (ALBERT: the one block
  shared by every layer)."""
  blocks = getattr(encoder, 'transformer_layers', None)
  if blocks is None:
    blocks = [l for l in encoder.layers
              if isinstance(l, layers.TransformerEncoderBlock)]
  return list(blocks)


def dropout_targets(encoder):
  """{'dropout_rate': [(Dropout, 'rate'), ...], 'attention_dropout_rate':
  [...]}: the tf_keras Dropout layers of a Model Garden encoder, by role.

  The blocks' inner (feed-forward activation) dropout has its own config
  (`inner_dropout`, 0 in BERT) and stays as trained.
  """
  attention, fixed = [], []
  for block in _blocks(encoder):
    attention.append(block._attention_layer._dropout_layer)  # pylint: disable=protected-access
    attention.append(block._attention_dropout)  # pylint: disable=protected-access
    fixed.append(block._inner_dropout_layer)  # pylint: disable=protected-access
  skip = {id(l) for l in attention + fixed}
  hidden = [l for l in encoder._flatten_layers(include_self=False)  # pylint: disable=protected-access
            if isinstance(l, tf_keras.layers.Dropout) and id(l) not in skip]
  targets = {'dropout_rate': [(l, 'rate') for l in hidden],
             'attention_dropout_rate': [(l, 'rate') for l in attention]}
  return {k: v for k, v in targets.items() if v}


def with_dropout_tunables(export_spec: spec.ExportSpec, targets
                          ) -> spec.ExportSpec:
  """`export_spec` (and its `.mlm`) declaring the encoder's dropout rates as
  tunables, with the configured values as defaults, and variable groups."""
  words = {'dropout_rate': DROPOUT_RATE,
           'attention_dropout_rate': ATTENTION_DROPOUT_RATE}
  tunables = {n: spec.Tunable(float(getattr(*pairs[0])), words[n], 'dropout')
              for n, pairs in targets.items()}
  subobjects = {k: dataclasses.replace(v, tunables=tunables,
                                       variable_groups=True)
                for k, v in export_spec.subobjects.items()}
  return dataclasses.replace(export_spec, tunables=tunables,
                             variable_groups=True, subobjects=subobjects)


def encoder_groups(encoder):
  """[(name, variables)] bottom to top: `embeddings` (word, position, type
  embeddings, their layer norm and ALBERT's projection), `layer_0` ...
  `layer_{L-1}` (one per Transformer layer; ALBERT, which shares one block
  across all its layers, has one group `transformer_shared`), `pooler`."""
  blocks = _blocks(encoder)
  pooler = getattr(encoder, 'pooler_layer', None) or encoder.get_layer(
      'pooler_transform')
  if len(blocks) == 1 and getattr(encoder, 'transformer_layers', None) is None:
    block_groups = [('transformer_shared', blocks[0].variables)]
  else:
    block_groups = [(f'layer_{i}', b.variables) for i, b in enumerate(blocks)]
  taken = {id(v) for _, vs in block_groups for v in vs}
  taken |= {id(v) for v in pooler.variables}
  embeddings = [v for v in encoder.variables if id(v) not in taken]
  return ([('embeddings', embeddings)] + block_groups +
          [('pooler', pooler.variables)])


def export_encoder_and_preprocessor(ctx: driver.Context, encoder, pretrainer,
                                    *, vocab_size, with_mlm, vocab, sp_model,
                                    do_lower_case, seq_length):
  """Saves `preprocessor/` (first: verified while the encoder is traced) and
  `encoder/` (+ `.mlm`, vocabulary asset)."""
  # The lookup table's name in the graph contains the vocab's path: read it
  # from a neutral temporary copy (as Model Garden's exporter does), so that
  # no path of the user's machine stays in the export.
  with tempfile.TemporaryDirectory(prefix='bert_vocab_') as tmp:
    copy = os.path.join(tmp, os.path.basename(vocab or sp_model))
    shutil.copyfile(vocab or sp_model, copy)
    pre, tokenizer, pre_reference = build_preprocessor(
        copy if vocab else None, copy if sp_model else None, do_lower_case,
        seq_length)
    ctx.save('preprocessor', pre, preprocessor_spec(),
             preprocessor_cases(tokenizer), pre_reference)

  def call(inputs, training=False):
    out = encoder_outputs(encoder(inputs, training=training))
    out['default'] = out['pooled_output']
    return out

  def mlm_call(inputs, training=False):
    out = pretrainer(inputs, training=training)
    return dict(encoder_outputs(out), mlm_logits=out['mlm_logits'])

  attributes = {}
  if vocab:
    attributes['vocab_file'] = tf.saved_model.Asset(vocab)
    attributes['do_lower_case'] = tf.Variable(do_lower_case, trainable=False,
                                              name='do_lower_case')
  else:
    attributes['sp_model_file'] = tf.saved_model.Asset(sp_model)
  # Consumers may set the dropout rates per call (`dropout_rate=` etc.).
  targets = dropout_targets(encoder)
  call = writer.tunable_call(call, targets)
  mlm_call = writer.tunable_call(mlm_call, targets)
  groups = encoder_groups(encoder)
  track = {}
  if with_mlm:
    track['mlm'] = writer.from_keras(pretrainer, call=mlm_call)
    in_encoder = {id(v) for v in encoder.variables}
    writer.add_variable_groups(track['mlm'], groups + [(
        'mlm_head', [v for v in pretrainer.variables
                     if id(v) not in in_encoder])])
  obj = writer.from_keras(encoder, call=call, track=track, **attributes)
  writer.add_variable_groups(obj, groups)

  # The in-memory Model Garden models, run as graphs like the export (eager
  # execution orders some float ops differently: ~1e-6 apart).
  run_encoder = writer.source_graph(lambda x: encoder(x, training=False),
                                    ENCODER_SPEC.inputs)
  run_pretrainer = writer.source_graph(
      lambda x: pretrainer(x, training=False), MLM_SPEC.inputs)

  def encoder_reference(case):
    if case.target == 'mlm':
      out = run_pretrainer(case.inputs)
      return dict(encoder_outputs(out), mlm_logits=out['mlm_logits'])
    out = encoder_outputs(run_encoder(case.inputs))
    return dict(out, default=out['pooled_output'])

  ctx.save('encoder', obj, with_dropout_tunables(
      ENCODER_WITH_MLM_SPEC if with_mlm else ENCODER_SPEC, targets),
           encoder_cases(vocab_size, with_mlm), encoder_reference)


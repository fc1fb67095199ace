r"""Keras 3 / KerasHub: a trained Keras 3 model as a fine-tunable reusable SavedModel.

Keras 3's `model.export()` writes an inference-only archive (no `training`
argument, no trainable variables, no regularization losses). This recipe
takes a Keras 3 model (TensorFlow backend), either a `.keras` file
(`model.save('m.keras')`) or a KerasHub preset directory
(`save_to_preset(dir)`), and writes a reusable SavedModel that
`hub.load`/`hub.KerasLayer(trainable=True)` users fine-tune:

    obj = hub.load(OUT)
    obj(inputs, training=False)   # traced for training=True and False
    obj.variables                 # every variable (BN statistics, dropout seeds)
    obj.trainable_variables       # the weights Keras marks trainable
    obj.regularization_losses     # regularizer(weight) of each regularized
                                  # trainable weight (kernel_regularizer, ...)

The API (gin `API`, 'auto' picks it from the model):

  * 'model': any functional or Sequential model, as it is: its inputs (one
    tensor, or a dict by input name) and outputs (one tensor, or a dict by
    output name).
  * 'bert_encoder': a KerasHub `BertBackbone` or `AlbertBackbone` (a
    backbone preset, or the backbone of a task preset/`.keras` file), in the
    TF Hub BERT API:
      OUT/encoder/        dict(input_word_ids, input_mask, input_type_ids)
                          -> pooled_output, sequence_output,
                             encoder_outputs (one per layer), default
      OUT/preprocessor/   the preset's tokenizer (WordPiece as KerasHub's own
                          tf.text graph, or the SentencePiece model) with
                          .tokenize and .bert_pack_inputs
  * 'image_classifier': a KerasHub `ImageClassifier` task (ResNet,
    EfficientNet, ... backbones), in the TF Hub image API, float32 RGB
    images in [0, 1] of any size, the preset's ImageConverter scale and
    offset folded into the graph:
      OUT/feature_vector/  -> [batch, features] (the pooled backbone output)
      OUT/classification/  -> [batch, num_classes] LOGITS

Usage:
  python export_scripts/keras_export.py --gin_file=configs/keras/model.gin \
      --model_path=trained.keras --export_dir=OUT
  python export_scripts/keras_export.py --gin_file=configs/keras/bert_encoder.gin \
      --model_path=PRESET_DIR --export_dir=OUT

Restored strictly: Keras refuses weights that do not fit the config, and
every exported weight's value must then be found in the file's weights
(`official/hub_export/keras3.py`). `.keras` files load with
`safe_mode=True`: Lambda layers and unregistered custom classes are refused.
Verification compares each export with the Keras 3 model in memory.
"""
import dataclasses
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Keras 3 is this recipe's Keras (the other recipes' preamble selects
# tf_keras): `keras` and KerasHub build and run the source model here. The
# verification still runs in its own tf_keras process.
os.environ['TF_USE_LEGACY_KERAS'] = '0'
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from typing import Optional, Sequence  # pylint: disable=g-import-not-at-top

from absl import flags  # pylint: disable=g-import-not-at-top
import gin  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from official.hub_export import driver  # pylint: disable=g-import-not-at-top
from official.hub_export import keras3  # pylint: disable=g-import-not-at-top
from official.hub_export import spec  # pylint: disable=g-import-not-at-top
from official.hub_export import writer  # pylint: disable=g-import-not-at-top

flags.DEFINE_string('model_path', None,
                    'The trained Keras 3 model: a .keras file or a KerasHub '
                    'preset directory (save_to_preset).')
FLAGS = flags.FLAGS

APIS = ('auto', 'model', 'bert_encoder', 'image_classifier')


@spec.export_options('keras')
class Options(spec.Options):
  """The export choices (configs/keras/base.gin documents and binds each).

  Attributes:
    api: which API to export, one of APIS ('auto': from the model's class).
    task: API 'model': the TF Hub task tag of the export.
    output_kind: API 'model': the kind of the outputs, one of spec.KINDS.
    tolerance: API 'model': the largest allowed difference from the Keras
      model in verification.
    sample_size: API 'model': the size of dynamic non-batch dimensions in
      the verification inputs.
    int_high: API 'model': integer verification inputs lie in [0, int_high).
    seq_length: API 'bert_encoder': the preprocessor's default sequence
      length.
    exports: what to write (None: everything of the API).
    image_size: API 'image_classifier': the verification's image size (None:
      the ImageConverter's, else 224).
  """
  api: str = 'auto'
  task: str = 'custom'
  output_kind: str = 'any'
  tolerance: float = 1e-5
  sample_size: int = 8
  int_high: int = 2
  seq_length: int = 128
  exports: Optional[Sequence[str]] = None
  image_size: Optional[int] = None

  def __post_init__(self):
    self.require('api', self.api in APIS, ' or '.join(map(repr, APIS)))
    self.require('task', isinstance(self.task, str) and bool(self.task),
                 "a TF Hub task, e.g. 'custom'")
    self.require('output_kind', self.output_kind in spec.KINDS,
                 ' or '.join(map(repr, spec.KINDS)))
    self.require('tolerance', spec.is_number(self.tolerance),
                 'a number >= 0, e.g. 1e-5')
    self.require('sample_size', spec.is_int(self.sample_size),
                 'a positive integer')
    self.require('int_high', spec.is_int(self.int_high), 'a positive integer')
    self.require('seq_length', spec.is_int(self.seq_length, 3),
                 'an integer >= 3')
    self.require('exports', self.exports is None or (
        not isinstance(self.exports, str) and bool(self.exports)),
                 'None (everything) or a list of export names')
    if self.exports is not None:
      self.normalize('exports', tuple(self.exports))
    self.require('image_size', self.image_size is None or
                 spec.is_int(self.image_size, 16), 'None or an integer >= 16')


def detect_api(model) -> str:
  import keras_hub  # pylint: disable=g-import-not-at-top
  if isinstance(model, BERT_LIKE()) or isinstance(
      getattr(model, 'backbone', None), BERT_LIKE()):
    return 'bert_encoder'
  if isinstance(model, keras_hub.models.ImageClassifier):
    return 'image_classifier'
  return 'model'


def _record_sources(ctx, loaded, **info):
  """The input files with their hashes in the export record; `info` (the
  API, the model class) goes with the .keras file or the preset's config."""
  if loaded.kind == 'keras':
    ctx.add_source('keras_model', loaded.path, **info)
  else:
    for name in sorted(os.listdir(loaded.path)):
      full = os.path.join(loaded.path, name)
      if os.path.isfile(full):
        ctx.add_source(f'preset/{name}', full,
                       **(info if name == keras3.PRESET_CONFIG else {}))
    assets = os.path.join(loaded.path, 'assets')
    for root, _, files in os.walk(assets):
      for name in sorted(files):
        full = os.path.join(root, name)
        ctx.add_source(f'preset/{os.path.relpath(full, loaded.path)}', full)


# ---------------------------------------------------------------------------
# API 'model': the model as it is.

def _model_spec(model, opts):
  """The declared API read off the model's inputs and outputs."""
  names = [t.name for t in model.inputs]
  specs = {t.name: tf.TensorSpec([None] + list(t.shape[1:]),
                                 tf.as_dtype(t.dtype), name=t.name)
           for t in model.inputs}
  if len(model.inputs) == 1 and not isinstance(model.input, dict):
    inputs = specs[names[0]]
  else:
    inputs = specs
  output = spec.Output(opts.output_kind, opts.tolerance,
                       'the Keras model\'s output')
  structure = model.output
  if isinstance(structure, dict):
    out_names = list(structure)
  elif isinstance(structure, (list, tuple)):
    out_names = list(getattr(model, 'output_names', None) or
                     [f'output_{i}' for i in range(len(structure))])
  else:
    out_names = None
  if out_names is None:
    name = (getattr(model, 'output_names', None) or ['outputs'])[0]
    return spec.single(inputs, name, output, task=opts.task), None
  return spec.ExportSpec(inputs=inputs, outputs={n: output for n in out_names},
                         task=opts.task), out_names


def export_model(ctx, loaded, opts):
  model = loaded.model
  if not getattr(model, 'inputs', None):
    raise spec.ExportError(
        f'{type(model).__name__} {model.name} has no symbolic inputs (a '
        'subclassed or unbuilt model): export a functional or Sequential '
        'model built with keras.Input')
  model_spec, out_names = _model_spec(model, opts)

  def run(inputs, training=False):
    out = model(inputs, training=training)
    if out_names is not None and not isinstance(out, dict):
      out = dict(zip(out_names, out))
    return out

  rng = np.random.RandomState(0)
  cases = []
  for batch, size in ((1, opts.sample_size), (3, opts.sample_size),
                      (2, opts.sample_size + 3)):
    make = lambda s, b=batch, n=size: keras3.sample_value(  # pylint: disable=g-long-lambda
        s, b, n, rng, opts.int_high)
    cases.append(spec.Case(tf.nest.map_structure(make, model_spec.inputs)))
  reference = writer.source_graph(lambda x: run(x, training=False),
                                  model_spec.inputs)
  ctx.save('', keras3.reusable(model, run), model_spec, cases,
           lambda case: reference(case.inputs))


# ---------------------------------------------------------------------------
# API 'bert_encoder': KerasHub BertBackbone + WordPiece tokenizer, or
# AlbertBackbone + SentencePiece tokenizer.

def BERT_LIKE():  # pylint: disable=invalid-name
  """The KerasHub backbones exported in the TF Hub BERT encoder API: both
  have segment ids and a pooler (DistilBERT and RoBERTa have neither)."""
  import keras_hub  # pylint: disable=g-import-not-at-top
  return (keras_hub.models.BertBackbone, keras_hub.models.AlbertBackbone)


def _layer_outputs(backbone):
  """The output of each Transformer layer, bottom to top. ALBERT applies
  each group's shared layers several times: one output per application of
  a group's last layer, in call order (Keras keeps one node per call)."""
  import keras_hub  # pylint: disable=g-import-not-at-top
  if isinstance(backbone, keras_hub.models.AlbertBackbone):
    return [node.outputs[0] for group in backbone.transformer_layers
            for node in group[-1]._inbound_nodes]  # pylint: disable=protected-access
  return [l.output for l in backbone.transformer_layers]


def _bert_parts(loaded):
  import keras  # pylint: disable=g-import-not-at-top
  import keras_hub  # pylint: disable=g-import-not-at-top
  model = loaded.model
  backbone = (model if isinstance(model, keras_hub.models.Backbone)
              else getattr(model, 'backbone', None))
  if not isinstance(backbone, BERT_LIKE()):
    raise spec.ExportError(
        f'API bert_encoder needs a KerasHub BertBackbone or AlbertBackbone, '
        f'got {type(backbone or model).__name__}: set API to \'model\'')
  tokenizer = loaded.tokenizer
  if tokenizer is None and getattr(model, 'preprocessor', None) is not None:
    tokenizer = getattr(model.preprocessor, 'tokenizer', None)
  # The per-layer outputs are those of the backbone's own layers: a model
  # sharing them (no copies), with the backbone's inputs.
  outputs = dict(backbone.output)
  outputs['encoder_outputs'] = _layer_outputs(backbone)
  probe = keras.Model(backbone.inputs, outputs, name='bert_encoder_outputs')
  return backbone, probe, tokenizer


def _sentencepiece_tokenize(tokenizer):
  """KerasHub's SentencePieceTokenizer (ALBERT's) graph: tensorflow_text's
  SentencepieceTokenizer on the preset's model proto, int32 ragged
  [batch, (pieces)] as the TF Hub ALBERT preprocessors' `.tokenize`."""
  import tensorflow_text as tf_text  # pylint: disable=g-import-not-at-top
  sp = tf_text.SentencepieceTokenizer(model=tokenizer.proto,
                                      out_type=tf.int32)
  tokenize = lambda sentences: sp.tokenize(sentences)
  tokenize.resources = {'sentencepiece': sp}  # Saved with the export.
  return tokenize


def _tokenize_fn(tokenizer):
  import keras_hub  # pylint: disable=g-import-not-at-top
  if isinstance(tokenizer, keras_hub.tokenizers.SentencePieceTokenizer):
    return _sentencepiece_tokenize(tokenizer)
  return _wordpiece_tokenize(tokenizer)


def _wordpiece_tokenize(tokenizer):
  """KerasHub's WordPieceTokenizer graph without its last step, which merges
  words and pieces: int32 ragged [batch, (words), (pieces)] as the TF Hub
  preprocessors' `.tokenize` returns (merging them again gives KerasHub's
  tokens exactly; the export checks that)."""
  import keras_hub  # pylint: disable=g-import-not-at-top
  from keras_hub.src.tokenizers import word_piece_tokenizer as wp  # pylint: disable=g-import-not-at-top
  if not isinstance(tokenizer, keras_hub.tokenizers.WordPieceTokenizer):
    raise spec.ExportError(
        f'the preset\'s tokenizer is a {type(tokenizer).__name__}; the BERT '
        'preprocessor is made from a WordPiece tokenizer (BertTokenizer) or '
        'a SentencePiece one (AlbertTokenizer): export the encoder of '
        'another family with API \'model\'')
  tokenizer._maybe_initialized_tf()  # pylint: disable=protected-access
  pattern = wp.get_special_tokens_pattern(
      tokenizer._special_tokens_for_splitting())  # pylint: disable=protected-access

  def tokenize(sentences):
    words = wp.pretokenize(sentences, tokenizer.lowercase,
                           tokenizer.strip_accents, tokenizer.split,
                           tokenizer.split_on_cjk, pattern)
    return tf.cast(tokenizer._fast_word_piece.tokenize(words), tf.int32)  # pylint: disable=protected-access
  return tokenize


# Text on which the exported tokenizer must give KerasHub's ids exactly (at
# export time, beyond the verification cases, which add bert_family's
# SENTENCES): case, accents, punctuation, CJK, control and zero-width
# characters, long words, special tokens.
CHECK_TEXT = [
    'Jumping!!  over\tthe\nlazy DOGS', 'ÀÉÎÕÜ façade Ångström', 'a' * 150,
    'hello,world?', '\u00adsoft\u200bzero', 'ｆｕｌｌｗｉｄｔｈ ﬁ', '[CLS] [SEP] [MASK]',
    'emoji 😀 and ¿¡ punctuation…', '']


def build_bert_preprocessor(tokenizer, seq_length):
  """The preprocessor object, its tokenize function and its reference (the
  KerasHub tokenizer and MultiSegmentPacker, run as graphs)."""
  import keras_hub  # pylint: disable=g-import-not-at-top
  bert_family = _bert_family()
  from official.nlp.modeling import layers as mg_layers  # pylint: disable=g-import-not-at-top
  tokenize = _tokenize_fn(tokenizer)
  special = dict(vocab_size=tokenizer.vocabulary_size(),
                 padding_id=tokenizer.pad_token_id,
                 start_of_sequence_id=tokenizer.cls_token_id,
                 end_of_segment_id=tokenizer.sep_token_id,
                 mask_id=tokenizer.mask_token_id)
  special = {k: int(v) for k, v in special.items()}
  ids = dict(start_of_sequence_id=special['start_of_sequence_id'],
             end_of_segment_id=special['end_of_segment_id'],
             padding_id=special['padding_id'])

  def pack(inputs, seq_length=seq_length):
    return mg_layers.BertPackInputs.bert_pack_inputs(
        inputs, seq_length=seq_length, **ids)

  # KerasHub's own pipeline, for the check and the verification reference.
  run_tokenizer = tf.function(tokenizer, autograph=False)
  packers = {}

  def keras_hub_pack(segments, length):
    if length not in packers:
      packers[length] = keras_hub.layers.MultiSegmentPacker(
          sequence_length=length, start_value=ids['start_of_sequence_id'],
          end_value=ids['end_of_segment_id'],
          pad_value=ids['padding_id'], truncate='round_robin')
    flat = [s.merge_dims(1, -1) if s.ragged_rank > 1 else s for s in segments]
    token_ids, segment_ids = packers[length](tuple(flat))
    return dict(input_word_ids=tf.cast(token_ids, tf.int32),
                input_mask=tf.cast(token_ids != ids['padding_id'], tf.int32),
                input_type_ids=tf.cast(segment_ids, tf.int32))

  mine = tf.function(tokenize, autograph=False)
  check_text = bert_family.SENTENCES + CHECK_TEXT
  got = mine(tf.constant(check_text))
  got = (got.merge_dims(1, 2) if got.ragged_rank == 2 else got).to_list()
  want = run_tokenizer(tf.constant(check_text)).to_list()
  bad = [t for t, g, w in zip(check_text, got, want) if g != w]
  if bad:
    raise spec.ExportError(
        f'the exported tokenizer differs from KerasHub\'s {type(tokenizer).__name__} '
        f'on {bad[0][:40]!r}: this KerasHub version is not supported by the '
        'preprocessor export; export the encoder alone with '
        "--gin_params='keras.exports = [\"encoder\"]'")

  tok_obj = writer.reusable(tokenize, variables=[], trainable_variables=[],
                            track=getattr(tokenize, 'resources', None))
  tok_obj.get_special_tokens_dict = writer.Reusable()
  tok_obj.get_special_tokens_dict.__call__ = tf.function(
      lambda: dict(special), input_signature=[])
  pack_obj = writer.reusable(pack, variables=[], trainable_variables=[])
  obj = writer.reusable(
      lambda sentences: pack([tokenize(sentences)]), variables=[],
      trainable_variables=[],
      track=dict(tokenize=tok_obj, bert_pack_inputs=pack_obj))

  def reference(case):
    if case.target == 'tokenize':
      return mine(tf.constant(case.inputs))
    if case.target == 'bert_pack_inputs':
      length = (case.kwargs or {}).get('seq_length', seq_length)
      return keras_hub_pack(case.inputs, length)
    return keras_hub_pack([run_tokenizer(tf.constant(case.inputs))],
                          seq_length)
  return obj, mine, reference


def _vocab_attributes(tokenizer, tmp):
  """`vocab_file` (asset) and `do_lower_case`, as the TF Hub BERT encoders
  carry them for code that builds its own tokenizer from them."""
  import keras_hub  # pylint: disable=g-import-not-at-top
  if isinstance(tokenizer, keras_hub.tokenizers.SentencePieceTokenizer):
    path = os.path.join(tmp, 'sp.model')  # As the TF Hub ALBERTs.
    with open(path, 'wb') as f:
      f.write(tokenizer.proto)
    return dict(sp_model_file=tf.saved_model.Asset(path))
  if not isinstance(tokenizer, keras_hub.tokenizers.WordPieceTokenizer):
    return {}
  path = os.path.join(tmp, 'vocab.txt')
  with open(path, 'w', encoding='utf-8') as f:
    f.write(''.join(t + '\n' for t in tokenizer.get_vocabulary()))
  return dict(vocab_file=tf.saved_model.Asset(path),
              do_lower_case=tf.Variable(bool(tokenizer.lowercase),
                                        trainable=False,
                                        name='do_lower_case'))


def _bert_family():
  """official.hub_export.bert_family, imported only for the BERT API.

  It imports Model Garden's NLP library (and tf_keras), a few seconds of an
  export that the other APIs do not need. Model Garden registers gin
  configurables on import, which gin refuses once the driver has parsed
  (and locked) the config: none of them is bound by this recipe's configs,
  so they are registered with the config unlocked.
  """
  with gin.unlock_config():
    from official.hub_export import bert_family  # pylint: disable=g-import-not-at-top
  return bert_family


def export_bert(ctx, loaded, opts):
  bert_family = _bert_family()
  backbone, probe, tokenizer = _bert_parts(loaded)
  keras3.check_weights_from_files(backbone.weights, loaded)

  def call(inputs, training=False):
    out = probe({'token_ids': inputs['input_word_ids'],
                 'segment_ids': inputs['input_type_ids'],
                 'padding_mask': inputs['input_mask']}, training=training)
    return {'pooled_output': out['pooled_output'],
            'sequence_output': out['sequence_output'],
            'encoder_outputs': list(out['encoder_outputs']),
            'default': out['pooled_output']}

  reference = writer.source_graph(lambda x: call(x, training=False),
                                  bert_family.ENCODER_SPEC.inputs)
  exports = opts.exports or ['encoder', 'preprocessor']
  if not set(exports) <= {'encoder', 'preprocessor'}:
    raise spec.ExportError(
        f'EXPORTS must name one or both of encoder, preprocessor for a BERT '
        f'encoder; got {exports}')
  if 'preprocessor' in exports:  # First: checked while the encoder is saved.
    if tokenizer is None:
      raise spec.ExportError(
          f'{loaded.path} has no tokenizer (tokenizer.json): save it to the '
          'preset with tokenizer.save_to_preset(dir), or export the encoder '
          "alone with --gin_params='keras.exports = [\"encoder\"]'")
    if tokenizer.vocabulary_size() != backbone.vocabulary_size:
      raise spec.ExportError(
          f'the tokenizer has {tokenizer.vocabulary_size()} tokens but the '
          f'backbone {backbone.vocabulary_size} word embeddings: save the '
          'tokenizer the model was trained with')
    pre, tokenize, pre_reference = build_bert_preprocessor(
        tokenizer, opts.seq_length)
    ctx.save('preprocessor', pre, bert_family.preprocessor_spec(),
             bert_family.preprocessor_cases(tokenize), pre_reference)

  if 'encoder' in exports:
    with tempfile.TemporaryDirectory(prefix='keras_bert_vocab_') as tmp:
      ctx.save('encoder', keras3.reusable(
          backbone, call, **_vocab_attributes(tokenizer, tmp)),
               bert_family.ENCODER_SPEC,
               bert_family.encoder_cases(backbone.vocabulary_size, False),
               lambda case: reference(case.inputs))


# ---------------------------------------------------------------------------
# API 'image_classifier': KerasHub ImageClassifier tasks.

def _converter_affine(task):
  """(scale, offset) the ImageConverter applies to 0-255 pixels."""
  converter = getattr(getattr(task, 'preprocessor', None), 'image_converter',
                      None)
  if converter is None:
    raise spec.ExportError(
        f'{task.name} has no preprocessor with an ImageConverter, so the '
        'input normalization it was trained with is unknown: save the task '
        'with its preprocessor (save_to_preset of the ImageClassifier)')
  def values(x):
    return (np.ones(3, np.float32) if x is None
            else np.broadcast_to(np.asarray(x, np.float32), [3]).copy())
  return values(converter.scale), (np.zeros(3, np.float32) if converter.offset
                                   is None else values(converter.offset)), converter


def export_image_classifier(ctx, loaded, opts):
  import keras  # pylint: disable=g-import-not-at-top
  from official.hub_export import image_models  # pylint: disable=g-import-not-at-top
  task = loaded.model
  exports = opts.exports or list(image_models.EXPORTS)
  unknown = [e for e in exports if e not in image_models.EXPORTS]
  if unknown or not exports:
    raise spec.ExportError(
        f'EXPORTS must name one or both of {", ".join(image_models.EXPORTS)} '
        f'for an image classifier; got {exports}')
  keras3.check_weights_from_files(task.weights, loaded)
  scale, offset, converter = _converter_affine(task)
  # Images in [0, 1] -> the converter's input range (0-255) -> its affine
  # map; constants in the graph. The converter's resizing is not applied:
  # as TF Hub image models, the export takes any size.
  scale255 = (scale * 255.0).astype(np.float32)

  def normalize(images):
    return tf.convert_to_tensor(images, tf.float32) * scale255 + offset

  dense = task.output_dense
  linear = dense.activation in (None, keras.activations.linear)
  # The features are the input of the final Dense layer, behind its dropout
  # (found structurally: the pooler's output for ResNet/EfficientNet, the
  # class token for ViT). Sub-models share the task's layers.
  cut, dropout = dense.input, None
  producer = cut._keras_history.operation  # pylint: disable=protected-access
  if isinstance(producer, keras.layers.Dropout):
    cut, dropout = producer.input, producer
  features = keras.Model(task.inputs, cut)
  logits = keras.Model(task.inputs, dense.output) if linear else task

  def classify(x, training=False):
    if linear:
      return logits(x, training=training)
    # The Dense layer ends in an activation (softmax): its logits, from
    # the same weights after the same dropout.
    pooled = features(x, training=training)
    if dropout is not None:
      pooled = dropout(pooled, training=training)
    return tf.matmul(pooled, dense.kernel.value) + dense.bias.value

  calls = {
      'feature_vector': lambda images, training=False: features(
          normalize(images), training=training),
      'classification': lambda images, training=False: classify(
          normalize(images), training=training)}
  owners = {'feature_vector': features, 'classification': logits}
  size = opts.image_size or (converter.image_size[0]
                                if converter.image_size and
                                converter.image_size[0] else 224)
  cases = image_models.sample_cases(int(size))
  specs = dict(image_models.EXPORTS)
  fixed = list(task.inputs[0].shape[1:3])
  if None not in fixed:
    # A backbone built for one image size (ViT's position embeddings): the
    # export takes that size only.
    specs = {name: dataclasses.replace(s, inputs=tf.TensorSpec(
        [None] + fixed + [3], tf.float32, name=image_models.IMAGES.name))
             for name, s in specs.items()}
    cases = [c for c in image_models.sample_cases(fixed[0])
             if list(c.inputs.shape[1:3]) == fixed]
  # Reference: the in-memory task's layers, on the converter's affine map
  # computed apart from the export's, run as a graph.
  references = {
      'feature_vector': writer.source_graph(
          lambda x: features(x * scale255 + offset, training=False),
          specs['feature_vector'].inputs),
      'classification': writer.source_graph(
          lambda x: classify(x * scale255 + offset, training=False),
          specs['classification'].inputs)}
  for name in exports:
    ctx.save(name, keras3.reusable(owners[name], calls[name]),
             specs[name], cases,
             lambda case, r=references[name]: r(case.inputs))


# ---------------------------------------------------------------------------

def export(ctx: driver.Context):
  opts = Options()
  if not FLAGS.model_path:
    raise spec.UsageError('--model_path is required: a .keras file or a '
                          'KerasHub preset directory')
  loaded = keras3.load(FLAGS.model_path)
  api = opts.api if opts.api != 'auto' else detect_api(loaded.model)
  _record_sources(ctx, loaded, api=api, **keras3.describe(loaded.model))
  if api == 'model':
    keras3.check_weights_from_files(loaded.model.weights, loaded)
    export_model(ctx, loaded, opts)
  elif api == 'bert_encoder':
    export_bert(ctx, loaded, opts)
  else:
    export_image_classifier(ctx, loaded, opts)


if __name__ == '__main__':
  driver.run(export, recipe='keras', needs_checkpoint=False)

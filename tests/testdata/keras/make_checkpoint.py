"""Writes tests/testdata/keras/tiny.keras: a tiny trained-looking Keras 3 model.

(And lambda.keras: a model with a Lambda layer, which the recipe refuses;
tiny_reference.npz: tiny.keras's Keras 3 outputs, losses and variables.)

What a Keras 3 user saves with `model.save('x.keras')`: a functional model
with a kernel regularizer (L2) and a bias regularizer (L1), batch norm with
non-trivial moving statistics, dropout, a frozen layer (`trainable=False`)
and a logits output; deterministic weights (fixed seed, every weight set
explicitly).

    .venv/bin/python tests/testdata/keras/make_checkpoint.py

Also writes, for the tests, tiny KerasHub presets with the Keras 3 outputs
the exports must reproduce (`--kind=bert|albert|resnet|vit|efficientnet|tiny DIR`:
DIR and DIR.npz).
"""
import os

os.environ['TF_USE_LEGACY_KERAS'] = '0'  # Keras 3 is the Keras here.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # pylint: disable=g-import-not-at-top

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, 'tiny.keras')
L2, L1 = 0.01, 0.001


def build():
  import keras  # pylint: disable=g-import-not-at-top
  inputs = keras.Input((6,), name='features')
  x = keras.layers.Dense(8, activation='relu', name='frozen')(inputs)
  x = keras.layers.Dense(
      8, kernel_regularizer=keras.regularizers.L2(L2),
      bias_regularizer=keras.regularizers.L1(L1), name='hidden')(x)
  x = keras.layers.BatchNormalization(name='norm')(x)
  x = keras.layers.Activation('relu')(x)
  x = keras.layers.Dropout(0.3, name='dropout')(x)
  logits = keras.layers.Dense(3, kernel_regularizer=keras.regularizers.L2(L2),
                              name='logits')(x)
  model = keras.Model(inputs, logits, name='tiny')
  model.get_layer('frozen').trainable = False
  return model


def randomize(model, seed=0):
  rng = np.random.RandomState(seed)
  for w in model.weights:
    shape = tuple(w.shape)
    if w.path.endswith(('gamma', 'moving_variance')):
      value = rng.uniform(0.5, 1.5, shape)
    elif w.path.endswith(('beta', 'moving_mean', 'bias')):
      value = rng.normal(0, 0.1, shape)
    else:
      value = rng.normal(0, np.sqrt(2.0 / shape[0]), shape)
    w.assign(value.astype(np.float32))




# ---------------------------------------------------------------------------
# KerasHub presets for the tests (written into a temporary directory by the
# tests, in a Keras 3 process: `python make_checkpoint.py --kind=bert DIR`),
# each with the Keras 3 outputs the export must reproduce (DIR.npz).

VOCAB = (['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] +
         list('abcdefghijklmnopqrstuvwxyz') +
         ['the', 'quick', 'brown', 'fox', '##s', '##ed', '##ing', 'jump',
          'over', 'lazy', 'dog', '.', ',', '!', '?', 'hello', 'world', 'ca',
          'va', 'na', '##ive', 'cafe', '日', '本', '語', '中', '文', 'é'])
SENTENCES = ['The quick brown fox jumps over the lazy dog.',
             'Héllo, Wörld! Ça va? naïve café', '日本語 中文 zzz',
             'jumping foxes', '', 'the dog ' * 12]
SEQ_LENGTH = 16


def bert_preset(directory, seed=1):
  """A tiny BertBackbone (2 layers, hidden 16) and its BertTokenizer."""
  import keras  # pylint: disable=g-import-not-at-top
  import keras_hub  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(seed)
  tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB,
                                                 lowercase=True)
  backbone = keras_hub.models.BertBackbone(
      vocabulary_size=len(VOCAB), num_layers=2, num_heads=2, hidden_dim=16,
      intermediate_dim=32, max_sequence_length=64)
  backbone.save_to_preset(directory)
  tokenizer.save_to_preset(directory)
  return _text_outputs(
      keras_hub.models.BertTextClassifierPreprocessor(
          tokenizer, sequence_length=SEQ_LENGTH), backbone)


def _text_outputs(preprocessor, backbone):
  """The Keras 3 outputs: KerasHub's own preprocessor (one and two
  segments) and backbone."""
  single = preprocessor(np.array(SENTENCES))
  pair = preprocessor(x=(np.array(SENTENCES[:3]), np.array(SENTENCES[3:])))
  out = backbone(single, training=False)
  return dict(
      single_token_ids=single['token_ids'], single_segment_ids=single[
          'segment_ids'], single_padding_mask=single['padding_mask'],
      pair_token_ids=pair['token_ids'], pair_segment_ids=pair['segment_ids'],
      pair_padding_mask=pair['padding_mask'],
      pooled_output=out['pooled_output'],
      sequence_output=out['sequence_output'])


def sentencepiece_proto(vocabulary_size=40):
  """A tiny unigram SentencePiece model with ALBERT's special tokens
  (<pad>=0, <unk>=1, [CLS]=2, [SEP]=3, [MASK]=4), from a fixed corpus."""
  import io  # pylint: disable=g-import-not-at-top
  import sentencepiece as spm  # pylint: disable=g-import-not-at-top
  words = [w for w in VOCAB[31:] if w.isascii() and w.isalpha()]
  rng = np.random.RandomState(0)
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter([' '.join(rng.choice(words, 8))
                              for _ in range(300)]),
      model_writer=model, vocab_size=vocabulary_size, pad_id=0, unk_id=1,
      bos_id=-1, eos_id=-1, pad_piece='<pad>', model_type='unigram',
      user_defined_symbols=['[CLS]', '[SEP]', '[MASK]'], minloglevel=2)
  return model.getvalue()


def albert_preset(directory, seed=5):
  """A tiny AlbertBackbone (3 layers sharing one group, embedding 8, hidden
  16) and its AlbertTokenizer (SentencePiece)."""
  import keras  # pylint: disable=g-import-not-at-top
  import keras_hub  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(seed)
  tokenizer = keras_hub.tokenizers.AlbertTokenizer(proto=sentencepiece_proto())
  backbone = keras_hub.models.AlbertBackbone(
      vocabulary_size=tokenizer.vocabulary_size(), num_layers=3, num_heads=2,
      num_groups=1, num_inner_repetitions=1, embedding_dim=8, hidden_dim=16,
      intermediate_dim=32, max_sequence_length=64)
  backbone.save_to_preset(directory)
  tokenizer.save_to_preset(directory)
  return _text_outputs(
      keras_hub.models.AlbertTextClassifierPreprocessor(
          tokenizer, sequence_length=SEQ_LENGTH), backbone)


IMAGE_SIZE = 32
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def resnet_preset(directory, seed=2):
  """A tiny ResNetImageClassifier (basic blocks, 5 classes) with its
  ImageConverter (ImageNet mean/std on 0-255 pixels, as KerasHub's
  ResNet presets)."""
  import keras  # pylint: disable=g-import-not-at-top
  import keras_hub  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(seed)
  backbone = keras_hub.models.ResNetBackbone(
      input_conv_filters=[64], input_conv_kernel_sizes=[3],
      stackwise_num_filters=[64, 16], stackwise_num_blocks=[1, 1],
      stackwise_num_strides=[1, 2], block_type='basic_block',
      image_shape=(None, None, 3))
  converter = keras_hub.layers.ResNetImageConverter(
      image_size=(IMAGE_SIZE, IMAGE_SIZE),
      scale=[1 / (255 * s) for s in STD],
      offset=[-m / s for m, s in zip(MEAN, STD)])
  task = keras_hub.models.ResNetImageClassifier(
      backbone=backbone, num_classes=5,
      preprocessor=keras_hub.models.ResNetImageClassifierPreprocessor(
          image_converter=converter))
  return _saved_with_outputs(task, converter, directory, seed)


def _saved_with_outputs(task, converter, directory, seed):
  """Gives `task` non-trivial batch-norm statistics (as training leaves
  them), saves it as a preset and returns KerasHub's outputs on random
  images: its whole pipeline on 0-255 pixels (converter, backbone, head)
  and the pooled features."""
  import keras  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(seed)
  for w in task.weights:
    if w.path.endswith('moving_mean'):
      w.assign(rng.normal(0, 0.1, tuple(w.shape)).astype(np.float32))
    elif w.path.endswith('moving_variance'):
      w.assign(rng.uniform(0.5, 1.5, tuple(w.shape)).astype(np.float32))
  task.save_to_preset(directory)
  images = rng.uniform(0, 1, [3, IMAGE_SIZE, IMAGE_SIZE, 3]).astype(
      np.float32)
  pixels = images * 255.0
  features = keras.Model(task.inputs, task.pooler.output)(
      converter(pixels), training=False)
  return dict(images=images, logits=task.predict(pixels, verbose=0),
              feature_vector=features)


def vit_preset(directory, seed=4):
  """A tiny ViTImageClassifier (32x32 images, 8x8 patches, 2 layers, class
  token) with its ImageConverter (scale 1/127.5, offset -1)."""
  import keras  # pylint: disable=g-import-not-at-top
  import keras_hub  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(seed)
  backbone = keras_hub.models.ViTBackbone(
      image_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), patch_size=8, num_layers=2,
      num_heads=2, hidden_dim=16, mlp_dim=32, dropout_rate=0.1)
  converter = keras_hub.layers.ViTImageConverter(
      image_size=(IMAGE_SIZE, IMAGE_SIZE), scale=1 / 127.5, offset=-1.0)
  task = keras_hub.models.ViTImageClassifier(
      backbone=backbone, num_classes=4, dropout=0.1,
      preprocessor=keras_hub.models.ViTImageClassifierPreprocessor(
          image_converter=converter))
  task.save_to_preset(directory)
  images = np.random.RandomState(seed).uniform(
      0, 1, [3, IMAGE_SIZE, IMAGE_SIZE, 3]).astype(np.float32)
  return dict(images=images, logits=task.predict(images * 255.0, verbose=0))


def efficientnet_preset(directory, seed=6):
  """A tiny EfficientNetImageClassifier (two MBConv stages at width 0.25,
  3 classes) with its ImageConverter (ImageNet mean/std on 0-255 pixels)
  and non-trivial batch-norm statistics."""
  import keras  # pylint: disable=g-import-not-at-top
  import keras_hub  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(seed)
  backbone = keras_hub.models.EfficientNetBackbone(
      stackwise_width_coefficients=[0.25] * 2,
      stackwise_depth_coefficients=[1.0] * 2, stackwise_kernel_sizes=[3, 3],
      stackwise_num_repeats=[1, 1], stackwise_input_filters=[32, 16],
      stackwise_output_filters=[16, 24], stackwise_expansion_ratios=[1, 6],
      stackwise_squeeze_and_excite_ratios=[0.25, 0.25],
      stackwise_strides=[1, 2], stackwise_block_types=['v1', 'v1'],
      stackwise_force_input_filters=[0, 0],
      stackwise_nores_option=[False, False], dropout=0.0)
  converter = keras_hub.layers.EfficientNetImageConverter(
      image_size=(IMAGE_SIZE, IMAGE_SIZE),
      scale=[1 / (255 * s) for s in STD],
      offset=[-m / s for m, s in zip(MEAN, STD)])
  task = keras_hub.models.EfficientNetImageClassifier(
      backbone=backbone, num_classes=3,
      preprocessor=keras_hub.models.EfficientNetImageClassifierPreprocessor(
          image_converter=converter))
  return _saved_with_outputs(task, converter, directory, seed)


def tiny_reference(seed=3):
  """The committed tiny.keras model's Keras 3 outputs and losses."""
  import keras  # pylint: disable=g-import-not-at-top
  model = keras.saving.load_model(MODEL)
  x = np.random.RandomState(seed).uniform(0, 1, [5, 6]).astype(np.float32)
  return dict(inputs=x, outputs=model(x, training=False),
              losses=np.array([float(l) for l in model.losses]),
              trainable=np.array([w.path for w in model.trainable_weights]),
              variables=np.array([w.path for w in model.weights]))


def lambda_model(path):
  """A model with a Lambda layer (Python code pickled into the file)."""
  import keras  # pylint: disable=g-import-not-at-top
  inputs = keras.Input((6,), name='features')
  x = keras.layers.Lambda(lambda t: t * 2.0, name='double')(inputs)
  keras.Model(inputs, keras.layers.Dense(2)(x)).save(path)


def write(kind, directory):
  if kind == 'lambda':
    lambda_model(directory + '.keras')
    return
  make = {'bert': bert_preset, 'albert': albert_preset,
          'resnet': resnet_preset, 'vit': vit_preset,
          'efficientnet': efficientnet_preset}
  reference = (make[kind](directory) if kind in make else tiny_reference())
  np.savez(directory + '.npz', **{k: np.asarray(v)
                                  for k, v in reference.items()})


if __name__ == '__main__':
  import sys  # pylint: disable=g-import-not-at-top
  if len(sys.argv) == 3 and sys.argv[1].startswith('--kind='):
    write(sys.argv[1][len('--kind='):], sys.argv[2])
  else:
    m = build()
    randomize(m)
    m.save(MODEL)
    lambda_model(os.path.join(HERE, 'lambda.keras'))
    write('tiny', os.path.join(HERE, 'tiny_reference'))
    print('wrote', MODEL, 'lambda.keras and tiny_reference.npz')

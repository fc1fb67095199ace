r"""Text embedding recipe (low-level API): word vectors -> sentence embeddings.

A practical low-level recipe of the kind TF Hub's text embeddings (NNLM,
Wiki-words) were built with. It turns a word-vector file (or a checkpoint
holding an embedding table, plus its vocabulary) into a fine-tunable reusable
SavedModel:

    obj = hub.load(export_dir)
    obj(sentences, training=False)  # [batch] tf.string -> [batch, dim] float32
    obj.variables == obj.trainable_variables == [embeddings]
                                    # [words + NUM_OOV_BUCKETS, dim] float32
    obj.regularization_losses       # [L2 * sum(embeddings**2)] if L2 > 0
    obj.vocab_file                  # assets/vocab.txt: line i names row i
    serving_default: sentences -> {'default': [batch, dim]}

    layer = hub.KerasLayer(export_dir, input_shape=[], dtype=tf.string,
                           trainable=True)

Inside the graph, each sentence is
  1. decoded as UTF-8 (invalid bytes become U+FFFD) and, if LOWER_CASE,
     lower-cased (Unicode-aware);
  2. PUNCTUATION: 'remove' deletes every Unicode punctuation character (\pP:
     "don't" -> "dont"), 'split' makes each one a token of its own ("end." ->
     "end", "."), 'keep' leaves them in the words;
  3. split into tokens on whitespace (ASCII whitespace and the Unicode space
     separators \pZ, e.g. the no-break space);
  4. looked up in the vocabulary (an asset of the SavedModel): a word of the
     file is its row; any other token takes one of NUM_OOV_BUCKETS extra rows
     (by its hash, `tf.strings.to_hash_bucket_fast`), or is ignored when
     NUM_OOV_BUCKETS = 0;
  5. combined by COMBINER over its n looked-up tokens (repeats count):
     'sqrtn' (sum / sqrt(n), the default), 'mean' (sum / n) or 'sum'.
     A sentence without tokens gives zeros.

Inputs (exactly one of):
  --embedding_file=F   word2vec/GloVe/fastText text format, optionally
                       gzipped, streamed into the table (one copy in memory)
                       by `official/hub_export/word_vectors.py`. The OOV rows
                       start at zero.
  --checkpoint_path=P --vocab_file=V
                       a TF checkpoint (e.g. written by a Model Garden
                       trainer) holding the table
                       [lines of V + NUM_OOV_BUCKETS, EMBEDDING_DIM] under one
                       of CHECKPOINT_KEYS; V has one word per line, line i
                       naming row i (read by `official/hub_export/vocab.py`).

Usage:
  python export_scripts/text_embedding_export.py \
      --gin_file=configs/text_embedding/wiki_words_250.gin \
      --embedding_file=vectors.txt --export_dir=/tmp/wiki_words_250
  (or --checkpoint_path=tests/testdata/text_embedding/ckpt
      --vocab_file=tests/testdata/text_embedding/vocab.txt with tiny.gin)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import tempfile  # pylint: disable=g-import-not-at-top
import time  # pylint: disable=g-import-not-at-top
from typing import List, Optional, Sequence, Tuple  # pylint: disable=g-import-not-at-top

from absl import flags  # pylint: disable=g-import-not-at-top
from absl import logging  # pylint: disable=g-import-not-at-top
import gin  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from official.hub_export import driver  # pylint: disable=g-import-not-at-top
from official.hub_export import restore  # pylint: disable=g-import-not-at-top
from official.hub_export import spec  # pylint: disable=g-import-not-at-top
from official.hub_export import vocab  # pylint: disable=g-import-not-at-top
from official.hub_export import word_vectors  # pylint: disable=g-import-not-at-top
from official.hub_export import writer  # pylint: disable=g-import-not-at-top
from official.hub_export.spec import ExportError  # pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS

SPEC = spec.single(
    tf.TensorSpec([None], tf.string, name='sentences'), 'default',
    spec.Output(kind='features', tolerance=1e-5,
                description='sentence embedding [batch, dim]: the combined '
                'rows of the sentence\'s tokens'),
    task='text-embedding')

COMBINERS = ('sqrtn', 'mean', 'sum')
PUNCTUATION = ('remove', 'split', 'keep')
VOCAB_ASSET = 'vocab.txt'


def define_flags():
  """The recipe's own flags (defined when run as a script only, so that tests
  can import this module beside other recipes that use the same names)."""
  flags.DEFINE_string(
      'embedding_file', None, 'Word vectors in text format (word2vec/GloVe/'
      'fastText .txt/.vec, optionally .gz): `word v1 ... vD` per line, with or '
      'without a first line `count D`.')
  flags.DEFINE_string(
      'vocab_file', None, 'With --checkpoint_path: the vocabulary, one word '
      'per line; line i names row i of the checkpoint\'s embedding table.')

  def one_source(f):
    if bool(f['embedding_file']) == bool(f['checkpoint_path']):
      raise flags.ValidationError(
          'pass either --embedding_file=F or --checkpoint_path=P with '
          '--vocab_file=V')
    if f['checkpoint_path'] and not f['vocab_file']:
      raise flags.ValidationError(
          '--checkpoint_path needs --vocab_file (one word per line, line i '
          'naming row i of the table)')
    if f['embedding_file'] and f['vocab_file']:
      raise flags.ValidationError(
          '--vocab_file goes with --checkpoint_path; an --embedding_file '
          'holds its own words')
    return True
  flags.register_multi_flags_validator(
      ['embedding_file', 'checkpoint_path', 'vocab_file'], one_source)


# ---------------------------------------------------------------------------
# Export choices (gin).

@spec.export_options('text_embedding')
class Options(spec.Options):
  """The export choices (configs/text_embedding/base.gin binds each to a
  macro).

  Attributes:
    embedding_dim: the width of the table (checked against the input).
    num_oov_buckets: out-of-vocabulary rows appended to the table (unknown
      tokens hash into them); 0: unknown tokens are dropped.
    combiner: how token vectors make a sentence vector, one of COMBINERS.
    lower_case: lower-case the input before the lookup.
    punctuation: one of PUNCTUATION (see the module doc).
    l2_regularization: c of the exported regularization loss c * sum(w**2).
    max_words: read only the first N words of a file (None: all).
    checkpoint_keys: where a checkpoint may keep the table, tried in order.
  """
  embedding_dim: int = gin.REQUIRED
  num_oov_buckets: int = 1
  combiner: str = 'sqrtn'
  lower_case: bool = True
  punctuation: str = 'remove'
  l2_regularization: float = 0.0
  max_words: Optional[int] = None
  checkpoint_keys: Tuple[str, ...] = ('embeddings',)

  def __post_init__(self):
    self.require('embedding_dim', spec.is_int(self.embedding_dim),
                 'a positive integer')
    self.require('num_oov_buckets', spec.is_int(self.num_oov_buckets, 0),
                 'an integer >= 0')
    self.require('combiner', self.combiner in COMBINERS,
                 ' or '.join(map(repr, COMBINERS)))
    self.require('lower_case', isinstance(self.lower_case, bool),
                 'True or False')
    self.require('punctuation', self.punctuation in PUNCTUATION,
                 ' or '.join(map(repr, PUNCTUATION)))
    self.require('l2_regularization', spec.is_number(self.l2_regularization),
                 'a number >= 0')
    self.normalize('l2_regularization', float(self.l2_regularization))
    self.require('max_words', self.max_words is None or
                 spec.is_int(self.max_words), 'None or a positive integer')
    self.require('checkpoint_keys',
                 not isinstance(self.checkpoint_keys, str) and
                 bool(self.checkpoint_keys),
                 "a list of checkpoint keys, e.g. ['model/embeddings']")
    self.normalize('checkpoint_keys', tuple(self.checkpoint_keys))


# ---------------------------------------------------------------------------
# The exported model.

class TextEmbedding(writer.Reusable):
  """Sentences -> combined word vectors, tokenized and looked up in-graph."""

  def __init__(self, embeddings: tf.Variable, vocab_path: str,
               options: Options):
    super().__init__()
    self._options = options
    self.embeddings = embeddings
    self.vocab_file = tf.saved_model.Asset(vocab_path)
    initializer = tf.lookup.TextFileInitializer(
        self.vocab_file, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
        tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER)
    if options.num_oov_buckets:
      self.vocab_table = tf.lookup.StaticVocabularyTable(
          initializer, options.num_oov_buckets)
    else:
      self.vocab_table = tf.lookup.StaticHashTable(initializer, -1)
    self.variables = [embeddings]
    self.trainable_variables = [embeddings]
    l2 = options.l2_regularization
    self.regularization_losses = [tf.function(
        lambda: l2 * tf.reduce_sum(tf.square(self.embeddings)),
        input_signature=[])] if l2 else []

  def tokenize(self, sentences) -> tf.RaggedTensor:
    """[batch] strings -> [batch, (tokens)] strings (the steps 1-3 above)."""
    x = tf.strings.unicode_transcode(sentences, 'UTF-8', 'UTF-8',
                                     errors='replace')
    if self._options.lower_case:
      x = tf.strings.lower(x, encoding='utf-8')
    if self._options.punctuation == 'remove':
      x = tf.strings.regex_replace(x, r'\pP', '')
    elif self._options.punctuation == 'split':
      x = tf.strings.regex_replace(x, r'(\pP)', r' \1 ')
    x = tf.strings.regex_replace(x, r'\pZ', ' ')
    return tf.strings.split(x)  # Runs of ASCII whitespace; no empty tokens.

  def token_ids(self, sentences) -> tf.RaggedTensor:
    """[batch] strings -> [batch, (ids)] int64 rows of `embeddings`."""
    tokens = self.tokenize(sentences)
    ids = tokens.with_flat_values(self.vocab_table.lookup(tokens.flat_values))
    if not self._options.num_oov_buckets:
      ids = tf.ragged.boolean_mask(ids, ids >= 0)  # Unknown words: ignored.
    return ids

  @tf.function
  def __call__(self, sentences, training=False):
    del training  # No dropout: the same in both modes.
    ids = self.token_ids(sentences)
    batch = tf.shape(sentences, out_type=tf.int64)[0]
    rows = ids.value_rowids()
    total = tf.math.unsorted_segment_sum(
        tf.gather(self.embeddings, ids.flat_values), rows, batch)
    if self._options.combiner == 'sum':
      return total
    n = tf.cast(tf.maximum(ids.row_lengths(), 1), tf.float32)[:, tf.newaxis]
    if self._options.combiner == 'mean':
      return total / n
    return total / tf.sqrt(n)


# ---------------------------------------------------------------------------
# Verification inputs.

def sample_cases(words: Sequence[str]) -> List[spec.Case]:
  """A sweep over batch sizes and sentence lengths from vocabulary words:
  capitalized and punctuated words, repeats, unknown words, empty strings."""
  w = list(words) or ['qqunknownword']
  pick = lambda i: w[i % len(w)]
  def arr(xs):
    return np.array(xs, dtype=object)
  long_a = ' '.join(pick(i) for i in range(12))
  long_b = ' '.join(pick(len(w) - 1 - i) for i in range(9)) + ' zzqqunknown'
  return [
      spec.Case(arr([f'{pick(0).capitalize()} {pick(1)}, {pick(2)}! '
                     f'{pick(3)}'])),
      spec.Case(arr(['', f'{pick(4)} qqxzunknownword {pick(5)}',
                     f'  {pick(0)}\t{pick(0)}   {pick(6)} '])),
      spec.Case(arr([long_a, long_b])),
      spec.Case(arr(['...', ' ', pick(len(w) - 1), 'NoSuchWordXyzzy',
                     f'{pick(7)}.{pick(8)} ({pick(9)})'])),
  ]


def reference_fn(model: TextEmbedding, combiner: str):
  """The source model on a case: the in-memory tokenizer's ids, their rows
  read from the in-memory table, combined in NumPy (float64)."""
  dim = int(model.embeddings.shape[1])
  def reference(case):
    ids = model.token_ids(tf.constant(case.inputs)).to_list()
    out = np.zeros([len(ids), dim], np.float64)
    for i, row in enumerate(ids):
      if row:  # The combiner in float64, on the rows read from the table.
        total = tf.gather(model.embeddings, row).numpy().astype(
            np.float64).sum(axis=0)
        out[i] = {'sum': total, 'mean': total / len(row),
                  'sqrtn': total / np.sqrt(len(row))}[combiner]
    return out.astype(np.float32)
  return reference


# ---------------------------------------------------------------------------

def export(ctx: driver.Context):
  options = Options()
  dim, oov = options.embedding_dim, options.num_oov_buckets
  with tempfile.TemporaryDirectory(prefix='text_embedding_vocab_') as tmp:
    vocab_path = os.path.join(tmp, VOCAB_ASSET)
    if FLAGS.embedding_file:
      path = FLAGS.embedding_file
      layout = word_vectors.scan(path, dim, options.max_words)
      t0 = time.perf_counter()
      with open(vocab_path, 'w', encoding='utf-8', newline='\n') as f:
        table, stats = word_vectors.load(layout, oov, f)
      logging.info('Read %d x %d vectors from %s in %.1f s.', stats['words'],
                   dim, path, time.perf_counter() - t0)
      ctx.add_source('embedding_file', path, words=stats['words'], dim=dim,
                     header=layout.header is not None,
                     gzipped=layout.gzipped,
                     multi_word_entries=stats['multi_word_entries'])
      source = path
    else:
      words = len(vocab.copy_vocab(FLAGS.vocab_file, '--vocab_file',
                                   vocab_path))
      table = tf.Variable(tf.zeros([words + oov, dim]), name='embeddings')
      ctx.restore(
          [restore.layout_at(k, table) for k in options.checkpoint_keys],
          [table],
          hint=f'The table must be [{words} words of --vocab_file + '
          f'{oov} NUM_OOV_BUCKETS, EMBEDDING_DIM = {dim}] under one of '
          f'CHECKPOINT_KEYS {list(options.checkpoint_keys)}: check '
          '--vocab_file, --checkpoint_path and the gin config.')
      ctx.add_source('vocab_file', FLAGS.vocab_file, words=words)
      source = FLAGS.vocab_file
    model = TextEmbedding(table, vocab_path, options)
    samples, unreachable, example = vocab.reachable_words(model.tokenize,
                                                          vocab_path)
    if unreachable:
      logging.warning(
          '%d of %d words of %s can never be looked up: the tokenizer '
          'changes or splits them (first: %r, word %d); set LOWER_CASE/'
          'PUNCTUATION in the gin config to match the file if that is not '
          'intended.', unreachable, int(table.shape[0]) - oov, source,
          example[1], example[0])
    if not samples and not oov:
      raise ExportError(
          f'no word of {source} can be looked up with this tokenization '
          '(and NUM_OOV_BUCKETS = 0): set LOWER_CASE/PUNCTUATION in the gin '
          'config to match the file')
    ctx.save('', model, SPEC, sample_cases(samples),
             reference=reference_fn(model, options.combiner))


if __name__ == '__main__':
  define_flags()
  driver.run(export, recipe='text_embedding', needs_checkpoint=False)

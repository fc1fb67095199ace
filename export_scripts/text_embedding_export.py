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
  --embedding_file=F   word2vec/GloVe/fastText text format (`.txt`, `.vec`,
                       optionally gzipped): `word v1 ... vD` per line, with
                       or without a first line `count D`. Read in one
                       streaming pass (two without the header) straight into
                       the table, so memory holds one copy of it; a progress
                       bar shows on stderr for large files. The OOV rows
                       start at zero.
  --checkpoint_path=P --vocab_file=V
                       a TF checkpoint (e.g. written by a Model Garden
                       trainer) holding the table
                       [lines of V + NUM_OOV_BUCKETS, EMBEDDING_DIM] under one
                       of CHECKPOINT_KEYS; V has one word per line, line i
                       naming row i.

Usage:
  python export_scripts/text_embedding_export.py \
      --gin_file=configs/text_embedding/wiki_words_250.gin \
      --embedding_file=vectors.txt --export_dir=/tmp/wiki_words_250

  python export_scripts/text_embedding_export.py \
      --gin_file=configs/text_embedding/tiny.gin \
      --checkpoint_path=tests/testdata/text_embedding/ckpt \
      --vocab_file=tests/testdata/text_embedding/vocab.txt \
      --export_dir=/tmp/text_embedding_from_ckpt
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import dataclasses  # pylint: disable=g-import-not-at-top
import gzip  # pylint: disable=g-import-not-at-top
import re  # pylint: disable=g-import-not-at-top
import tempfile  # pylint: disable=g-import-not-at-top
import time  # pylint: disable=g-import-not-at-top
from typing import Callable, List, Optional, Sequence, Tuple  # pylint: disable=g-import-not-at-top

from absl import flags  # pylint: disable=g-import-not-at-top
from absl import logging  # pylint: disable=g-import-not-at-top
import gin  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from official.hub_export import driver  # pylint: disable=g-import-not-at-top
from official.hub_export import restore  # pylint: disable=g-import-not-at-top
from official.hub_export import spec  # pylint: disable=g-import-not-at-top
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
CHUNK_ROWS = 8192            # Rows parsed before they are copied to the table.
PROGRESS_MIN_BYTES = 64 << 20  # Files from this size on get a progress bar.


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

@dataclasses.dataclass(frozen=True)
class Options:
  """The checked export choices (see `text_embedding`)."""
  embedding_dim: int
  num_oov_buckets: int
  combiner: str
  lower_case: bool
  punctuation: str
  l2_regularization: float
  max_words: Optional[int]
  checkpoint_keys: Tuple[str, ...]


@gin.configurable
def text_embedding(embedding_dim=gin.REQUIRED, num_oov_buckets=1,
                   combiner='sqrtn', lower_case=True, punctuation='remove',
                   l2_regularization=0.0, max_words=None,
                   checkpoint_keys=('embeddings',)) -> Options:
  """The export choices of configs/text_embedding/*.gin, checked."""
  def bad(name, value, want):
    return ExportError(f'gin: text_embedding.{name} = {value!r} is invalid: '
                       f'use {want}')
  if not isinstance(embedding_dim, int) or embedding_dim <= 0:
    raise bad('embedding_dim', embedding_dim, 'a positive integer')
  if not isinstance(num_oov_buckets, int) or num_oov_buckets < 0:
    raise bad('num_oov_buckets', num_oov_buckets, 'an integer >= 0')
  if combiner not in COMBINERS:
    raise bad('combiner', combiner, ' or '.join(map(repr, COMBINERS)))
  if not isinstance(lower_case, bool):
    raise bad('lower_case', lower_case, 'True or False')
  if punctuation not in PUNCTUATION:
    raise bad('punctuation', punctuation, ' or '.join(map(repr, PUNCTUATION)))
  if not isinstance(l2_regularization, (int, float)) or l2_regularization < 0:
    raise bad('l2_regularization', l2_regularization, 'a number >= 0')
  if max_words is not None and (not isinstance(max_words, int) or
                                max_words <= 0):
    raise bad('max_words', max_words, 'None or a positive integer')
  if isinstance(checkpoint_keys, str) or not checkpoint_keys:
    raise bad('checkpoint_keys', checkpoint_keys,
              "a list of checkpoint keys, e.g. ['model/embeddings']")
  return Options(embedding_dim, num_oov_buckets, combiner, lower_case,
                 punctuation, float(l2_regularization), max_words,
                 tuple(checkpoint_keys))


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


def combine(vectors: np.ndarray, combiner: str) -> np.ndarray:
  """The combiner on the looked-up rows of one sentence, in float64."""
  total = np.asarray(vectors, np.float64).sum(axis=0)
  n = max(len(vectors), 1)
  return {'sum': total, 'mean': total / n, 'sqrtn': total / np.sqrt(n)}[
      combiner]


# ---------------------------------------------------------------------------
# Reading word-vector files.

@dataclasses.dataclass
class FileLayout:
  """What the first pass over an embedding file found."""
  path: str
  header: Optional[Tuple[int, int]]  # (count, dim) from line 1, if any.
  rows: int                          # Vectors to read (after max_words).
  dim: int
  gzipped: bool


class _Progress:
  """A tqdm bar on stderr over a file's bytes, for large files only."""

  def __init__(self, path, desc, size):
    self.bar = None
    if size >= PROGRESS_MIN_BYTES:
      from tqdm import tqdm  # pylint: disable=g-import-not-at-top
      tty = sys.stderr.isatty()
      self.bar = tqdm(total=size, desc=f'{desc} {os.path.basename(path)}',
                      unit='B', unit_scale=True, file=sys.stderr,
                      mininterval=0.5 if tty else 30, leave=False,
                      dynamic_ncols=tty)
    self.done = 0

  def update(self, position):
    if self.bar is not None and position > self.done:
      self.bar.update(position - self.done)
      self.done = position

  def close(self):
    if self.bar is not None:
      self.bar.close()


class _Reader:
  """Binary lines of a (possibly gzipped) file, with the raw byte position."""

  def __init__(self, path):
    self.raw = open(path, 'rb')  # pylint: disable=consider-using-with
    self.gzipped = self.raw.read(2) == b'\x1f\x8b'
    self.raw.seek(0)
    self.lines = gzip.GzipFile(fileobj=self.raw) if self.gzipped else self.raw
    self.size = os.fstat(self.raw.fileno()).st_size

  def position(self):
    return self.raw.tell()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.lines.close()
    self.raw.close()


def _number(field: bytes) -> bool:
  try:
    float(field)
    return True
  except ValueError:
    return False


def _is_header(fields: List[bytes]) -> bool:
  return len(fields) == 2 and all(f.isdigit() for f in fields)


def scan_embedding_file(path: str, dim: int,
                        max_words: Optional[int] = None) -> FileLayout:
  """First look at an embedding file: its header, or its number of vectors.

  With a `count dim` header line this reads one line; without, it counts the
  non-blank lines (one fast pass).
  """
  if not os.path.isfile(path):
    raise ExportError(f'embedding file {path} does not exist: check '
                      '--embedding_file')
  with _Reader(path) as r:
    try:
      head = r.lines.read(1 << 16)
    except (OSError, EOFError) as e:
      raise ExportError(f'cannot read {path}: {e}; is it a complete text '
                        '(or gzipped text) word-vector file?') from None
    if b'\0' in head:
      raise ExportError(
          f'{path} is not a text word-vector file (it holds NUL bytes; a '
          'binary word2vec .bin file?): convert it to the text format, e.g. '
          'with gensim KeyedVectors.save_word2vec_format(binary=False)')
  with _Reader(path) as r:
    header, first_line, count = None, None, 0
    progress = None
    for lineno, line in enumerate(r.lines, 1):
      if lineno == 1 and line.startswith(b'\xef\xbb\xbf'):
        line = line[3:]  # UTF-8 byte order mark.
      if not line.strip():
        continue
      if first_line is None:
        first_line = lineno
        fields = line.split()
        if lineno == 1 and _is_header(fields):
          header = (int(fields[0]), int(fields[1]))
          if header[1] != dim:
            raise ExportError(
                f'{path} line 1: the header says {header[1]}-dimensional '
                f'vectors but the config says EMBEDDING_DIM = {dim}: use the '
                f'config for {header[1]}-dimensional vectors or pass '
                f"--gin_params='EMBEDDING_DIM = {header[1]}'")
          if header[0] <= 0:
            raise ExportError(f'{path} line 1: the header says the file '
                              f'holds {header[0]} words: fix the header')
          break
        if len(fields) - 1 != dim and (len(fields) < 2 or
                                       _number(fields[1])):
          raise ExportError(
              f'{path} line {lineno} has {len(fields) - 1} values but the '
              f'config says EMBEDDING_DIM = {dim}: use the config for '
              f'{len(fields) - 1}-dimensional vectors or pass '
              f"--gin_params='EMBEDDING_DIM = {len(fields) - 1}'")
        progress = _Progress(path, 'counting lines of', r.size)
      count += 1
      if max_words and count >= max_words:
        break
      if progress is not None and not count % CHUNK_ROWS:
        progress.update(r.position())
    if progress is not None:
      progress.close()
  if header is not None:
    count = header[0]
  if not count:
    raise ExportError(f'{path} holds no word vectors: check --embedding_file')
  rows = min(count, max_words) if max_words else count
  return FileLayout(path, header, rows, dim, r.gzipped)


def read_embedding_file(layout: FileLayout,
                        store: Callable[[int, np.ndarray], None],
                        vocab_out) -> dict:
  """Streams the vectors of `layout.path` into `store(first_row, rows)`.

  Parses CHUNK_ROWS lines at a time into a float32 buffer, so the whole
  table is never held here; writes the words, one per line, to `vocab_out`.
  Raises `ExportError` naming the line for ragged rows, non-numeric or
  non-finite values, duplicate words and a header that does not match.

  Returns:
    {'words': n, 'multi_word_entries': k} (entries like GloVe's ". . ."
    whose word contains spaces: kept, though no token can match them).
  """
  path, dim, rows = layout.path, layout.dim, layout.rows
  where = ('as the header on line 1 says' if layout.header else
           'as EMBEDDING_DIM says')
  seen = {}
  multi = 0
  n = 0
  buf = np.empty((CHUNK_ROWS, dim), np.float32)
  lines = []
  with _Reader(path) as r:
    progress = _Progress(path, 'reading', r.size)

    def flush():
      chunk = buf[:len(lines)]
      finite = np.isfinite(chunk).all(axis=1)
      if not finite.all():
        i = int(np.argmin(finite))
        bad = chunk[i][~np.isfinite(chunk[i])][0]
        raise ExportError(f'{path} line {lines[i]}: value {bad} is not '
                          'finite: fix or remove that line')
      store(n - len(lines), chunk)
      lines.clear()
      progress.update(r.position())

    try:
      for lineno, line in enumerate(r.lines, 1):
        if lineno == 1:
          if line.startswith(b'\xef\xbb\xbf'):
            line = line[3:]
          if layout.header is not None:
            continue
        fields = line.split()
        if not fields:
          continue
        if n == rows:
          if layout.header and rows == layout.header[0]:
            raise ExportError(
                f'{path} line {lineno}: the header on line 1 says the file '
                f'holds {rows} words, but there are more: fix the header')
          break
        if len(fields) == dim + 1:
          word = fields[0]
          values = fields[1:]
        elif len(fields) > dim + 1 and not _number(fields[1]):
          word = b' '.join(fields[:-dim])  # E.g. GloVe 840B's ". . .".
          values = fields[-dim:]
          multi += 1
        else:
          raise ExportError(
              f'{path} line {lineno} has {len(fields) - 1} values, expected '
              f'{dim} ({where}): fix or remove that line')
        try:
          buf[len(lines)] = values
        except ValueError:
          bad = next((v for v in values if not _number(v)), values[0])
          raise ExportError(
              f'{path} line {lineno}: value {bad.decode("utf-8", "replace")!r} '
              'is not a number: fix or remove that line') from None
        try:
          word = word.decode('utf-8')
        except UnicodeDecodeError:
          raise ExportError(
              f'{path} line {lineno}: the word is not UTF-8 text: fix the '
              'line or re-encode the file as UTF-8') from None
        first = seen.setdefault(word, lineno)
        if first != lineno:
          raise ExportError(
              f'{path} line {lineno}: duplicate word {word!r} (first on line '
              f'{first}): remove one of the two lines')
        vocab_out.write(word + '\n')
        lines.append(lineno)
        n += 1
        if len(lines) == CHUNK_ROWS:
          flush()
          buf = np.empty((CHUNK_ROWS, dim), np.float32)
      if lines:
        flush()
    except (OSError, EOFError) as e:
      raise ExportError(f'cannot read {path}: {e}; is the file complete?'
                        ) from None
    finally:
      progress.close()
  if n < rows:
    if layout.header:
      raise ExportError(
          f'{path}: the header on line 1 says the file holds '
          f'{layout.header[0]} words, but it has {n}: fix the header (or the '
          'truncated file)')
    raise ExportError(f'{path} changed while it was read: export again')
  return {'words': n, 'multi_word_entries': multi}


def read_vocab_file(path: str, vocab_out) -> int:
  """Copies a vocabulary (one word per line) to `vocab_out`; returns its
  size. Raises `ExportError` naming the line for empty or duplicate words."""
  if not os.path.isfile(path):
    raise ExportError(f'vocabulary file {path} does not exist: check '
                      '--vocab_file')
  seen = {}
  with open(path, 'rb') as f:
    for lineno, line in enumerate(f, 1):
      if lineno == 1 and line.startswith(b'\xef\xbb\xbf'):
        line = line[3:]
      line = line.rstrip(b'\r\n')
      try:
        word = line.decode('utf-8')
      except UnicodeDecodeError:
        raise ExportError(f'{path} line {lineno} is not UTF-8 text: '
                          're-encode the file as UTF-8') from None
      if not word.strip():
        raise ExportError(f'{path} line {lineno} is empty: every line names '
                          'one row of the table; remove blank lines')
      first = seen.setdefault(word, lineno)
      if first != lineno:
        raise ExportError(f'{path} line {lineno}: duplicate word {word!r} '
                          f'(first on line {first}): remove one of the two')
      vocab_out.write(word + '\n')
  if not seen:
    raise ExportError(f'vocabulary file {path} is empty: check --vocab_file')
  return len(seen)


def _unescape(key: str) -> List[str]:
  """A checkpoint key (as `tf.train.list_variables` prints it) -> names."""
  key = key.strip('/')
  suffix = '/.ATTRIBUTES/VARIABLE_VALUE'
  if key.endswith(suffix):
    key = key[:-len(suffix)]
  return [re.sub(r'\.(S|\.)', lambda m: '/' if m.group(1) == 'S' else '.', p)
          for p in key.split('/')]


def checkpoint_layouts(keys: Sequence[str], table: tf.Variable):
  """One `restore.Layout` per key, holding `table` at that key."""
  layouts = []
  for key in keys:
    names = _unescape(key)
    node = table
    for name in reversed(names[1:]):
      node = tf.train.Checkpoint(**{name: node})
    layouts.append(restore.Layout(key, **{names[0]: node}))
  return layouts


# ---------------------------------------------------------------------------
# Verification inputs.

def reachable_words(model: TextEmbedding, vocab_path: str,
                    batch: int = 65536):
  """(words the tokenizer can produce, count of the others, first other).

  A word is reachable when tokenizing it gives exactly that word; the first
  reachable words and the last few are returned as samples.
  """
  first_words, last_words = [], []
  unreachable, example = 0, None
  with open(vocab_path, encoding='utf-8', newline='\n') as f:
    lineno = 0
    while True:
      words = [w.rstrip('\n') for w in f.readlines(batch * 16)]
      if not words:
        break
      tokens = model.tokenize(tf.constant(words)).to_list()
      for w, t in zip(words, tokens):
        lineno += 1
        if len(t) == 1 and t[0].decode('utf-8', 'replace') == w:
          if len(first_words) < 12:
            first_words.append(w)
          last_words = (last_words + [w])[-4:]
        else:
          unreachable += 1
          if example is None:
            example = (lineno, w)
  samples = first_words + [w for w in last_words if w not in first_words]
  return samples, unreachable, example


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
      if row:
        out[i] = combine(tf.gather(model.embeddings, row).numpy(), combiner)
    return out.astype(np.float32)
  return reference


# ---------------------------------------------------------------------------

def export(ctx: driver.Context):
  options = text_embedding()
  dim, oov = options.embedding_dim, options.num_oov_buckets
  with tempfile.TemporaryDirectory(prefix='text_embedding_vocab_') as tmp:
    vocab_path = os.path.join(tmp, VOCAB_ASSET)
    if FLAGS.embedding_file:
      path = FLAGS.embedding_file
      layout = scan_embedding_file(path, dim, options.max_words)
      table = tf.Variable(tf.zeros([layout.rows + oov, dim]),
                          name='embeddings')
      def store(first, rows):
        table.scatter_update(tf.IndexedSlices(
            tf.constant(rows), tf.range(first, first + len(rows))))
      t0 = time.perf_counter()
      with open(vocab_path, 'w', encoding='utf-8', newline='\n') as f:
        stats = read_embedding_file(layout, store, f)
      logging.info('Read %d x %d vectors from %s in %.1f s.', stats['words'],
                   dim, path, time.perf_counter() - t0)
      ctx.add_source('embedding_file', path, words=stats['words'], dim=dim,
                     header=layout.header is not None,
                     gzipped=layout.gzipped,
                     multi_word_entries=stats['multi_word_entries'])
      source = path
    else:
      with open(vocab_path, 'w', encoding='utf-8', newline='\n') as f:
        words = read_vocab_file(FLAGS.vocab_file, f)
      table = tf.Variable(tf.zeros([words + oov, dim]), name='embeddings')
      ctx.restore(
          checkpoint_layouts(options.checkpoint_keys, table), [table],
          hint=f'The table must be [{words} words of --vocab_file + '
          f'{oov} NUM_OOV_BUCKETS, EMBEDDING_DIM = {dim}] under one of '
          f'CHECKPOINT_KEYS {list(options.checkpoint_keys)}: check '
          '--vocab_file, --checkpoint_path and the gin config.')
      ctx.add_source('vocab_file', FLAGS.vocab_file, words=words)
      source = FLAGS.vocab_file
    model = TextEmbedding(table, vocab_path, options)
    samples, unreachable, example = reachable_words(model, vocab_path)
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

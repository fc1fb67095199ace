"""Word-vector files (word2vec, GloVe, fastText text format), read strictly.

    layout = word_vectors.scan(path, dim, max_words)   # header, rows, gzip
    table, stats = word_vectors.load(layout, extra_rows, vocab_out)
                                 # tf.Variable [rows + extra_rows, dim]

The format: one `word v1 ... vD` per line, optionally a first line `count D`
(word2vec, fastText `.vec`), optionally gzipped (told by its magic bytes, not
its name), UTF-8 (a byte order mark and `\r\n` endings are accepted), blank
lines ignored. GloVe-840B style entries whose word contains spaces (". . .")
are kept. A file with a header is read in one streaming pass, one without in
two (the first counts the rows); values are parsed `CHUNK_ROWS` rows at a
time straight into the table, so memory holds one copy of it. Files of
`progress_min_bytes` (64 MB) or more show a progress bar on stderr.

A malformed file stops with `ExportError` naming the line and the fix:
ragged rows (also a file cut in the middle of a row, which leaves its last
row short), non-numeric or non-finite values, duplicate words, words that are
not UTF-8, a header that does not match the rows or the expected dimension
(a file with a header cut at a row boundary has fewer rows than it says),
binary word2vec files, a gzip stream that is truncated or damaged, a path
that is not a regular file. A headerless file cut exactly at a row boundary
cannot be told from a shorter file; one that ends without a newline (every
writer ends rows with one) is read with a warning, since a cut inside its
last number would still parse.
"""
import dataclasses
import gzip
import os
import sys
from typing import Callable, List, Optional, Tuple
import zlib

from absl import logging
import numpy as np
import tensorflow as tf

from official.hub_export import vocab
from official.hub_export.spec import ExportError

CHUNK_ROWS = 8192            # Rows parsed before they are copied to the table.
PROGRESS_MIN_BYTES = 64 << 20  # Files from this size on get a progress bar.


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

  def __init__(self, path, desc, size, min_bytes):
    self.bar = None
    if size >= min_bytes:
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


def scan(path: str, dim: int, max_words: Optional[int] = None,
         progress_min_bytes: int = PROGRESS_MIN_BYTES) -> FileLayout:
  """First look at an embedding file: its header, or its number of vectors.

  With a `count dim` header line this reads one line; without, it counts the
  non-blank lines (one fast pass). `dim` is the dimension expected (the
  recipe's EMBEDDING_DIM); `max_words` keeps the first N vectors only.
  """
  vocab.require_file(path, '--embedding_file', 'the word-vector file')
  with _Reader(path) as r:
    try:
      head = r.lines.read(1 << 16)
    except (OSError, EOFError, zlib.error) as e:
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
    try:
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
          progress = _Progress(path, 'counting lines of', r.size,
                               progress_min_bytes)
        count += 1
        if max_words and count >= max_words:
          break
        if progress is not None and not count % CHUNK_ROWS:
          progress.update(r.position())
    except (OSError, EOFError, zlib.error) as e:
      raise ExportError(f'cannot read {path}: {e}; is the file complete?'
                        ) from None
    finally:
      if progress is not None:
        progress.close()
  if header is not None:
    count = header[0]
  if not count:
    raise ExportError(f'{path} holds no word vectors: check --embedding_file')
  rows = min(count, max_words) if max_words else count
  return FileLayout(path, header, rows, dim, r.gzipped)


def read(layout: FileLayout, store: Callable[[int, np.ndarray], None],
         vocab_out, progress_min_bytes: int = PROGRESS_MIN_BYTES) -> dict:
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
  unterminated = None  # The last row read, when the file ends inside it.
  buf = np.empty((CHUNK_ROWS, dim), np.float32)
  lines = []
  with _Reader(path) as r:
    progress = _Progress(path, 'reading', r.size, progress_min_bytes)

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
        unterminated = lineno if not line.endswith(b'\n') else None
        if len(lines) == CHUNK_ROWS:
          flush()
          buf = np.empty((CHUNK_ROWS, dim), np.float32)
      if lines:
        flush()
    except (OSError, EOFError, zlib.error) as e:
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
  if unterminated:
    # Writers end every row with a newline; a file cut inside its last
    # number still parses, so say so (a hand-written file may just lack it).
    logging.warning(
        '%s ends without a newline after line %d: if the file was cut short, '
        'the last value of that line may be incomplete; check the end of '
        'the file.', path, unterminated)
  return {'words': n, 'multi_word_entries': multi}




def load(layout: FileLayout, extra_rows: int, vocab_out,
         name: str = 'embeddings',
         progress_min_bytes: int = PROGRESS_MIN_BYTES
         ) -> Tuple[tf.Variable, dict]:
  """Reads `layout` into a new float32 variable of `[rows + extra_rows,
  dim]` (the extra rows, e.g. OOV buckets, stay zero). Returns the variable
  and `read`'s statistics."""
  table = tf.Variable(tf.zeros([layout.rows + extra_rows, layout.dim]),
                      name=name)

  def store(first, rows):
    table.scatter_update(tf.IndexedSlices(
        tf.constant(rows), tf.range(first, first + len(rows))))
  stats = read(layout, store, vocab_out, progress_min_bytes)
  return table, stats

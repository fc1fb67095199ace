"""The word-vector file reader (official/hub_export/word_vectors.py)."""
import gzip
import io

import numpy as np
import pytest

from official.hub_export import word_vectors
from official.hub_export.spec import ExportError


def read(path, dim=3, max_words=None, **kwargs):
  """Scans and reads `path` as the recipe does; (words, table, stats)."""
  layout = word_vectors.scan(str(path), dim, max_words, **kwargs)
  table = np.full([layout.rows, dim], np.nan, np.float32)
  def store(first, rows):
    table[first:first + len(rows)] = rows
  vocab = io.StringIO()
  stats = word_vectors.read(layout, store, vocab, **kwargs)
  return vocab.getvalue().splitlines(), table, stats


GOOD = 'a 1 2 3\nb 4 5 6\nc 7 8 9.5\n'


@pytest.mark.parametrize('text,fragments', [
    ('3 3\n' + GOOD.replace('b 4 5 6', 'b 4 5'),
     ['line 3 has 2 values, expected 3', 'header']),
    (GOOD.replace('b 4 5 6', 'b 4 5 6 7'), ['line 2 has 4 values, expected 3']),
    ('3 3\n' + GOOD.replace('5 6', '5 x6'), ['line 3', "'x6' is not a number"]),
    (GOOD.replace('c 7', 'a 7'), ['line 3', "duplicate word 'a'",
                                  'first on line 1']),
    ('3 4\n' + GOOD, ['line 1', 'header says 4-dimensional',
                      'EMBEDDING_DIM = 3']),
    ('4 3\n' + GOOD, ['header on line 1 says the file holds 4 words, but it '
                      'has 3']),
    ('2 3\n' + GOOD, ['line 4', 'header on line 1 says the file holds 2 words,'
                      ' but there are more']),
    ('a 1 2\nb 3 4\n', ['line 1 has 2 values but the config says '
                        'EMBEDDING_DIM = 3']),
    (GOOD.replace('8 9.5', '8 nan'), ['line 3', 'value nan is not finite']),
    (GOOD.replace('5 6', '5 inf'), ['line 2', 'value inf is not finite']),
    ('', ['holds no word vectors']),
    ('\n \n', ['holds no word vectors']),
    ('3000 3\n\x00\x01\x02binary', ['not a text word-vector file', 'binary']),
])
def test_malformed_files_name_the_problem(tmp_path, text, fragments):
  path = tmp_path / 'bad.txt'
  path.write_bytes(text.encode('utf-8'))
  with pytest.raises(ExportError) as e:
    read(path)
  message = str(e.value)
  assert '\n' not in message
  assert message.startswith(str(path)) or str(path) in message
  for f in fragments:
    assert f in message, message


def test_non_utf8_word_names_the_line(tmp_path):
  path = tmp_path / 'latin1.txt'
  path.write_bytes(GOOD.encode() + b'caf\xe9 1 2 3\n')
  with pytest.raises(ExportError, match='line 4: the word is not UTF-8'):
    read(path)


def test_reader_formats(tmp_path):
  # Header; headerless with a byte order mark, CRLF, blank lines, trailing
  # spaces; gzipped; GloVe-840B style multi-word entries; max_words.
  want = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9.5]], np.float32)
  cases = {
      'h.txt': ('3 3\n' + GOOD).encode(),
      'bom.vec': b'\xef\xbb\xbf' + GOOD.replace('\n', ' \r\n\n').encode(),
  }
  for name, data in cases.items():
    (tmp_path / name).write_bytes(data)
  with gzip.open(tmp_path / 'g.txt.gz', 'wb') as f:
    f.write(GOOD.encode())
  for name in ['h.txt', 'bom.vec', 'g.txt.gz']:
    words, table, stats = read(tmp_path / name)
    assert words == ['a', 'b', 'c'], name
    np.testing.assert_array_equal(table, want, err_msg=name)
    assert stats == {'words': 3, 'multi_word_entries': 0}
  (tmp_path / 'glove.txt').write_text('a 1 2 3\n. . . 4 5 6\nc 7 8 9.5\n')
  words, table, stats = read(tmp_path / 'glove.txt')
  assert words == ['a', '. . .', 'c'] and stats['multi_word_entries'] == 1
  np.testing.assert_array_equal(table, want)
  words, table, _ = read(tmp_path / 'h.txt', max_words=2)
  assert words == ['a', 'b']
  np.testing.assert_array_equal(table, want[:2])


def test_progress_bar_only_for_large_files(tmp_path, capsys):
  (tmp_path / 'v.txt').write_text(GOOD)
  read(tmp_path / 'v.txt')  # The default threshold: 64 MB.
  assert capsys.readouterr().err == ''
  size = (tmp_path / 'v.txt').stat().st_size
  read(tmp_path / 'v.txt', progress_min_bytes=size)
  err = capsys.readouterr().err
  assert 'counting lines of v.txt' in err and 'reading v.txt' in err, err
  read(tmp_path / 'v.txt', progress_min_bytes=size + 1)
  assert capsys.readouterr().err == ''


def test_load_fills_a_variable_and_leaves_extra_rows_zero(tmp_path):
  (tmp_path / 'v.txt').write_text(GOOD)
  layout = word_vectors.scan(str(tmp_path / 'v.txt'), 3)
  vocab = io.StringIO()
  table, stats = word_vectors.load(layout, 2, vocab)
  np.testing.assert_array_equal(
      table.numpy(), [[1, 2, 3], [4, 5, 6], [7, 8, 9.5], [0, 0, 0], [0, 0, 0]])
  assert vocab.getvalue() == 'a\nb\nc\n' and stats['words'] == 3


def test_damaged_gzip_names_the_file(tmp_path):
  data = gzip.compress(''.join(f'w{i} {i} 1 2\n' for i in range(3000))
                       .encode())
  (tmp_path / 'cut.txt.gz').write_bytes(data[:len(data) // 2])
  with pytest.raises(ExportError, match='cut.txt.gz.*complete'):
    read(tmp_path / 'cut.txt.gz')


def test_file_ending_without_newline_warns(tmp_path, caplog):
  (tmp_path / 'v.txt').write_text(GOOD.rstrip('\n'))
  words, _, _ = read(tmp_path / 'v.txt')
  assert words == ['a', 'b', 'c']
  assert 'without a newline after line 3' in caplog.text, caplog.text
  caplog.clear()
  (tmp_path / 'v.txt').write_text(GOOD)
  read(tmp_path / 'v.txt')
  assert 'newline' not in caplog.text

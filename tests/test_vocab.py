"""Vocabulary files (official/hub_export/vocab.py); the recipes' command-line
cases are in tests/test_hostile_inputs.py."""
import pytest
import tensorflow as tf

from official.hub_export import vocab
from official.hub_export.spec import ExportError


@pytest.mark.parametrize('data, fragment', [
    (b'a\nb\n\nc\n', 'line 3 is empty'),
    (b'a\nb\n \nc\n', 'line 3 is empty'),
    (b'a\nb\na\n', "line 3: duplicate word 'a' (first on line 1)"),
    (b'a\ncaf\xe9\n', 'line 2 is not UTF-8'),
    (b'', 'is empty: pass the vocabulary'),
])
def test_malformed_vocabulary_names_the_line(tmp_path, data, fragment):
  (tmp_path / 'v.txt').write_bytes(data)
  with pytest.raises(ExportError) as e:
    vocab.read_vocab(str(tmp_path / 'v.txt'), '--vocab_file')
  assert fragment in str(e.value) and '\n' not in str(e.value)


def test_copy_strips_bom_and_crlf(tmp_path):
  (tmp_path / 'v.txt').write_bytes(b'\xef\xbb\xbfa\r\nb\r\nc')
  out = tmp_path / 'copy.txt'
  assert vocab.copy_vocab(str(tmp_path / 'v.txt'), '--v', str(out)) == [
      'a', 'b', 'c']
  assert out.read_bytes() == b'a\nb\nc\n'


def test_reachable_words(tmp_path):
  def tokenize(strings):  # Lower-cases and splits on '.'.
    return tf.strings.split(tf.strings.regex_replace(
        tf.strings.lower(strings), r'\.', ' '))
  (tmp_path / 'v.txt').write_text('cat\nParis\ndog\na.b\n')
  samples, unreachable, example = vocab.reachable_words(
      tokenize, str(tmp_path / 'v.txt'))
  assert samples == ['cat', 'dog'] and unreachable == 2
  assert example == (2, 'Paris')

"""Vocabulary files (one token per line), read strictly.

    tokens = vocab.read_vocab(path, '--vocab_file')
    vocab.copy_vocab(path, '--vocab_file', 'assets/vocab.txt')
    vocab.reachable_words(model.tokenize, 'assets/vocab.txt')

Line i names token i, so a vocabulary that is not one distinct token per
line gives wrong or failing lookups later, far from their cause (a blank
line is a token no tokenizer produces and shifts the count; of a repeated
token, one row can never be looked up). `read_vocab` refuses, naming the
line and the fix:
a path that is not a regular file (a directory, a FIFO), an unreadable file,
bytes that are not UTF-8, an empty or whitespace-only line, a token that
appears twice, an empty file. A UTF-8 byte order mark on line 1 and `\\r\\n`
line endings are accepted (TensorFlow's text-file lookup tables strip the
`\\r` too).
"""
import os
from typing import Callable, List, Optional, Tuple

import tensorflow as tf

from official.hub_export.spec import ExportError


def require_file(path: str, flag: str, what: str = 'the vocabulary') -> None:
  """`path` is an existing, readable regular file, else ExportError."""
  if not os.path.lexists(path):
    raise ExportError(f'{flag} {path} does not exist: check {flag} (it '
                      f'names {what})')
  if os.path.isdir(path):
    raise ExportError(f'{flag} {path} is a directory: pass the file of {what}')
  if not os.path.isfile(path):
    raise ExportError(f'{flag} {path} is not a regular file (a FIFO or a '
                      f'device?): pass the file of {what}')
  if not os.access(path, os.R_OK):
    raise ExportError(f'{flag} {path} is not readable (permission denied): '
                      'fix its permissions (chmod +r)')


def read_vocab(path: str, flag: str) -> List[str]:
  """The tokens of a vocabulary file, line i naming token i."""
  require_file(path, flag)
  tokens, seen = [], {}
  with open(path, 'rb') as f:
    for lineno, line in enumerate(f, 1):
      if lineno == 1 and line.startswith(b'\xef\xbb\xbf'):
        line = line[3:]  # UTF-8 byte order mark.
      line = line.rstrip(b'\r\n')
      try:
        token = line.decode('utf-8')
      except UnicodeDecodeError:
        raise ExportError(f'{path} line {lineno} is not UTF-8 text: '
                          're-encode the file as UTF-8') from None
      if not token.strip():
        raise ExportError(f'{path} line {lineno} is empty: every line names '
                          'one token (line i is id i); remove blank lines')
      first = seen.setdefault(token, lineno)
      if first != lineno:
        raise ExportError(f'{path} line {lineno}: duplicate word {token!r} '
                          f'(first on line {first}): remove one of the two')
      tokens.append(token)
  if not tokens:
    raise ExportError(f'{flag} {path} is empty: pass the vocabulary the '
                      'model was trained with')
  return tokens


def copy_vocab(path: str, flag: str, out_path: str) -> List[str]:
  """`read_vocab`, then writes the tokens to `out_path` (UTF-8, `\\n` line
  endings, no byte order mark: the form an exported asset takes)."""
  tokens = read_vocab(path, flag)
  with open(out_path, 'w', encoding='utf-8', newline='\n') as f:
    f.writelines(token + '\n' for token in tokens)
  return tokens


def reachable_words(tokenize: Callable[[tf.Tensor], tf.RaggedTensor],
                    vocab_path: str, batch: int = 65536
                    ) -> Tuple[List[str], int, Optional[Tuple[int, str]]]:
  """Which words of a vocabulary a tokenizer can produce.

  A word is reachable when `tokenize([word])` gives exactly that word (a
  lower-casing tokenizer never produces `Paris`). Returns (samples: the
  first reachable words and the last few, the number of unreachable words,
  (line, word) of the first unreachable one or None).
  """
  first_words, last_words = [], []
  unreachable, example = 0, None
  with open(vocab_path, encoding='utf-8', newline='\n') as f:
    lineno = 0
    while True:
      words = [w.rstrip('\n') for w in f.readlines(batch * 16)]
      if not words:
        break
      tokens = tokenize(tf.constant(words)).to_list()
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

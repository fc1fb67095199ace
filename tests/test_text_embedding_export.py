"""Regression tests of the text-embedding recipe (text_embedding_export.py).

The recipe runs end to end through its command line on word-vector files the
tests write (with and without the `count dim` header, plain and gzipped) and
on the committed checkpoint; outputs are compared with an independent NumPy
implementation of the documented tokenization and combiners (below, written
from the recipe's docstring, not from its code).
"""
import gzip
import importlib.util
import json
import os
import re
import unicodedata

import numpy as np
import pytest
import tensorflow as tf

import lowlevel_family
from conftest import (ROOT, TESTDATA, assert_golden, assert_ok,  # pylint: disable=g-multiple-import,g-bad-import-order
                      assert_one_line_error, run_script)

DATA = os.path.join(TESTDATA, 'text_embedding')
GOLDEN_CKPT = os.path.join(DATA, 'golden', 'from_checkpoint.npz')
TINY = '--gin_file=configs/text_embedding/tiny.gin'


# ---------------------------------------------------------------------------
# The NumPy reference: the tokenization and combiners as documented.

def ref_tokens(sentence, lower_case=True, punctuation='remove'):
  s = sentence.lower() if lower_case else sentence
  out = []
  for ch in s:
    category = unicodedata.category(ch)
    if category.startswith('P') and punctuation == 'remove':
      continue
    if category.startswith('P') and punctuation == 'split':
      out.append(f' {ch} ')
    elif category in ('Zs', 'Zl', 'Zp'):
      out.append(' ')
    else:
      out.append(ch)
  return [t for t in re.split('[ \t\n\v\f\r]+', ''.join(out)) if t]


def ref_bucket(token, num_buckets):
  # The documented OOV hash: tf.strings.to_hash_bucket_fast.
  if num_buckets == 1:
    return 0
  return int(tf.strings.to_hash_bucket_fast(token, num_buckets).numpy())


def ref_embed(sentences, words, table, num_oov_buckets=1, combiner='sqrtn',
              lower_case=True, punctuation='remove'):
  index = {w: i for i, w in enumerate(words)}
  out = np.zeros([len(sentences), table.shape[1]], np.float64)
  for i, s in enumerate(sentences):
    rows = []
    for t in ref_tokens(s, lower_case, punctuation):
      if t in index:
        rows.append(index[t])
      elif num_oov_buckets:
        rows.append(len(words) + ref_bucket(t, num_oov_buckets))
    if not rows:
      continue
    total = table[rows].astype(np.float64).sum(axis=0)
    out[i] = {'sum': total, 'mean': total / len(rows),
              'sqrtn': total / np.sqrt(len(rows))}[combiner]
  return out


def parse_vectors(path):
  """Independent reader of the test files: (words, float32 table)."""
  opener = gzip.open if path.endswith('.gz') else open
  with opener(path, 'rt', encoding='utf-8') as f:
    lines = [l.split() for l in f if l.strip()]
  if len(lines[0]) == 2:
    lines = lines[1:]
  words = [l[0] for l in lines]
  table = np.array([[np.float32(float(x)) for x in l[1:]] for l in lines],
                   np.float32)
  return words, table


SENTENCES = [
    'The cat sat on the mat.',
    'CAFÉ naïve Straße 東京',
    'Hello, World!  hello\tworld',
    "don't stop; the dog's bone",
    '',
    '   ',
    '?!...',
    'unknownword anotherunknown',
    'cat qqzz',
    'good movie',
    'good\u00a0movie\u3000great film 2024',
    'the the the the the the the the the the the the the the cat',
]


# ---------------------------------------------------------------------------
# Files the tests write, and the exports made from them (once per session).

WORDS_A = ['the', 'of', 'and', 'cat', 'dog', 'sat', 'on', 'mat', 'café',
           'naïve', 'straße', '東京', '2024', 'hello', 'world', 'good', 'bad',
           'movie', 'great', 'film', 'stop', 'dont', 'dogs', 'bone']
WORDS_B = WORDS_A + [',', '.', '!', 'Paris', 'Hello', "don't"]


def write_vectors(path, words, dim, seed, header=True, fasttext_style=False):
  rng = np.random.RandomState(seed)
  table = rng.uniform(-1, 1, [len(words), dim])
  lines = [f'{len(words)} {dim}\n'] if header else []
  for w, row in zip(words, table):
    lines.append(w + ' ' + ' '.join(f'{x:.6f}' for x in row)
                 + (' \n' if fasttext_style else '\n'))
  opener = gzip.open if path.endswith('.gz') else open
  with opener(path, 'wt', encoding='utf-8', newline='\n') as f:
    f.writelines(lines)
  return path


@pytest.fixture(scope='session')
def te():
  """The recipe module, imported without defining its flags."""
  path = os.path.join(ROOT, 'export_scripts', 'text_embedding_export.py')
  spec = importlib.util.spec_from_file_location('text_embedding_export', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.fixture(scope='session')
def files(session_tmp):
  d = session_tmp / 'text_embedding_files'
  d.mkdir()
  return {
      'a': write_vectors(str(d / 'a.txt'), WORDS_A, 8, seed=1),
      'b': write_vectors(str(d / 'b.vec.gz'), WORDS_B, 6, seed=2,
                         header=False, fasttext_style=True),
  }


OPTIONS_B = dict(num_oov_buckets=0, combiner='mean', lower_case=False,
                 punctuation='split')


@pytest.fixture(scope='session')
def export_a(session_tmp, files):
  """Header file, default tokenization, sqrt-n, 1 OOV bucket, L2 0.001."""
  out = str(session_tmp / 'te_a')
  proc = run_script('text_embedding_export.py', TINY,
                    f'--embedding_file={files["a"]}', f'--export_dir={out}',
                    "--gin_params=EMBEDDING_DIM = 8",
                    '--gin_params=L2_REGULARIZATION = 0.001')
  assert_ok(proc)
  return out, proc


@pytest.fixture(scope='session')
def export_b(session_tmp, files):
  """Headerless gzipped fastText-style file, mean, no OOV bucket, cased,
  punctuation split."""
  out = str(session_tmp / 'te_b')
  proc = run_script('text_embedding_export.py', TINY,
                    f'--embedding_file={files["b"]}', f'--export_dir={out}',
                    '--gin_params=EMBEDDING_DIM = 6',
                    '--gin_params=NUM_OOV_BUCKETS = 0',
                    "--gin_params=COMBINER = 'mean'",
                    '--gin_params=LOWER_CASE = False',
                    "--gin_params=PUNCTUATION = 'split'")
  assert_ok(proc)
  return out, proc


@pytest.fixture(scope='session')
def export_ckpt(session_tmp):
  out = str(session_tmp / 'te_ckpt')
  proc = run_script('text_embedding_export.py', TINY,
                    f'--checkpoint_path={os.path.join(DATA, "ckpt")}',
                    f'--vocab_file={os.path.join(DATA, "vocab.txt")}',
                    f'--export_dir={out}')
  assert_ok(proc)
  return out, proc


def record(export_dir):
  with open(os.path.join(export_dir, 'assets.extra',
                         'export_record.json')) as f:
    return json.load(f)


def embed(export_dir, sentences):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  obj = hub.load(export_dir)
  return obj(tf.constant(sentences, tf.string), training=False).numpy(), obj


# ---------------------------------------------------------------------------
# The low-level family's contract on the committed tiny file.

class TestLowLevelFamily(lowlevel_family.Contract):
  member = lowlevel_family.Member(
      recipe='text_embedding', args=(TINY, '--embedding_file={data}/vectors.txt'),
      golden='text_embedding.npz',
      bad_choice=("COMBINER = 'max'",
                  "gin: text_embedding.combiner = 'max' is invalid: use "
                  "'sqrtn' or 'mean' or 'sum'"))

  def test_words_the_tokenizer_cannot_produce_are_reported(self, exported):
    # The committed file has words the default tokenizer cannot produce.
    stderr = exported[1].stderr
    assert '2 of 14 words' in stderr and "'Paris'" in stderr, stderr


# ---------------------------------------------------------------------------
# End to end.

def test_end_to_end_header_file(export_a, files):
  out, proc = export_a
  assert 'verified: ' in proc.stdout and 'checks passed' in proc.stdout
  assert 'peak memory (RSS)' in proc.stdout
  assert proc.stderr.strip() == '', proc.stderr  # Quiet: no progress, no warning.
  rec = record(out)
  assert rec['recipe'] == 'text_embedding'
  assert rec['verification']['failed'] == 0
  if os.path.exists('/proc/self/status'):  # Linux: VmHWM of the checks.
    peak = rec['verification']['info']['peak_rss_bytes']
    assert 100 << 20 < peak < 8 << 30, peak
  src = rec['source']['inputs']['embedding_file']
  assert (src['words'], src['dim'], src['header'], src['gzipped']) == (
      len(WORDS_A), 8, True, False)
  assert 'checkpoint' not in rec['source']
  assert rec['api']['task'] == 'text-embedding'
  with open(os.path.join(out, 'assets', 'vocab.txt'), encoding='utf-8') as f:
    assert f.read().splitlines() == WORDS_A
  # The table is the file's vectors, number for number, then one zero OOV row.
  words, table = parse_vectors(files['a'])
  _, obj = embed(out, [''])
  exported = obj.embeddings.numpy()
  assert exported.shape == (len(WORDS_A) + 1, 8)
  np.testing.assert_array_equal(exported[:-1], table)
  np.testing.assert_array_equal(exported[-1], 0)
  assert [v.shape.as_list() for v in obj.trainable_variables] == [[25, 8]]
  (loss,) = obj.regularization_losses
  np.testing.assert_allclose(loss().numpy(),
                             0.001 * np.sum(table.astype(np.float64)**2),
                             rtol=1e-5)


def test_end_to_end_headerless_gzipped_file(export_b, files):
  out, proc = export_b
  assert 'checks passed' in proc.stdout
  # "don't" is split by PUNCTUATION = 'split': reported, not fatal.
  assert '1 of 30 words' in proc.stderr and "\"don't\", word 30" in \
      proc.stderr, proc.stderr
  src = record(out)['source']['inputs']['embedding_file']
  assert (src['words'], src['header'], src['gzipped']) == (30, False, True)
  words, table = parse_vectors(files['b'])
  got, obj = embed(out, SENTENCES)
  assert obj.embeddings.shape == (30, 6)  # No OOV bucket.
  assert not obj.regularization_losses
  np.testing.assert_allclose(got, ref_embed(SENTENCES, words, table,
                                            **OPTIONS_B), rtol=0, atol=1e-6)


def test_end_to_end_checkpoint(export_ckpt):
  out, proc = export_ckpt
  assert 'checks passed' in proc.stdout
  assert "layout 'model/layer_with_weights-0/embeddings'" in proc.stdout
  rec = record(out)
  ck = rec['source']['checkpoint']
  assert ck['restored_variables'] == 1 and ck['parameters'] == 11 * 4
  assert ck['ignored_checkpoint_values'] > 0  # Head and optimizer slots.
  assert rec['source']['inputs']['vocab_file']['words'] == 10
  want = tf.train.load_checkpoint(os.path.join(DATA, 'ckpt')).get_tensor(
      'model/layer_with_weights-0/embeddings/.ATTRIBUTES/VARIABLE_VALUE')
  with open(os.path.join(DATA, 'vocab.txt'), encoding='utf-8') as f:
    words = f.read().splitlines()
  got, obj = embed(out, SENTENCES)
  np.testing.assert_array_equal(obj.embeddings.numpy(), want)
  np.testing.assert_allclose(got, ref_embed(SENTENCES, words, want),
                             rtol=0, atol=1e-6)


def test_outputs_equal_numpy_reference(export_a, files):
  words, table = parse_vectors(files['a'])
  got, _ = embed(export_a[0], SENTENCES)
  want = ref_embed(SENTENCES, words, np.concatenate([table, np.zeros([1, 8])]))
  assert np.abs(want).sum(axis=1)[0] > 0
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_oov_and_empty_inputs(export_a, export_b, files):
  words, table = parse_vectors(files['a'])
  cat = table[words.index('cat')]
  got, obj = embed(export_a[0], ['', ' \t ', '!?', 'qqzz', 'cat', 'cat qqzz',
                                 'Cat, CAT!'])
  assert np.isfinite(got).all()
  np.testing.assert_array_equal(got[:4], 0)  # Empty; OOV row starts at zero.
  np.testing.assert_allclose(got[4], cat, atol=1e-7)
  np.testing.assert_allclose(got[5], cat / np.sqrt(2), atol=1e-7)  # OOV counts.
  np.testing.assert_allclose(got[6], cat * np.sqrt(2), atol=1e-6)
  all_empty = obj(tf.constant(['', '']), training=False).numpy()
  np.testing.assert_array_equal(all_empty, np.zeros([2, 8]))
  # No bucket: unknown tokens are ignored, not counted (mean).
  words_b, table_b = parse_vectors(files['b'])
  got_b, _ = embed(export_b[0], ['qqzz', 'cat qqzz', 'cat'])
  np.testing.assert_array_equal(got_b[0], 0)
  np.testing.assert_allclose(got_b[1], table_b[words_b.index('cat')],
                             atol=1e-7)
  np.testing.assert_array_equal(got_b[1], got_b[2])


def test_fine_tuning_changes_table_and_lowers_loss(export_a, files):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  words, table = parse_vectors(files['a'])
  layer = hub.KerasLayer(export_a[0], input_shape=[], dtype=tf.string,
                         trainable=True)
  model = tf_keras.Sequential([
      layer, tf_keras.layers.Dense(1, kernel_initializer='ones')])
  lr, l2, epochs = 0.1, 0.001, 8
  model.compile(optimizer=tf_keras.optimizers.SGD(lr), loss='mse')
  x = np.array(['good movie', 'great film', 'bad movie', 'bad film',
                'good film qqzz', 'bad'], dtype=object)
  y = np.array([[1.], [1.], [-1.], [-1.], [1.], [-1.]], np.float32)
  before = layer.trainable_weights[0].numpy().copy()
  np.testing.assert_allclose(
      float(layer.losses[0]), l2 * np.sum(before.astype(np.float64)**2),
      rtol=1e-5)
  hist = model.fit(x, y, epochs=epochs, batch_size=3, verbose=0)
  losses = hist.history['loss']
  assert losses[-1] < 0.5 * losses[0], losses
  after = layer.trainable_weights[0].numpy()
  # Rows of tokens in the data (and the OOV row, for "qqzz") follow the
  # gradient; every other row only decays under the exported L2 loss:
  # w <- w - lr * 2 * l2 * w at each of the 16 steps.
  touched = sorted({words.index(w) for w in ('good', 'movie', 'great', 'film',
                                             'bad')} | {len(words)})
  untouched = [i for i in range(len(words)) if i not in touched]
  decayed = before * (1 - 2 * lr * l2)**(epochs * 2)
  np.testing.assert_allclose(after[untouched], decayed[untouched], rtol=1e-5)
  moved = np.abs(after - decayed).max(axis=1)
  assert moved[touched].min() > 1e-3, moved


def test_golden_outputs_from_checkpoint(export_ckpt):
  assert_golden(export_ckpt[0], GOLDEN_CKPT)


# ---------------------------------------------------------------------------
# The in-graph model against the NumPy reference, option by option.

@pytest.mark.parametrize('combiner,buckets,lower_case,punctuation', [
    ('sqrtn', 1, True, 'remove'),
    ('mean', 0, True, 'keep'),
    ('sum', 3, False, 'split'),
    ('sum', 0, False, 'remove'),
    ('mean', 2, True, 'split'),
])
def test_model_matches_reference(te, tmp_path, combiner, buckets, lower_case,
                                 punctuation):
  words = WORDS_B
  rng = np.random.RandomState(3)
  table = rng.normal(size=[len(words) + buckets, 5]).astype(np.float32)
  vocab = tmp_path / 'vocab.txt'
  vocab.write_text(''.join(w + '\n' for w in words), encoding='utf-8')
  options = te.Options(embedding_dim=5, num_oov_buckets=buckets,
                              combiner=combiner, lower_case=lower_case,
                              punctuation=punctuation)
  model = te.TextEmbedding(tf.Variable(table), str(vocab), options)
  got = model(tf.constant(SENTENCES), training=False).numpy()
  want = ref_embed(SENTENCES, words, table, buckets, combiner, lower_case,
                   punctuation)
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
  np.testing.assert_array_equal(
      model(tf.constant(SENTENCES), training=True).numpy(), got)


def test_invalid_gin_values(te):
  with pytest.raises(te.ExportError, match=r"combiner = 'max' is invalid"):
    te.Options(embedding_dim=4, combiner='max')
  with pytest.raises(te.ExportError, match='punctuation'):
    te.Options(embedding_dim=4, punctuation='strip')
  with pytest.raises(te.ExportError, match='num_oov_buckets'):
    te.Options(embedding_dim=4, num_oov_buckets=-1)


# ---------------------------------------------------------------------------
# Bad input through the command line: one-line error, nothing written.

def test_malformed_file_command_line(tmp_path):
  bad = tmp_path / 'dup.txt'
  bad.write_text('3 4\nthe 1 2 3 4\ncat 1 2 3 4\nthe 5 6 7 8\n')
  out = tmp_path / 'out'
  proc = run_script('text_embedding_export.py', TINY,
                    f'--embedding_file={bad}', f'--export_dir={out}')
  assert_one_line_error(proc, 'line 4', "duplicate word 'the'",
                        'first on line 2', code=1)
  assert not out.exists()
  assert os.listdir(tmp_path) == ['dup.txt']  # No temporary left behind.


def test_missing_input_is_a_usage_error(tmp_path):
  out = tmp_path / 'out'
  proc = run_script('text_embedding_export.py', TINY, f'--export_dir={out}',
                    f'--vocab_file={tmp_path / "v.txt"}')
  assert_one_line_error(proc, '--embedding_file', '--checkpoint_path',
                        code=2)
  assert not out.exists()


# ---------------------------------------------------------------------------
# Large tables (slow: ~1 min; the closing-note measurement at 200k x 300).

def _peak_export_bytes(stdout):
  m = re.search(r'peak memory \(RSS\): ([\d.]+) (B|KB|MB|GB) export process',
                stdout)
  assert m, stdout
  return float(m.group(1)) * 1024**['B', 'KB', 'MB', 'GB'].index(m.group(2))


@pytest.mark.slow
def test_large_file_streams_into_one_copy_of_the_table(tmp_path, export_a):
  import io  # pylint: disable=g-import-not-at-top
  rows, dim, block = 200_000, 300, 10_000
  path = tmp_path / 'large.txt'
  rng = np.random.RandomState(0)
  with open(path, 'wb') as f:
    f.write(f'{rows} {dim}\n'.encode())
    for start in range(0, rows, block):
      text = io.BytesIO()
      np.savetxt(text, rng.uniform(-1, 1, [block, dim]), fmt='%.6f')
      f.write(b''.join(b'w%d %s\n' % (start + i, line) for i, line in
                       enumerate(text.getvalue().splitlines())))
  out = tmp_path / 'out'
  proc = run_script('text_embedding_export.py',
                    '--gin_file=configs/text_embedding/word_vectors_300.gin',
                    f'--embedding_file={path}', f'--export_dir={out}')
  assert_ok(proc)
  print(proc.stdout)
  table_bytes = (rows + 1) * dim * 4
  # Over the tiny export's footprint (TensorFlow itself), the export process
  # holds one copy of the table plus parse buffers and the words, not the
  # several copies a list-of-lists reader makes.
  extra = _peak_export_bytes(proc.stdout) - _peak_export_bytes(
      export_a[1].stdout)
  assert extra < 1.6 * table_bytes, (extra, table_bytes)
  assert record(str(out))['source']['inputs']['embedding_file']['words'] == \
      rows
  got, obj = embed(str(out), ['w0 w199999', 'W17 w17', ''])
  assert obj.embeddings.shape == (rows + 1, dim)
  with open(path, 'rb') as f:
    lines = f.read().split(b'\n')
  vec = lambda i: np.array(lines[i + 1].split()[1:], np.float32)
  np.testing.assert_allclose(got[0], (vec(0) + vec(199999)) / np.sqrt(2),
                             atol=1e-6)
  np.testing.assert_allclose(got[1], vec(17) * np.sqrt(2), atol=1e-6)
  np.testing.assert_array_equal(got[2], 0)

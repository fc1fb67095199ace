"""Corrupt and hostile inputs: one `error:` line, the right exit status, and
nothing written, for every script (issue 13, item 4).

Each case prepares a damaged or hostile input in its own directory and runs
one script's behaviour on it: the real command line for one case per script,
the library behind it (`cli.exit_status`, as every script runs it, around
`driver.export_main` or the function the script calls) for the rest, which
gives the same exit status and stderr without a new TensorFlow process per
case. The one test body asserts, for every case: the exit status (1 input,
2 usage), exactly one `error: ` line naming the problem and its fix, no
traceback, and a destination (`--export_dir`/`--output`/the archive) that is
byte for byte what it was, with no temporary files beside it.

Unreadable files: the tests run as root here, where permission bits do not
stop reads, so the honest cases are a directory or a FIFO where a file is
expected (and /sys, where even root cannot create a directory, for an
unwritable parent); the chmod cases run only when not root and are skipped
with that reason otherwise.

`test_a_flipped_byte_never_restores_wrong_values` inverts bytes of a
checkpoint's index and data one at a time: every flip either stops the
restore or changes nothing restored (all bytes with `-m slow`).
"""
import dataclasses
import gzip
import io
import os
import shutil
import tarfile
from typing import Callable, Optional, Sequence, Tuple

from absl import flags
from absl.testing import flagsaver
import gin
import numpy as np
import pytest
import tensorflow as tf

from conftest import TESTDATA, run_script
from official.hub_export import cli
from official.hub_export import driver
from official.hub_export import package
from official.hub_export import restore
from official.hub_export import word_vectors

FLAGS = flags.FLAGS
ROOT_USER = hasattr(os, 'geteuid') and os.geteuid() == 0
NOT_AS_ROOT = pytest.mark.skipif(
    ROOT_USER, reason='runs as root, which reads and writes whatever the '
    'permission bits say (the directory, FIFO and /sys cases cover it)')
VOCAB = os.path.join(TESTDATA, 'bert', 'vocab.txt')


# --------------------------------------------------------------- fixtures


class _Model(tf.Module):

  def __init__(self):
    super().__init__()
    self.w = tf.Variable(tf.zeros([1000]), name='w')
    self.v = tf.Variable(0.0, name='v')


_W = np.arange(1000, dtype=np.float32) / 7


@pytest.fixture(scope='session')
def pristine(session_tmp):
  """A checkpoint of `_Model` (restores cleanly: checked here once)."""
  m = _Model()
  m.w.assign(_W)
  m.v.assign(2.0)
  prefix = tf.train.Checkpoint(model=m).write(
      str(session_tmp / 'hostile_ckpt' / 'ckpt'))
  fresh = _Model()
  restore.restore(prefix, [restore.Layout('model', model=fresh)],
                  fresh.variables)
  np.testing.assert_array_equal(fresh.w.numpy(), _W)
  return prefix


def _copy_checkpoint(prefix, directory, name='ckpt'):
  os.makedirs(directory, exist_ok=True)
  out = os.path.join(directory, name)
  for f in restore.checkpoint_files(prefix):
    shutil.copyfile(f, out + f[len(prefix):])
  return out


def _data(prefix):
  return prefix + '.data-00000-of-00001'


def _flip(path, offset):
  data = bytearray(open(path, 'rb').read())
  data[offset] ^= 0xFF
  open(path, 'wb').write(bytes(data))


def _truncate(path, size):
  data = open(path, 'rb').read()
  open(path, 'wb').write(data[:size])


# ---------------------------------------------------------------- runners


@dataclasses.dataclass
class Env:
  tmp: str
  pristine: str
  capsys: object


def _in_process(env: Env, main: Callable[[], int]) -> Tuple[int, str]:
  """(exit status, stderr) of `main` run as every script runs it."""
  env.capsys.readouterr()
  code = cli.exit_status(main)
  return code, env.capsys.readouterr().err


def _must_not_run(ctx):
  raise AssertionError('the recipe ran although the inputs were refused')


def _restoring(ctx):
  m = _Model()
  ctx.restore([restore.Layout('model', model=m)], required=m.variables)
  raise AssertionError('a damaged checkpoint was restored')


def _gin(env, text='# No bindings.\n', name='test.gin'):
  os.makedirs(os.path.join(env.tmp, 'gin'), exist_ok=True)
  path = os.path.join(env.tmp, 'gin', name)
  with open(path, 'w') as f:
    f.write(text)
  return path


def _export(env, export_fn=_must_not_run, checkpoint=None, export_dir=None,
            config=None, extra=(), needs_checkpoint=True):
  """Runs `export_fn` under the driver with these flags, in this process."""
  argv = ['prog', f'--gin_file={config or _gin(env)}',
          f'--export_dir={export_dir or os.path.join(env.tmp, "out")}',
          *extra]
  if checkpoint:
    argv.append(f'--checkpoint_path={checkpoint}')

  def main():
    gin.clear_config()
    with flagsaver.flagsaver():
      FLAGS(argv)
      try:
        return driver.export_main(export_fn, 'hostile', needs_checkpoint)
      finally:
        gin.clear_config()
  return _in_process(env, main)


def _script(name, *args):
  proc = run_script(name, *args)
  return proc.returncode, proc.stderr


# ------------------------------------------------------------------ cases
# Each case: (env) -> (destination, run), run() -> (exit status, stderr).

CASES = []


def case(case_id, code, *fragments, marks=()):
  def register(fn):
    CASES.append(pytest.param(fn, code, fragments, id=case_id, marks=marks))
    return fn
  return register


def _out(env):
  return os.path.join(env.tmp, 'out')


# Checkpoints.

@case('bert-cli-data-truncated', 1, 'is truncated', 'copy the checkpoint '
      'again')
def _(env):
  prefix = _copy_checkpoint(os.path.join(TESTDATA, 'bert', 'ckpt'),
                            os.path.join(env.tmp, 'ck'))
  _truncate(_data(prefix), os.path.getsize(_data(prefix)) // 2)
  return _out(env), lambda: _script(
      'bert_export.py', '--gin_file=configs/bert/tiny.gin',
      f'--checkpoint_path={prefix}', f'--vocab_file={VOCAB}',
      f'--export_dir={_out(env)}')


@case('data-empty', 1, 'is truncated')
def _(env):
  prefix = _copy_checkpoint(env.pristine, os.path.join(env.tmp, 'ck'))
  _truncate(_data(prefix), 0)
  return _out(env), lambda: _export(env, checkpoint=prefix)


@case('mul-cli-data-flipped-byte', 1, 'does not match its checksum')
def _(env):
  prefix = _copy_checkpoint(os.path.join(TESTDATA, 'mul', 'ckpt'),
                            os.path.join(env.tmp, 'ck'))
  data = open(_data(prefix), 'rb').read()
  at = data.find(np.float32(2.0).tobytes())  # v = 2.0: flip its exponent.
  assert at >= 0 and data.count(np.float32(2.0).tobytes()) == 1
  _flip(_data(prefix), at + 3)
  return _out(env), lambda: _script(
      'mul_export.py', '--gin_file=configs/mul/tiny.gin',
      f'--checkpoint_path={prefix}', f'--export_dir={_out(env)}')


@case('data-flipped-byte', 1, 'does not match its checksum')
def _(env):
  prefix = _copy_checkpoint(env.pristine, os.path.join(env.tmp, 'ck'))
  at = open(_data(prefix), 'rb').read().find(_W.tobytes())
  assert at >= 0
  _flip(_data(prefix), at + 2001)  # Inside w's values.
  return _out(env), lambda: _export(env, _restoring, checkpoint=prefix)


@case('index-truncated', 1, 'is damaged: its index')
def _(env):
  prefix = _copy_checkpoint(env.pristine, os.path.join(env.tmp, 'ck'))
  _truncate(prefix + '.index', os.path.getsize(prefix + '.index') // 2)
  return _out(env), lambda: _export(env, checkpoint=prefix)


@case('index-flipped-byte', 1, 'is damaged: its index')
def _(env):
  prefix = _copy_checkpoint(env.pristine, os.path.join(env.tmp, 'ck'))
  _flip(prefix + '.index', 20)  # Inside the first (checksummed) block.
  return _out(env), lambda: _export(env, checkpoint=prefix)


@case('data-missing', 1, 'is incomplete', 'data-00000-of-00001 is missing')
def _(env):
  prefix = _copy_checkpoint(env.pristine, os.path.join(env.tmp, 'ck'))
  os.remove(_data(prefix))
  return _out(env), lambda: _export(env, checkpoint=prefix)


@case('data-is-a-directory', 1, 'is a directory', 'checkpoint data file')
def _(env):
  prefix = _copy_checkpoint(env.pristine, os.path.join(env.tmp, 'ck'))
  os.remove(_data(prefix))
  os.mkdir(_data(prefix))
  return _out(env), lambda: _export(env, checkpoint=prefix)


@case('data-unreadable-chmod-000', 1, 'not readable', marks=NOT_AS_ROOT)
def _(env):
  prefix = _copy_checkpoint(env.pristine, os.path.join(env.tmp, 'ck'))
  os.chmod(_data(prefix), 0)
  return _out(env), lambda: _export(env, checkpoint=prefix)


@case('mobilenet-cli-checkpoint-file-names-missing-prefix', 1,
      'names checkpoint', 'ckpt-2', 'does not exist', 'present: ckpt-1')
def _(env):
  directory = os.path.join(env.tmp, 'ck')
  _copy_checkpoint(os.path.join(TESTDATA, 'mobilenet', 'ckpt-1'), directory,
                   'ckpt-1')
  with open(os.path.join(directory, 'checkpoint'), 'w') as f:
    f.write('model_checkpoint_path: "ckpt-2"\n'
            'all_model_checkpoint_paths: "ckpt-2"\n')
  return _out(env), lambda: _script(
      'mobilenet_export.py', '--gin_file=configs/mobilenet/tiny.gin',
      f'--checkpoint_path={directory}', f'--export_dir={_out(env)}')


@case('checkpoint-file-garbage', 1, 'not a readable `checkpoint` file')
def _(env):
  directory = os.path.dirname(_copy_checkpoint(env.pristine,
                                               os.path.join(env.tmp, 'ck')))
  with open(os.path.join(directory, 'checkpoint'), 'wb') as f:
    f.write(b'\x00\xffnot { a proto')
  return _out(env), lambda: _export(env, checkpoint=directory)


# Vocabularies.

def _vocab_export(path, flag='vocab'):
  from official.hub_export import bert_family  # pylint: disable=g-import-not-at-top  (Model Garden nlp: heavy)
  def export(ctx):
    bert_family.check_vocab(ctx, path if flag == 'vocab' else None,
                            path if flag == 'sp' else None, 100, None,
                            'bert_en_uncased_tiny')
    raise AssertionError('a bad vocabulary was accepted')
  return export


def _bert_vocab(env, edit):
  lines = open(VOCAB, encoding='utf-8').read().split('\n')
  path = os.path.join(env.tmp, 'vocab.txt')
  with open(path, 'wb') as f:
    f.write(edit(lines))
  return path


@case('vocab-duplicate-token', 1, 'line 51', 'duplicate word', 'first on '
      'line 50')
def _(env):
  path = _bert_vocab(env, lambda l: '\n'.join(l[:50] + [l[49]] + l[51:])
                     .encode())
  return _out(env), lambda: _export(env, _vocab_export(path),
                                    checkpoint=env.pristine)


@case('vocab-empty-line', 1, 'line 30 is empty', 'remove blank lines')
def _(env):
  path = _bert_vocab(env, lambda l: '\n'.join(l[:29] + [''] + l[30:])
                     .encode())
  return _out(env), lambda: _export(env, _vocab_export(path),
                                    checkpoint=env.pristine)


@case('vocab-not-utf8', 1, 'line 40 is not UTF-8', 're-encode')
def _(env):
  path = _bert_vocab(env, lambda l: '\n'.join(l[:39]).encode() +
                     b'\ncaf\xe9\n' + '\n'.join(l[40:]).encode())
  return _out(env), lambda: _export(env, _vocab_export(path),
                                    checkpoint=env.pristine)


@case('vocab-is-a-fifo', 1, 'not a regular file')
def _(env):
  path = os.path.join(env.tmp, 'vocab.txt')
  os.mkfifo(path)  # Reading it would block forever: refused before.
  return _out(env), lambda: _export(env, _vocab_export(path),
                                    checkpoint=env.pristine)


@case('albert-cli-sentencepiece-garbage', 1, 'is not a SentencePiece model')
def _(env):
  path = os.path.join(env.tmp, 'sp.model')
  with open(path, 'wb') as f:
    f.write(os.urandom(2048))
  return _out(env), lambda: _script(
      'albert_export.py', '--gin_file=configs/albert/tiny.gin',
      f'--checkpoint_path={os.path.join(TESTDATA, "albert", "ckpt")}',
      f'--sp_model_file={path}', f'--export_dir={_out(env)}')


# Gin.

@case('resnet-cli-gin-syntax-error', 2, 'gin:')
def _(env):
  config = os.path.join(env.tmp, 'broken.gin')
  with open(config, 'w') as f:
    f.write("include 'configs/resnet/tiny.gin'\nresnet.depth = (50\n")
  return _out(env), lambda: _script(
      'resnet_export.py', f'--gin_file={config}',
      f'--checkpoint_path={os.path.join(TESTDATA, "resnet")}',
      f'--export_dir={_out(env)}')


@case('gin-unterminated-string', 2, 'gin:')
def _(env):
  config = _gin(env, "a.b = 'open\n", 'broken.gin')
  return _out(env), lambda: _export(env, checkpoint=env.pristine,
                                    config=config)


@case('gin-file-is-a-directory', 2, 'gin')
def _(env):
  config = os.path.join(env.tmp, 'dir.gin')
  os.mkdir(config)
  return _out(env), lambda: _export(env, checkpoint=env.pristine,
                                    config=config)


# --export_dir.

@case('export-dir-is-a-file', 1, 'is a file')
def _(env):
  out = os.path.join(env.tmp, 'out')
  with open(out, 'w') as f:
    f.write('precious')
  return out, lambda: _export(env, checkpoint=env.pristine, export_dir=out)


@case('export-dir-inside-checkpoint-dir', 1, 'lies inside the checkpoint '
      'directory')
def _(env):
  directory = os.path.dirname(_copy_checkpoint(env.pristine,
                                               os.path.join(env.tmp, 'ck')))
  out = os.path.join(directory, 'export')
  return out, lambda: _export(env, checkpoint=directory, export_dir=out)


@case('export-dir-holds-the-checkpoint-overwrite', 1, 'holds an input',
      'would delete')
def _(env):
  prefix = _copy_checkpoint(env.pristine, os.path.join(env.tmp, 'old_export',
                                                       'ck'))
  out = os.path.join(env.tmp, 'old_export')
  return out, lambda: _export(env, checkpoint=prefix, export_dir=out,
                              extra=['--overwrite'])


@case('export-dir-parent-is-a-file', 1, 'is a file, not a directory')
def _(env):
  parent = os.path.join(env.tmp, 'file')
  with open(parent, 'w') as f:
    f.write('x')
  out = os.path.join(parent, 'sub', 'out')
  return parent, lambda: _export(env, checkpoint=env.pristine, export_dir=out)


@case('export-dir-parent-read-only-chmod', 1, 'cannot write into',
      marks=NOT_AS_ROOT)
def _(env):
  parent = os.path.join(env.tmp, 'ro')
  os.mkdir(parent)
  os.chmod(parent, 0o555)
  return parent, lambda: _export(env, checkpoint=env.pristine,
                                 export_dir=os.path.join(parent, 'out'))


def _sys_unwritable():
  probe = '/sys/hub_export_probe'
  if not os.path.isdir('/sys'):
    return False
  try:
    os.mkdir(probe)
  except OSError:
    return True
  os.rmdir(probe)
  return False


@case('export-dir-parent-unwritable-sysfs', 1, 'cannot write into /sys',
      'choose a writable --export_dir', marks=pytest.mark.skipif(
          not _sys_unwritable(), reason='no /sys where mkdir fails here'))
def _(env):
  return '/sys/hub_export_out', lambda: _export(
      env, checkpoint=env.pristine, export_dir='/sys/hub_export_out')


# Word-vector files.

_VECTORS = 'apple 0.1 0.2 0.3 0.4\nbanana 0.5 0.6 0.7 0.8\ncherry 1 2 3 4\n'
_CUT = _VECTORS[:_VECTORS.index('cherry 1 2') + len('cherry 1 2')]  # Mid-row.


def _vectors_export(path, dim=4):
  def export(ctx):
    del ctx
    layout = word_vectors.scan(path, dim)
    word_vectors.read(layout, lambda first, rows: None, io.StringIO())
    raise AssertionError('a damaged word-vector file was read')
  return export


@case('text-embedding-cli-file-ends-mid-row', 1, 'line 3 has 2 values',
      'expected 4')
def _(env):
  path = os.path.join(env.tmp, 'vectors.txt')
  with open(path, 'w') as f:
    f.write(_CUT)
  return _out(env), lambda: _script(
      'text_embedding_export.py', '--gin_file=configs/text_embedding/tiny.gin',
      f'--embedding_file={path}', f'--export_dir={_out(env)}')


@case('vectors-with-header-ends-mid-row', 1, 'line 4 has 2 values',
      'expected 4')
def _(env):
  path = os.path.join(env.tmp, 'vectors.vec')
  with open(path, 'w') as f:
    f.write('3 4\n' + _CUT)
  return _out(env), lambda: _export(env, _vectors_export(path),
                                    needs_checkpoint=False)


@case('vectors-gzip-truncated', 1, 'cannot read', 'complete')
def _(env):
  path = os.path.join(env.tmp, 'vectors.txt.gz')
  data = gzip.compress((_VECTORS * 50).encode())
  with open(path, 'wb') as f:
    f.write(data[:len(data) // 2])
  return _out(env), lambda: _export(env, _vectors_export(path),
                                    needs_checkpoint=False)


@case('vectors-gzip-corrupt-deflate', 1, 'cannot read')
def _(env):
  path = os.path.join(env.tmp, 'vectors.txt.gz')
  data = bytearray(gzip.compress(''.join(
      f'w{i} {i} {i + 1} {i + 2} {i + 3}\n' for i in range(2000)).encode()))
  for i in range(40, 60):
    data[i] ^= 0x5A  # Damage the deflate stream itself.
  with open(path, 'wb') as f:
    f.write(bytes(data))
  return _out(env), lambda: _export(env, _vectors_export(path),
                                    needs_checkpoint=False)


# Archives (package_export.py).

def _tar(path, members: Sequence[Tuple[str, int, Optional[bytes]]]):
  """A .tar.gz whose headers say `size`; `data` None writes no data."""
  with open(path, 'wb') as raw, gzip.GzipFile(fileobj=raw, mode='wb',
                                              mtime=0) as gz, \
      tarfile.open(fileobj=gz, mode='w', format=tarfile.PAX_FORMAT) as tar:
    for name, size, data in members:
      info = tarfile.TarInfo(name)
      info.size = size
      tar.addfile(info, io.BytesIO(data) if data is not None else None)
  return path


def _verify_archive(env, path, **limits):
  return path, lambda: _in_process(
      env, lambda: package.verify_archive(path, reload=False, **limits) and 0)


@case('package-cli-too-many-members', 1, 'more than 10,000 members',
      'refusing to extract')
def _(env):
  path = _tar(os.path.join(env.tmp, 'many.tar.gz'),
              [('saved_model.pb', 1, b'x')] +
              [(f'assets/f{i}', 0, b'') for i in range(package.MAX_MEMBERS)])
  return path, lambda: _script('package_export.py', f'--verify_archive={path}')


@case('archive-member-claims-a-petabyte', 1, 'claim', 'refusing to extract')
def _(env):
  return _verify_archive(env, _tar(
      os.path.join(env.tmp, 'bomb.tar.gz'),
      [('saved_model.pb', 1, b'x'),
       ('variables/variables.data-00000-of-00001', 1 << 50, None)]))


@case('archive-claims-more-than-gzip-can-hold', 1, 'what a gzip stream of '
      'its size can hold')
def _(env):
  return _verify_archive(env, _tar(
      os.path.join(env.tmp, 'liar.tar.gz'),
      [('saved_model.pb', 1, b'x'),
       ('variables/variables.data-00000-of-00001', 100 << 20, None)]))


@case('archive-over-max-bytes', 1, 'more than the limit for an upload '
      'archive')
def _(env):
  return _verify_archive(env, _tar(
      os.path.join(env.tmp, 'big.tar.gz'),
      [('saved_model.pb', 1, b'x'),
       ('variables/variables.data-00000-of-00001', 1 << 20,
        os.urandom(1 << 20))]), max_bytes=1 << 19)


@case('package-output-parent-is-a-file', 1, 'package.tar.gz')
def _(env):
  export_dir = os.path.join(env.tmp, 'export')
  os.mkdir(export_dir)
  with open(os.path.join(export_dir, 'saved_model.pb'), 'wb') as f:
    f.write(b'')
  parent = os.path.join(env.tmp, 'file')
  with open(parent, 'w') as f:
    f.write('x')
  output = os.path.join(parent, 'package.tar.gz')
  return parent, lambda: _in_process(
      env, lambda: package.package(export_dir, output, reload=False) and 0)


# verify_export.py.

@case('verify-cli-saved-model-garbage', 1, 'does not parse as a SavedModel')
def _(env):
  saved_model = os.path.join(env.tmp, 'sm')
  os.mkdir(saved_model)
  with open(os.path.join(saved_model, 'saved_model.pb'), 'wb') as f:
    f.write(b'\x0a\xff\xff\xff\xff\x0f' + os.urandom(64))
  return saved_model, lambda: _script('verify_export.py',
                                      f'--saved_model={saved_model}')


# ------------------------------------------------------------------- test


def _snapshot(path):
  """Everything at `path` (None: nothing there), to compare after the run."""
  if not os.path.lexists(path):
    return None
  if not os.path.isdir(path):
    with open(path, 'rb') as f:
      return f.read()
  found = {}
  for dirpath, _, filenames in os.walk(path):
    rel = os.path.relpath(dirpath, path)
    found[rel] = None
    for name in filenames:
      with open(os.path.join(dirpath, name), 'rb') as f:
        found[os.path.join(rel, name)] = f.read()
  return found


@pytest.mark.parametrize('make, code, fragments', CASES)
def test_hostile_input(make, code, fragments, pristine, tmp_path, capsys):
  env = Env(str(tmp_path), pristine, capsys)
  _gin(env)
  destination, run = make(env)
  before = _snapshot(destination)
  parent = os.path.dirname(destination)
  siblings = sorted(os.listdir(parent)) if os.path.isdir(parent) else None
  got, stderr = run()

  assert got == code, f'exit {got}, expected {code}\n{stderr}'
  assert 'Traceback' not in stderr and 'File "' not in stderr, stderr
  errors = [l for l in stderr.splitlines() if l.startswith('error: ')]
  assert len(errors) == 1, stderr
  for fragment in fragments:
    assert fragment in errors[0], (fragment, errors[0])
  assert _snapshot(destination) == before, f'{destination} was changed'
  if siblings is not None:
    assert sorted(os.listdir(parent)) == siblings, 'files left beside it'


@pytest.mark.parametrize('part, stride', [
    ('index', 7), ('data', 61),
    pytest.param('index', 1, marks=pytest.mark.slow),
    pytest.param('data', 1, marks=pytest.mark.slow)])
def test_a_flipped_byte_never_restores_wrong_values(pristine, tmp_path, part,
                                                    stride):
  """Every byte of the checkpoint inverted in turn (every `stride`-th in the
  default run): the restore either refuses with ExportError or restores
  exactly the saved values (the byte was one TensorFlow does not use)."""
  path = pristine + ('.index' if part == 'index' else
                     '.data-00000-of-00001')
  size = os.path.getsize(path)
  refused = 0
  for offset in range(0, size, stride):
    prefix = _copy_checkpoint(pristine, str(tmp_path / str(offset)))
    _flip(prefix + path[len(pristine):], offset)
    m = _Model()
    try:
      restore.restore(prefix, [restore.Layout('model', model=m)],
                      m.variables)
    except restore.ExportError as e:
      assert '\n' not in str(e), e
      refused += 1
      continue
    np.testing.assert_array_equal(m.w.numpy(), _W, err_msg=f'byte {offset}')
    assert m.v.numpy() == 2.0, offset
  assert refused, 'no flip was detected at all'

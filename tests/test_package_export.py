"""export_scripts/package_export.py: the upload archive, through the real
command line, on the seed recipe's export."""
import gzip
import hashlib
import io
import os
import shutil
import tarfile

import numpy as np
import pytest

from conftest import TESTDATA, assert_ok, assert_one_line_error, run_script
from official.hub_export import package
from official.hub_export.spec import ExportError

CKPT = os.path.join(TESTDATA, 'mul', 'ckpt')


@pytest.fixture(scope='session')
def export_dir(session_tmp):
  """The seed recipe exported once (its own tests verify it)."""
  out = str(session_tmp / 'package_mul')
  assert_ok(run_script('mul_export.py', '--gin_file=configs/mul/tiny.gin',
                       f'--checkpoint_path={CKPT}', f'--export_dir={out}',
                       '--noverify'))
  return out


@pytest.fixture(scope='session')
def packaged(export_dir, session_tmp):
  """The export packaged once through the command line."""
  archive = str(session_tmp / 'packaged' / 'my_mul.tar.gz')
  proc = run_script('package_export.py', f'--export_dir={export_dir}',
                    f'--output={archive}')
  assert_ok(proc)
  return archive, proc


def _files_of(directory):
  """Relative paths of every file and directory below `directory`."""
  found = set()
  for dirpath, dirnames, filenames in os.walk(directory):
    rel = os.path.relpath(dirpath, directory)
    for name in dirnames + filenames:
      found.add(os.path.normpath(os.path.join(rel, name)))
  return found


def _read(path):
  with open(path, 'rb') as f:
    return f.read()


def _assert_nothing_written(directory, name='model.tar.gz'):
  left = os.listdir(directory) if os.path.isdir(directory) else []
  assert not [f for f in left if name in f], left


def test_end_to_end_archive_members_at_root(packaged, export_dir):
  archive, proc = packaged
  assert 'hub.load from a temporary extraction in a fresh process' in (
      proc.stdout)
  assert 'sha256 ' in proc.stdout and 'members' in proc.stdout
  with tarfile.open(archive, 'r:gz') as tar:
    members = tar.getmembers()
  names = [m.name for m in members]
  # Exactly the export's files, at the root, sorted, nothing else.
  assert set(names) == _files_of(export_dir)
  assert 'saved_model.pb' in names and 'variables/variables.index' in names
  assert 'assets.extra/README.md' in names
  assert names == sorted(names, key=lambda n: n.split('/'))
  for m in members:
    assert not m.name.startswith(('/', '.')) and '..' not in m.name, m.name
    assert m.isreg() or m.isdir(), m.name
    assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, '', ''), m
    assert m.mode == (0o755 if m.isdir() else 0o644), (m.name, oct(m.mode))
    assert package._member_problem(tuple(m.name.split('/')), m.isdir()) is None
  head = _read(archive)[:10]
  assert head[:3] == b'\x1f\x8b\x08'
  assert head[3] & 0x08 == 0, 'gzip header holds a file name'
  assert head[4:8] == b'\0\0\0\0', 'gzip header holds an mtime'


def test_same_export_gives_identical_bytes(packaged, export_dir, tmp_path):
  archive, _ = packaged
  data = _read(archive)
  assert _read(archive + '.sha256').decode() == (
      f'{hashlib.sha256(data).hexdigest()}  my_mul.tar.gz\n')
  # A copy of the export made at another time, with other mtimes and
  # permissions, packaged over an existing file with --overwrite.
  copy = str(tmp_path / 'copy')
  shutil.copytree(export_dir, copy)
  for dirpath, _, filenames in os.walk(copy):
    for name in filenames:
      os.utime(os.path.join(dirpath, name), (1e9, 1e9))
      os.chmod(os.path.join(dirpath, name), 0o600)
  again = str(tmp_path / 'my_mul.tar.gz')
  with open(again, 'wb') as f:
    f.write(b'an older archive')
  with open(again + '.sha256', 'w') as f:
    f.write('stale\n')
  assert_ok(run_script('package_export.py', f'--export_dir={copy}',
                       f'--output={again}', '--overwrite'))
  assert _read(again) == data
  assert _read(again + '.sha256') == _read(archive + '.sha256')
  assert sorted(os.listdir(tmp_path)) == ['copy', 'my_mul.tar.gz',
                                          'my_mul.tar.gz.sha256']


def _symlink(d):
  os.symlink(os.path.join(d, 'saved_model.pb'), os.path.join(d, 'assets',
                                                               'link.pb'))


def _dot_file(d):
  with open(os.path.join(d, 'assets.extra', '.DS_Store'), 'w') as f:
    f.write('x')


def _stray_file(d):
  with open(os.path.join(d, 'notes.txt'), 'w') as f:
    f.write('x')


def _not_a_saved_model(d):
  os.remove(os.path.join(d, 'saved_model.pb'))


@pytest.mark.parametrize('defect,fragments', [
    (_symlink, ['assets/link.pb: a symlink', 'replace it with a copy']),
    (_dot_file, ['assets.extra/.DS_Store: hidden file', 'delete it']),
    (_stray_file, ['notes.txt: not part of a SavedModel',
                   'move it into assets.extra/']),
    (_not_a_saved_model, ['is not a SavedModel directory (no saved_model.pb)']),
])
def test_refuses_bad_export_dir(export_dir, tmp_path, defect, fragments):
  bad = str(tmp_path / 'export')
  shutil.copytree(export_dir, bad)
  defect(bad)
  out_dir = tmp_path / 'out'
  proc = run_script('package_export.py', f'--export_dir={bad}',
                    f'--output={out_dir / "model.tar.gz"}')
  assert_one_line_error(proc, *fragments, code=1)
  assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
  assert not out_dir.exists()
  _assert_nothing_written(str(tmp_path))


def test_refuses_existing_output(packaged, export_dir):
  archive, _ = packaged
  before = _read(archive), os.path.getmtime(archive)
  proc = run_script('package_export.py', f'--export_dir={export_dir}',
                    f'--output={archive}')
  assert_one_line_error(proc, 'already exists', '--overwrite', code=1)
  assert (_read(archive), os.path.getmtime(archive)) == before
  assert sorted(os.listdir(os.path.dirname(archive))) == [
      'my_mul.tar.gz', 'my_mul.tar.gz.sha256']


def test_bad_flags_exit_2(tmp_path):
  proc = run_script('package_export.py', f'--output={tmp_path / "m.tar.gz"}')
  assert_one_line_error(proc, '--export_dir=DIR', code=2)
  _assert_nothing_written(str(tmp_path), 'm.tar.gz')


def test_verify_archive_accepts_ours(packaged):
  archive, _ = packaged
  proc = run_script('package_export.py', f'--verify_archive={archive}')
  assert_ok(proc)
  assert 'a valid upload archive' in proc.stdout
  assert '(matches my_mul.tar.gz.sha256)' in proc.stdout
  assert '1 variables, 1 trainable' in proc.stdout


def _hand_made(path, export_dir, prefix='', extra=None):
  """An archive as someone might make it by hand (Python's tarfile)."""
  with tarfile.open(path, 'w:gz') as tar:
    for rel in sorted(_files_of(export_dir)):
      tar.add(os.path.join(export_dir, rel), prefix + rel, recursive=False)
    if extra:
      extra(tar)
  return path


def _add_file(name, data=b'pwned'):
  def add(tar):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
  return add


def _add_link(tar):
  info = tarfile.TarInfo('assets/vocab.txt')
  info.type = tarfile.SYMTYPE
  info.linkname = '/etc/passwd'
  tar.addfile(info)


@pytest.mark.parametrize('prefix,extra,fragments', [
    ('', _add_file('../evil'), ['../evil: a ".." path escapes']),
    ('', _add_file('/tmp/abs_evil'), ['/tmp/abs_evil: an absolute path']),
    ('my_model/', None, ['saved_model.pb is in my_model/, not at the archive '
                         'root', 'tar -czf ARCHIVE -C my_model .']),
    ('', _add_link, ['assets/vocab.txt: a symlink (to /etc/passwd)']),
])
def test_verify_archive_rejects_hand_made(export_dir, tmp_path, prefix, extra,
                                          fragments):
  archive = _hand_made(str(tmp_path / 'x.tar.gz'), export_dir, prefix, extra)
  proc = run_script('package_export.py', f'--verify_archive={archive}',
                    cwd=str(tmp_path))
  assert_one_line_error(proc, *fragments, code=1)
  assert sorted(os.listdir(tmp_path)) == ['x.tar.gz']
  assert not os.path.exists(os.path.join(os.path.dirname(tmp_path), 'evil'))


def test_verify_archive_rejects_wrong_checksum(packaged, tmp_path):
  archive = str(tmp_path / 'my_mul.tar.gz')
  shutil.copy(packaged[0], archive)
  with open(archive + '.sha256', 'w') as f:
    f.write('0' * 64 + '  my_mul.tar.gz\n')
  proc = run_script('package_export.py', f'--verify_archive={archive}')
  assert_one_line_error(proc, 'the archive is corrupt or the checksum is '
                        'stale', code=1)


def test_verify_archive_scans_ops_before_loading(tmp_path):
  """An archive whose model writes a file when called is refused by the op
  scan before the consumer process loads it."""
  import zoo  # pylint: disable=g-import-not-at-top
  target = tmp_path / 'written.txt'
  model = zoo.build_hostile('write_file', str(tmp_path), str(target))
  archive = _hand_made(str(tmp_path / 'hostile.tar.gz'), model)
  with pytest.raises(ExportError) as e:
    package.verify_archive(archive)
  assert 'not loaded: op scan: no op acts on the machine' in str(e.value)
  assert 'WriteFile in __inference___call___' in str(e.value)
  assert not target.exists()


def test_hand_made_tar_of_dot_is_accepted_by_the_library(export_dir, tmp_path):
  # `tar -czf A -C DIR .` writes `./x` members: a valid archive.
  archive = _hand_made(str(tmp_path / 'dot.tar.gz'), export_dir, prefix='./')
  info = package.verify_archive(archive, reload=False)
  assert 'saved_model.pb' in info.members and not info.sha256_file_checked


@pytest.mark.parametrize('parts,is_dir,ok', [
    (('saved_model.pb',), False, True),
    (('keras_metadata.pb',), False, True),
    (('variables', 'variables.data-00000-of-00001'), False, True),
    (('assets', 'sub', 'vocab 1.txt'), False, True),
    (('assets.extra', 'README.md'), False, True),
    (('assets.extra', 'sub', 'x.txt'), False, False),
    (('variables', 'other.bin'), False, False),
    (('variables',), False, False),
    (('saved_model.pb',), True, False),
    (('assets', 'v?cab.txt'), False, False),
    (('assets', '-x'), False, True),
    (('assets', '.hidden'), False, False),
    (('model.h5',), False, False),
])
def test_member_rules(parts, is_dir, ok):
  assert (package._member_problem(parts, is_dir) is None) == ok


def test_packaged_archive_extracts_and_loads(packaged, export_dir, tmp_path):
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  with tarfile.open(packaged[0], 'r:gz') as tar:
    tar.extractall(tmp_path / 'model', filter='data')
  obj = hub.load(str(tmp_path / 'model'))
  want = hub.load(export_dir)
  x = np.array([10., 20., -3.5], np.float32)
  np.testing.assert_array_equal(obj(x), want(x))
  assert [v.numpy() for v in obj.trainable_variables] == [
      v.numpy() for v in want.trainable_variables]
  assert float(obj.regularization_losses[0]()) == float(
      want.regularization_losses[0]())


def test_library_package_refuses_output_inside_export(export_dir):
  with pytest.raises(ExportError, match='inside --export_dir'):
    package.package(export_dir, os.path.join(export_dir, 'assets.extra',
                                             'm.tar.gz'))
  assert 'm.tar.gz' not in os.listdir(os.path.join(export_dir, 'assets.extra'))


def test_refuses_export_that_does_not_load(export_dir, tmp_path):
  bad = str(tmp_path / 'export')
  shutil.copytree(export_dir, bad)
  with open(os.path.join(bad, 'variables', 'variables.index'), 'wb') as f:
    f.write(b'not a checkpoint index')
  out_dir = tmp_path / 'out'
  proc = run_script('package_export.py', f'--export_dir={bad}',
                    f'--output={out_dir / "model.tar.gz"}')
  assert_one_line_error(proc, 'model.tar.gz: the SavedModel does not load '
                        'with hub.load in a fresh process', code=1)
  assert not out_dir.exists()  # Written, reloaded, failed: removed.
  _assert_nothing_written(str(tmp_path))


def test_extraction_never_leaves_its_directory(tmp_path):
  # Validation rejects such members first; extraction refuses them anyway.
  archive = str(tmp_path / 'evil.tar.gz')
  with tarfile.open(archive, 'w:gz') as tar:
    _add_file('../evil')(tar)
  into = tmp_path / 'into'
  into.mkdir()
  with tarfile.open(archive, 'r:gz') as tar:
    member = tar.getmembers()[0]
    with pytest.raises(ExportError, match='outside the archive root'):
      package._extract(tar, [(('..', 'evil'), member)], str(into))
  assert sorted(os.listdir(tmp_path)) == ['evil.tar.gz', 'into']

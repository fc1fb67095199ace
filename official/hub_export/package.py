"""The upload archive of an export: write it, or check one someone else made.

    package(export_dir, output)   -> a deterministic `.tar.gz` of the
                                     SavedModel, `<output>.sha256` beside it
    verify_archive(archive)       -> checks an existing archive

An upload archive (TF Hub / Kaggle Models) holds the SavedModel directory's
contents at its root, no wrapping folder, and only these members:

    saved_model.pb, keras_metadata.pb, fingerprint.pb
    variables/variables.*          (the checkpoint shards and index)
    assets/...                     (vocabularies etc., nested files allowed)
    assets.extra/*                 (model card, Kaggle metadata, export record)

(a TFLite variation, `official/hub_export/tflite.py`, instead holds only
`model.tflite` and `assets.extra/*`, and is reloaded with the LiteRT
interpreter), each path component matching `NAME_RE` (no leading dot), regular files and
directories only: no symlinks, no absolute or `..` paths, no dot-files.

`package` refuses anything else in the export directory (naming the path and
the fix), writes the members sorted, with mtime 0, uid/gid 0, no user/group
names and modes 0644/0755, in a gzip stream with mtime 0 and no file name, so
the same export always gives the same bytes. Before the archive is renamed
into place it is re-opened, checked like any other archive, extracted into a
temporary directory (every file compared with the export) and loaded with
`hub.load` in a fresh, isolated Python process, as a consumer would. Nothing
is left at the output on failure.

`verify_archive` applies the same member rules (reporting every violation),
checks `<archive>.sha256` if present, extracts member by member into a
temporary directory (never outside it) and reloads with `hub.load`.

Decompression bombs are refused while the member headers are read, before
anything is extracted (and before the data behind a lying header is
decompressed): at most `MAX_MEMBERS` members, at most `MAX_BYTES` of files in
all, no more than the extraction directory's free space, no more than a
gzip stream of the archive's size can hold (deflate expands at most
`MAX_DEFLATE_RATIO`:1), and no sparse members.
"""

import dataclasses
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from typing import Dict, List, Optional, Sequence, Tuple

from official.hub_export import record
from official.hub_export import verify
from official.hub_export.spec import ExportError

# A path component of an archive member: the pattern tfhub.dev's archive
# validator enforced (no leading dot: `[\w-]` excludes it).
NAME_RE = re.compile(r"[\w-][-!',_\w.=:% ]*")
ROOT_FILES = ('saved_model.pb', 'keras_metadata.pb', 'fingerprint.pb')
# Limits on an archive before it is extracted (decompression bombs). A
# SavedModel has a few files plus its assets, and the largest published ones
# are tens of GB; `verify_archive(max_members=, max_bytes=)` overrides them.
MAX_MEMBERS = 10_000
MAX_BYTES = 256 << 30
# Deflate's largest expansion (the format's limit, ~1032:1): a tar whose
# headers claim more than this times the compressed size lies about its sizes.
MAX_DEFLATE_RATIO = 1032
# A TFLite variation (official/hub_export/tflite.py) instead holds only
# model.tflite and assets.extra/ (its card, Kaggle metadata, export record).
TFLITE_MODEL = 'model.tflite'
FILE_MODE = 0o644
DIR_MODE = 0o755
SUFFIXES = ('.tar.gz', '.tgz')

# Run in the consumer process (`python -I`): nothing of this repository is
# importable there. Prints one JSON line.
_RELOAD = r'''
import json, sys, time
try:
  import tensorflow_text  # noqa: F401  (registers preprocessors' ops)
except ImportError:
  pass
import tensorflow as tf
import tensorflow_hub as hub
tf.get_logger().setLevel('ERROR')
t = time.perf_counter()
obj = hub.load(sys.argv[1])
seconds = time.perf_counter() - t
print(json.dumps({
    'load_seconds': seconds,
    'callable': callable(obj),
    'variables': len(getattr(obj, 'variables', None) or []),
    'trainable_variables': len(getattr(obj, 'trainable_variables', None) or []),
    'signatures': sorted(getattr(obj, 'signatures', None) or {}),
}))
'''


@dataclasses.dataclass
class ArchiveInfo:
  """What `package` wrote or `verify_archive` checked."""
  archive: str
  sha256: str
  archive_bytes: int
  files: int
  directories: int
  content_bytes: int                   # Sum of the members' file sizes.
  members: List[str]
  sha256_file: Optional[str] = None    # The `.sha256` beside the archive.
  sha256_file_checked: bool = False
  reload: Dict = dataclasses.field(default_factory=dict)
  reload_seconds: float = 0.0          # The consumer process, start to end.
  seconds: float = 0.0                 # The whole call.


# ------------------------------------------------------------ member rules


def _member_problem(parts: Tuple[str, ...], is_dir: bool) -> Optional[str]:
  """Why a member (path components relative to the root) is not allowed, with
  the fix; None if it is allowed."""
  path = '/'.join(parts)
  for part in parts:
    if part.startswith('.'):
      return (f'{path}: hidden file or directory (dot-file); delete it')
    if not NAME_RE.fullmatch(part):
      return (f'{path}: {part!r} has characters an upload archive does not '
              "allow (letters, digits, _, -, and after the first character "
              "also . = : % ! ' , and space); rename it")
  top = parts[0]
  if len(parts) == 1 and top in ('assets', 'assets.extra', 'variables'):
    if is_dir:
      return None
    return f'{path}: must be a directory, not a file; remove it'
  if top in ('assets', 'assets.extra'):
    if top == 'assets.extra' and len(parts) > 2:
      return (f'{path}: assets.extra/ takes files only, no subdirectories; '
              'move it up into assets.extra/ or into assets/')
    return None
  if top == 'variables':
    if (len(parts) == 2 and not is_dir and
        parts[1].startswith('variables.')):
      return None
    return (f'{path}: variables/ holds only the checkpoint files '
            'variables.index and variables.data-*; remove it')
  if len(parts) == 1 and not is_dir and top in ROOT_FILES + (TFLITE_MODEL,):
    return None
  return f'{path}: {_UNEXPECTED}'


def _tflite_problems(top: Sequence[str]) -> List[str]:
  """A TFLite variation holds model.tflite and assets.extra/ only."""
  if TFLITE_MODEL not in top:
    return []
  return [f'{name}: a TFLite variation holds only {TFLITE_MODEL} and '
          'assets.extra/; package the SavedModel and its TFLite variation '
          'separately' for name in top if name not in (TFLITE_MODEL,
                                                        'assets.extra')]


_UNEXPECTED = ('not part of a SavedModel; remove it, or move it into '
               'assets.extra/ (an upload archive holds only ' +
               ', '.join(ROOT_FILES) +
               ', variables/variables.*, assets/ and assets.extra/)')


def _raise(what: str, problems: Sequence[str]) -> None:
  """One line naming the (first) problem and its fix, then all listed."""
  n = len(problems)
  if n == 1:
    raise ExportError(f'{what}: {problems[0]}')
  raise ExportError('\n'.join(
      [f'{what}: {n} problems: {problems[0]}; and {n - 1} more, listed '
       'below:'] + [f'  {p}' for p in problems]))


def _saved_models_below(path: str) -> List[str]:
  found = []
  for dirpath, dirnames, filenames in os.walk(path):
    dirnames.sort()
    if 'saved_model.pb' in filenames and dirpath != path:
      found.append(os.path.relpath(dirpath, path))
  return found[:4]


def collect(export_dir: str) -> List[Tuple[Tuple[str, ...], bool, str]]:
  """The members of an export directory: sorted `(parts, is_dir, abspath)`.

  Raises ExportError naming every path that cannot go into an upload
  archive (symlinks, dot-files, unexpected files, special files).
  """
  if not os.path.exists(export_dir):
    raise ExportError(f'--export_dir {export_dir} does not exist: pass the '
                      'directory of an exported SavedModel')
  if os.path.islink(export_dir) or not os.path.isdir(export_dir):
    raise ExportError(f'--export_dir {export_dir} is not a directory: pass the '
                      'directory of an exported SavedModel')
  if not os.path.isfile(os.path.join(export_dir, 'saved_model.pb')) and (
      not os.path.isfile(os.path.join(export_dir, TFLITE_MODEL))):
    inner = _saved_models_below(export_dir)
    hint = (f'; it holds SavedModels in {", ".join(d + "/" for d in inner)}: '
            'package each one, e.g. --export_dir='
            f'{os.path.join(export_dir, inner[0])}' if inner else
            ': pass the directory that holds saved_model.pb')
    lite = sorted(n for n in os.listdir(export_dir) if os.path.isfile(
        os.path.join(export_dir, n, TFLITE_MODEL)))
    if lite and not inner:
      hint = (f'; it holds TFLite variations {", ".join(n + "/" for n in lite)}'
              ': package each one, e.g. --export_dir='
              f'{os.path.join(export_dir, lite[0])}')
    raise ExportError(f'--export_dir {export_dir} is not a SavedModel '
                      f'directory (no saved_model.pb){hint}')
  members, problems = [], []

  def walk(directory, parts):
    with os.scandir(directory) as it:
      entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
      sub = parts + (entry.name,)
      rel = '/'.join(sub)
      if entry.is_symlink():
        problems.append(f'{rel}: a symlink (to {os.readlink(entry.path)}); '
                        'replace it with a copy of its target')
        continue
      is_dir = entry.is_dir(follow_symlinks=False)
      if not is_dir and not entry.is_file(follow_symlinks=False):
        problems.append(f'{rel}: not a regular file or directory; remove it')
        continue
      problem = _member_problem(sub, is_dir)
      if problem:
        problems.append(problem)
        continue
      members.append((sub, is_dir, entry.path))
      if is_dir:
        walk(entry.path, sub)

  walk(export_dir, ())
  problems += _tflite_problems([m[0][0] for m in members if len(m[0]) == 1])
  if problems:
    _raise(f'cannot package {export_dir}', problems)
  return sorted(members, key=lambda m: m[0])


# ----------------------------------------------------------------- writing


def _tarinfo(name: str, is_dir: bool, size: int = 0) -> tarfile.TarInfo:
  info = tarfile.TarInfo(name)
  info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
  info.mode = DIR_MODE if is_dir else FILE_MODE
  info.size = 0 if is_dir else size
  info.mtime = 0
  info.uid = info.gid = 0
  info.uname = info.gname = ''
  return info


def write_archive(members, path: str) -> None:
  """Writes `collect()`'s members to `path`: a deterministic `.tar.gz`."""
  with open(path, 'wb') as raw, \
      gzip.GzipFile(fileobj=raw, mode='wb', mtime=0, filename='') as gz, \
      tarfile.open(fileobj=gz, mode='w', format=tarfile.PAX_FORMAT) as tar:
    for parts, is_dir, abspath in members:
      name = '/'.join(parts)
      if is_dir:
        tar.addfile(_tarinfo(name, True))
        continue
      with open(abspath, 'rb') as f:
        size = os.fstat(f.fileno()).st_size
        tar.addfile(_tarinfo(name, False, size), f)
        if f.tell() != size or f.read(1):
          raise ExportError(f'{abspath} changed while it was being packaged: '
                            'wait until the export is complete and run again')


def _check_output(output: str, overwrite: bool) -> None:
  if not output.endswith(SUFFIXES):
    raise ExportError(f'--output {output} must end with .tar.gz (or .tgz): '
                      'the archive is a gzip-compressed tar file')
  for path in (output, output + '.sha256'):
    if os.path.isdir(path):
      raise ExportError(f'{path} is a directory: pass a file path as --output')
    if os.path.lexists(path) and not overwrite:
      raise ExportError(f'{path} already exists: pass --overwrite to replace '
                        'it, or choose another --output')


def package(export_dir: str, output: str, overwrite: bool = False,
            reload: bool = True) -> ArchiveInfo:
  """Writes the upload archive of `export_dir` to `output` (+ `.sha256`).

  The archive is written to a temporary file beside `output`, re-opened,
  checked, extracted, compared with the export and (with `reload`) loaded
  with `hub.load` in a fresh isolated process; only then is it renamed into
  place. Raises ExportError (nothing left at `output`) on any problem.
  """
  start = time.perf_counter()
  export_dir = os.path.abspath(os.path.expanduser(export_dir))
  output = os.path.abspath(os.path.expanduser(output))
  _check_output(output, overwrite)
  if output == export_dir or output.startswith(export_dir + os.sep):
    raise ExportError(f'--output {output} is inside --export_dir: write the '
                      'archive outside the SavedModel directory')
  members = collect(export_dir)
  parent = os.path.dirname(output)
  created = []
  p = parent
  while not os.path.exists(p):
    created.append(p)
    p = os.path.dirname(p)
  tmp = tmp_sha = None
  try:
    base = os.path.basename(output)
    try:  # The write probe.
      os.makedirs(parent, exist_ok=True)
      fd, tmp = tempfile.mkstemp(prefix=f'.{base}.tmp-', dir=parent)
    except OSError as e:
      raise ExportError(f'cannot write --output {output} ({e.strerror or e}: '
                        f'{e.filename}): choose a writable --output') from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; archives are not.
    write_archive(members, tmp)
    expected = {'/'.join(parts): record.sha256(path)
                for parts, is_dir, path in members if not is_dir}
    info = _check_archive(tmp, expected_files=expected, reload=reload,
                          shown_as=output, work_dir=parent)
    fd, tmp_sha = tempfile.mkstemp(prefix=f'.{base}.sha256.tmp-', dir=parent)
    with os.fdopen(fd, 'w') as f:
      f.write(f'{info.sha256}  {base}\n')
    os.chmod(tmp_sha, 0o666 & ~umask)
    os.replace(tmp, output)
    tmp = None
    os.replace(tmp_sha, output + '.sha256')
    tmp_sha = None
    created = []
  except BaseException:
    if tmp is None and os.path.exists(output) and tmp_sha is not None:
      os.remove(output)  # Never an archive without its checksum.
    raise
  finally:
    for path in (tmp, tmp_sha):
      if path and os.path.exists(path):
        os.remove(path)
    for p in created:
      try:
        os.rmdir(p)
      except OSError:
        break
  info.archive = output
  info.sha256_file = output + '.sha256'
  info.seconds = time.perf_counter() - start
  return info


# ---------------------------------------------------------------- checking


def _normalize(name: str) -> Tuple[Optional[Tuple[str, ...]], Optional[str]]:
  """Archive member name -> path components, or (None, problem).

  `./x` (as `tar -C DIR .` writes) is `x`; `.` alone is the root itself.
  """
  if name.startswith('/') or re.match(r'^[A-Za-z]:', name) or '\\' in name:
    return None, (f'{name}: an absolute path (or a backslash); an archive '
                  'member must be relative to the archive root')
  parts = [p for p in name.split('/') if p]
  while parts and parts[0] == '.':
    parts.pop(0)
  if '..' in parts:
    return None, (f'{name}: a ".." path escapes the archive root; members '
                  'must stay below it')
  if '.' in parts:
    return None, f'{name}: a "." inside the path; use a plain relative path'
  return tuple(parts), None


def _sha256_file_problem(archive: str, digest: str) -> Tuple[Optional[str],
                                                             bool]:
  """Checks `<archive>.sha256`; returns (problem, checked)."""
  path = archive + '.sha256'
  if not os.path.isfile(path):
    return None, False
  with open(path, encoding='utf-8', errors='replace') as f:
    fields = f.read().split()
  if not fields or not re.fullmatch(r'[0-9a-fA-F]{64}', fields[0]):
    return (f'{path} does not start with a sha256 hex digest; re-create it '
            f'with sha256sum {os.path.basename(archive)}'), False
  if fields[0].lower() != digest:
    return (f'{path} says {fields[0].lower()} but the archive\'s sha256 is '
            f'{digest}: the archive is corrupt or the checksum is stale'), True
  if len(fields) > 1 and fields[1].lstrip('*') != os.path.basename(archive):
    return (f'{path} names {fields[1]!r}, not {os.path.basename(archive)!r}: '
            'sha256sum -c would not find the archive; fix the name'), True
  return None, True


def _extract(tar: tarfile.TarFile, entries, into: str) -> None:
  """Extracts validated regular files and directories below `into` only."""
  root = os.path.realpath(into)
  for parts, member in entries:
    target = os.path.realpath(os.path.join(root, *parts))
    if not target.startswith(root + os.sep):  # Unreachable after validation.
      raise ExportError(f'{member.name}: would extract outside the archive '
                        'root; refusing')
    if member.isdir():
      os.makedirs(target, exist_ok=True)
      continue
    os.makedirs(os.path.dirname(target), exist_ok=True)
    src = tar.extractfile(member)
    with src, open(target, 'xb') as dst:
      shutil.copyfileobj(src, dst, 1 << 20)


def _bounded(tar: tarfile.TarFile, shown: str, max_members: int,
             max_bytes: int, free_bytes: int, archive_bytes: int):
  """The members of `tar`, read header by header; ExportError as soon as
  the headers claim more than the limits (see the module docstring)."""
  # A tar header is 512 bytes before compression; the gzip stream holds at
  # most MAX_DEFLATE_RATIO times its size of tar data.
  possible = archive_bytes * MAX_DEFLATE_RATIO
  count = total = 0
  for member in tar:
    count += 1
    if count > max_members:
      raise ExportError(
          f'{shown} has more than {max_members:,} members, far more than a '
          'SavedModel holds (a decompression bomb?): refusing to extract it; '
          'pass a SavedModel archive')
    if member.issparse():
      raise ExportError(f'{shown}: {member.name} is a sparse file, which an '
                        'upload archive never holds: re-create the archive '
                        'with package_export.py')
    total += max(member.size, 0) if member.isreg() else 0
    for limit, what in ((max_bytes, 'the limit for an upload archive'),
                        (free_bytes, 'the free space of the temporary '
                         'directory'),
                        (possible, 'what a gzip stream of its size can hold')):
      if total > limit:
        raise ExportError(
            f'{shown}: its members claim {record.human_size(total)} (after '
            f'{member.name}), more than {what} ({record.human_size(limit)}): '
            'refusing to extract it (a decompression bomb or a damaged '
            'archive)')
    yield member


def reload_saved_model(saved_model_dir: str, shown_as: Optional[str] = None
                       ) -> Tuple[dict, float]:
  """`hub.load`s a SavedModel in a fresh isolated consumer process.

  Returns (what it reported, seconds the process took); ExportError if it
  does not load, or if the op scan refuses it (read before anything loads).
  """
  refused = verify.refused_by_op_scan(saved_model_dir)
  if refused is not None:
    check = refused['checks'][0]
    raise ExportError(f'{shown_as or saved_model_dir}: not loaded: '
                      f"{check['name']}: {check['value']} ({check['detail']});"
                      ' check it with export_scripts/verify_export.py')
  start = time.perf_counter()
  proc = subprocess.run(
      [sys.executable, '-I', '-c', _RELOAD, os.path.abspath(saved_model_dir)],
      cwd=os.path.dirname(os.path.abspath(saved_model_dir)),
      env=verify.consumer_env(), capture_output=True, text=True, check=False)
  seconds = time.perf_counter() - start
  lines = proc.stdout.strip().splitlines()
  if proc.returncode != 0 or not lines:
    errors = [l for l in proc.stderr.strip().splitlines() if l.strip()]
    last = errors[-1].strip() if errors else f'exit {proc.returncode}'
    raise ExportError(f'{shown_as or saved_model_dir}: the SavedModel does '
                      f'not load with hub.load in a fresh process ({last}); '
                      'check it with export_scripts/verify_export.py')
  return json.loads(lines[-1]), seconds


def reload_tflite(variation_dir: str, shown_as: Optional[str] = None
                  ) -> Tuple[dict, float]:
  """Loads a TFLite variation's model.tflite with the LiteRT interpreter in
  a fresh isolated process (ExportError if it does not load)."""
  from official.hub_export import tflite  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  try:
    info = tflite.load_info(os.path.join(variation_dir, TFLITE_MODEL))
  except ExportError as e:
    raise ExportError(f'{shown_as or variation_dir}: {e}') from None
  return info, time.perf_counter() - start


def _check_archive(archive: str, expected_files: Optional[Dict[str, str]],
                   reload: bool, shown_as: Optional[str] = None,
                   work_dir: Optional[str] = None,
                   max_members: int = MAX_MEMBERS,
                   max_bytes: int = MAX_BYTES) -> ArchiveInfo:
  shown = shown_as or archive
  digest = record.sha256(archive)
  problems, entries, seen = [], [], set()
  free = shutil.disk_usage(work_dir or tempfile.gettempdir()).free
  try:
    with tarfile.open(archive, mode='r:gz') as tar:
      wrapped = set()
      for member in _bounded(tar, shown, max_members, max_bytes, free,
                             os.path.getsize(archive)):
        parts, problem = _normalize(member.name)
        if parts and len(parts) > 1 and parts[-1] == 'saved_model.pb':
          wrapped.add('/'.join(parts[:-1]))
        if problem:
          problems.append(problem)
          continue
        if not parts:
          if not member.isdir():
            problems.append(f'{member.name!r}: the archive root must be a '
                            'directory')
          continue
        name = '/'.join(parts)
        if member.issym() or member.islnk():
          problems.append(f'{name}: a {"symlink" if member.issym() else "hard link"} '
                          f'(to {member.linkname}); archives hold regular '
                          'files only: re-create it without links')
          continue
        if not (member.isreg() or member.isdir()):
          problems.append(f'{name}: not a regular file or directory (tar type '
                          f'{member.type!r}); remove it')
          continue
        problem = _member_problem(parts, member.isdir())
        if problem:
          problems.append(problem)
          continue
        if parts in seen:
          problems.append(f'{name}: appears more than once; keep one copy')
          continue
        seen.add(parts)
        entries.append((parts, member))
      files = {p for p, m in entries if m.isreg()}
      problems += _tflite_problems([p[0] for p, _ in entries if len(p) == 1])
      lite = (TFLITE_MODEL,) in files
      if ('saved_model.pb',) not in files and not lite:
        wrapped = sorted(wrapped)
        if wrapped:  # One problem, not one per member inside the folder.
          problems = [
              x for x in problems if not (x.endswith(_UNEXPECTED) and any(
                  x.startswith((w + ':', w + '/')) for w in wrapped))]
          problems.insert(0, (
              f'saved_model.pb is in {wrapped[0]}/, not at the archive root: '
              'the files must be at the root with no wrapping folder; '
              're-create it with package_export.py --export_dir='
              f'{wrapped[0]} (or tar -czf ARCHIVE -C {wrapped[0]} .)'))
        else:
          problems.insert(0, 'no saved_model.pb at the archive root: this is '
                          'not a SavedModel archive')
      sha_problem, sha_checked = _sha256_file_problem(archive, digest)
      if sha_problem:
        problems.append(sha_problem)
      if problems:
        _raise(f'{shown} is not a valid upload archive', problems)
      with tempfile.TemporaryDirectory(prefix='.hub_export_archive_',
                                       dir=work_dir) as tmp:
        into = os.path.join(tmp, 'saved_model')
        os.mkdir(into)
        _extract(tar, entries, into)
        if expected_files is not None:
          _compare(into, files, expected_files)
        reload_fn = reload_tflite if lite else reload_saved_model
        result, seconds = (reload_fn(into, shown) if reload else ({}, 0.0))
  except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as e:
    raise ExportError(f'{shown} is not a readable .tar.gz archive ({e}); '
                      'pass a gzip-compressed tar file') from None
  except OSError as e:
    raise ExportError(f'cannot extract {shown}: {e}; check the archive and '
                      'the free space of the temporary directory') from None
  sizes = [m.size for _, m in entries if m.isreg()]
  return ArchiveInfo(
      archive=archive, sha256=digest, archive_bytes=os.path.getsize(archive),
      files=len(sizes), directories=len(entries) - len(sizes),
      content_bytes=sum(sizes),
      members=['/'.join(p) + ('/' if m.isdir() else '') for p, m in entries],
      sha256_file=archive + '.sha256' if sha_checked else None,
      sha256_file_checked=sha_checked, reload=result, reload_seconds=seconds)


def _compare(into: str, files, expected: Dict[str, str]) -> None:
  """The extracted files are exactly the export's files, byte for byte."""
  got = {'/'.join(p) for p in files}
  if got != set(expected):
    missing = sorted(set(expected) - got)
    extra = sorted(got - set(expected))
    raise ExportError(f'the archive does not round-trip: missing {missing}, '
                      f'extra {extra}; run again')
  for name, digest in expected.items():
    if record.sha256(os.path.join(into, name)) != digest:
      raise ExportError(f'{name} differs between the archive and the export '
                        '(was it modified while packaging?); run again')


def verify_archive(archive: str, reload: bool = True,
                   max_members: int = MAX_MEMBERS,
                   max_bytes: int = MAX_BYTES) -> ArchiveInfo:
  """Checks an upload archive (anyone's); raises ExportError listing every
  problem. Returns what was found, including the `hub.load` result.

  Archives with more than `max_members` members or whose files claim more
  than `max_bytes` (or the temporary directory's free space) are refused
  before anything is extracted."""
  start = time.perf_counter()
  archive = os.path.abspath(os.path.expanduser(archive))
  if not os.path.exists(archive):
    raise ExportError(f'--verify_archive {archive} does not exist: pass the '
                      'path of a .tar.gz upload archive')
  if not os.path.isfile(archive):
    raise ExportError(f'--verify_archive {archive} is not a file: pass the '
                      'path of a .tar.gz upload archive')
  info = _check_archive(archive, expected_files=None, reload=reload,
                        max_members=max_members, max_bytes=max_bytes)
  info.seconds = time.perf_counter() - start
  return info


def summary(info: ArchiveInfo) -> List[str]:
  """Lines describing an archive for the command line."""
  lines = [f'  {info.files + info.directories} members ({info.files} files, '
           f'{info.directories} directories) at the archive root, '
           f'{record.human_size(info.content_bytes)} of files -> '
           f'{record.human_size(info.archive_bytes)} archive']
  sha = f'  sha256 {info.sha256}'
  if info.sha256_file:
    sha += (f' (written to {info.sha256_file})' if not info.sha256_file_checked
            else f' (matches {os.path.basename(info.sha256_file)})')
  elif not info.sha256_file_checked:
    sha += ' (no .sha256 file beside it to check)'
  lines.append(sha)
  if info.reload and 'tflite_ops' in info.reload:
    r = info.reload
    lines.append(f"  {TFLITE_MODEL} loaded from a temporary extraction with "
                 f"the LiteRT interpreter in a fresh process ({info.reload_seconds:.1f}"
                 f" s); signatures: {', '.join(r['signatures'])}; "
                 f"{len(r['tflite_ops'])} builtin op types")
  elif info.reload:
    r = info.reload
    sigs = ', '.join(r.get('signatures') or []) or 'none'
    lines.append(f"  hub.load from a temporary extraction in a fresh process: "
                 f"{r['load_seconds']:.2f} s (process {info.reload_seconds:.1f}"
                 f" s); {r['variables']} variables, "
                 f"{r['trainable_variables']} trainable; signatures: {sigs}")
  return lines

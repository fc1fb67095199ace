"""The export record written beside every SavedModel, under `assets.extra/`.

    assets.extra/operative_config.gin   what gin actually used
    assets.extra/export_record.json     recipe, command, source checkpoint and
                                        its fingerprint, versions, git revision,
                                        declared API, the TensorFlow version
                                        that wrote it and the op libraries it
                                        needs, file hashes, verification

`assets.extra/` travels inside the upload archive but is ignored by loaders.
The driver calls `build`, writes the model card (`model_card.py`), then
`finish`, which hashes every file.
"""

import hashlib
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
import threading
from typing import Callable, Optional, Sequence

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
EXTRA = 'assets.extra'
RECORD = 'export_record.json'
OPERATIVE_CONFIG = 'operative_config.gin'

_PACKAGES = ('tensorflow', 'tf-keras', 'tensorflow-hub', 'tf-models-official',
             'tensorflow-text', 'gin-config', 'numpy')


def sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      h.update(block)
  return h.hexdigest()


def fingerprint(files: Sequence[str]) -> str:
  """One hash over a checkpoint's files (names and contents)."""
  h = hashlib.sha256()
  for path in sorted(files):
    h.update(os.path.basename(path).encode() + b'\0')
    h.update(sha256(path).encode())
  return h.hexdigest()


def fingerprint_in_background(files: Sequence[str]) -> Callable[[], str]:
  """Starts `fingerprint(files)` in a daemon thread; returns its getter.

  Exports hash their checkpoint for the record while the model is traced
  and saved: file reads and hashlib release the GIL, so the hash costs no
  wall time (docs/measurements/benchmarks.md, "Fixed: the checkpoint hashed on the critical path").
  The getter waits and re-raises the thread's error, if any.
  """
  box = {}

  def work():
    try:
      box['value'] = fingerprint(files)
    except BaseException as e:  # pylint: disable=broad-except
      box['error'] = e

  thread = threading.Thread(target=work, name='checkpoint-fingerprint',
                            daemon=True)
  thread.start()

  def result() -> str:
    thread.join()
    if 'error' in box:
      raise box['error']
    return box['value']
  return result


def versions() -> dict:
  out = {'python': platform.python_version()}
  for p in _PACKAGES:
    try:
      out[p] = importlib.metadata.version(p)
    except importlib.metadata.PackageNotFoundError:
      out[p] = None
  return out


def git_revision() -> Optional[str]:
  try:
    rev = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True,
                         timeout=10).stdout.strip()
    dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                           cwd=REPO_ROOT, capture_output=True, text=True,
                           check=True, timeout=10).stdout.strip()
    return rev + ('-dirty' if dirty else '')
  except (OSError, subprocess.SubprocessError):
    return None


def command_line() -> str:
  return shlex.join([os.path.basename(sys.executable)] + sys.argv)


def file_table(saved_model_dir: str) -> dict:
  """relative path -> {bytes, sha256} of the SavedModel's files."""
  table = {}
  for dirpath, _, files in os.walk(saved_model_dir):
    for name in sorted(files):
      path = os.path.join(dirpath, name)
      rel = os.path.relpath(path, saved_model_dir)
      if rel in (os.path.join(EXTRA, RECORD),):
        continue
      table[rel] = {'bytes': os.path.getsize(path), 'sha256': sha256(path)}
  return dict(sorted(table.items()))


def sizes(saved_model_dir: str) -> dict:
  graph = variables = assets = other = 0
  for dirpath, _, files in os.walk(saved_model_dir):
    for name in files:
      path = os.path.join(dirpath, name)
      rel = os.path.relpath(path, saved_model_dir)
      n = os.path.getsize(path)
      if rel == 'saved_model.pb':
        graph += n
      elif rel.startswith('variables' + os.sep):
        variables += n
      elif rel.startswith('assets' + os.sep):
        assets += n
      else:
        other += n
  return {'saved_model_pb': graph, 'variables': variables, 'assets': assets,
          'total': graph + variables + assets + other}


def human_size(n: float) -> str:
  """1536 -> '1.5 KB'."""
  for unit in ('B', 'KB', 'MB', 'GB'):
    if n < 1024 or unit == 'GB':
      return f'{n:.0f} {unit}' if unit == 'B' else f'{n:.1f} {unit}'
    n /= 1024
  return str(n)


def saved_model_info(saved_model_dir: str,
                     verification: Optional[dict]) -> dict:
  """The TensorFlow version that wrote the SavedModel and the op libraries
  (pip packages) it needs, from the op scan.

  The verification's checker process found the libraries in a fresh
  process; without it (--noverify), ops TensorFlow itself lacks
  (`tf.raw_ops`) are attributed to the extension libraries this process
  has loaded, and what is left by `opscan.py` in a fresh process.
  """
  from official.hub_export.checker import opscan  # pylint: disable=g-import-not-at-top
  scan = ((verification or {}).get('info') or {}).get('op_scan') or {}
  if 'op_libraries' in scan:
    return {'tensorflow_version': scan['tensorflow_version'],
            'op_libraries': scan['op_libraries']}
  scan = opscan.scan(saved_model_dir)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  foreign = [o for o in scan['op_types'] if not hasattr(tf.raw_ops, o)]
  # Libraries this process loaded (a recipe's tensorflow_text) answer at
  # once; only what they do not register needs a fresh process.
  libraries, left = opscan.loaded_op_libraries(foreign)
  if left:
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    proc = subprocess.run(
        [sys.executable, '-I', os.path.abspath(opscan.__file__),
         '--op_libraries=' + ','.join(left)], env=env,
        capture_output=True, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    fresh = json.loads(lines[-1]) if proc.returncode == 0 and lines \
        else {'unknown': left}
    for package, ops in fresh.items():
      libraries[package] = sorted(set(libraries.get(package, [])) | set(ops))
  libraries = {k: libraries[k] for k in sorted(
      libraries, key=lambda k: (k == 'unknown', k))}
  return {'tensorflow_version': scan['tensorflow_version'],
          'op_libraries': libraries}


def build(saved_model_dir: str, *, recipe: str, name: str, spec_json: dict,
          source: dict, operative_config: str,
          verification: Optional[dict]) -> dict:
  """Writes the operative config; returns the record (files not yet hashed)."""
  extra = os.path.join(saved_model_dir, EXTRA)
  os.makedirs(extra, exist_ok=True)
  with open(os.path.join(extra, OPERATIVE_CONFIG), 'w') as f:
    f.write(operative_config)
  return {
      'recipe': recipe,
      'export': name,
      'command': command_line(),
      'source': source,
      'versions': versions(),
      'git_revision': git_revision(),
      'api': spec_json,
      'saved_model': saved_model_info(saved_model_dir, verification),
      'verification': None if verification is None else {
          k: verification[k] for k in ('checks', 'info', 'passed', 'failed')},
  }


def finish(saved_model_dir: str, record: dict) -> dict:
  """Adds sizes and hashes of every file (the model card included) and
  writes the JSON record."""
  record['sizes'] = sizes(saved_model_dir)
  record['files'] = file_table(saved_model_dir)
  with open(os.path.join(saved_model_dir, EXTRA, RECORD), 'w') as f:
    json.dump(record, f, indent=1, sort_keys=False)
    f.write('\n')
  return record

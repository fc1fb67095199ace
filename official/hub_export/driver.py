"""The common entry of every export script: flags, gin, atomic output, summary.

A recipe is a function `export(ctx)` that builds its model(s), restores them
with `ctx.restore(...)` and hands each exported object to `ctx.save(...)`.
The script ends with `driver.run(export, recipe='name')`. The driver:

  1. parses flags (`--gin_file`, `--gin_params`, `--checkpoint_path`,
     `--export_dir`, `--overwrite`, `--verify/--noverify` and the recipe's own)
     and gin; an unknown binding, a bad flag or a `%gin.REQUIRED` value left
     unset is a one-line error (exit 2) before anything is built;
  2. refuses an existing non-empty `--export_dir` unless `--overwrite`, a
     `--export_dir` that is a file, lies inside the directory given as
     `--checkpoint_path` or holds an input (the checkpoint, a gin file, any
     `--*_file`/`--*_path` flag's file: `--overwrite` would delete it), and
     one whose parent cannot be written (a write probe), all before the
     recipe builds anything;
  3. runs the recipe into a temporary directory beside the destination;
  4. verifies every SavedModel (`verify.py`), writes the model cards
     (`model_card.py`) and export records (`record.py`), and only then
     renames the result into place (with
     `--overwrite`, the old export is replaced only after the new one passed);
  5. prints a short summary. Any failure removes the temporary directory, so
     nothing is left at the destination; `ExportError`s print as one line
     (plus their report) and exit 1.
"""

import dataclasses
import importlib.util  # pylint: disable=unused-import  (gin's include search needs it loaded)
import io
import os
import re
import shutil
import sys
import tempfile
import time
import tokenize
from typing import Any, Callable, Dict, List, Optional, Sequence

from absl import flags
from absl import logging
import gin

from official.hub_export import cli
from official.hub_export import model_card
from official.hub_export import record
from official.hub_export import restore as restore_lib
from official.hub_export import spec as spec_lib
from official.hub_export.spec import ExportError
from official.hub_export.spec import UsageError

FLAGS = flags.FLAGS

flags.DEFINE_multi_string(
    'gin_file', [], 'Gin config file(s) for the architecture and export '
    'choices (relative to the current directory or the repository root).')
flags.DEFINE_multi_string(
    'gin_params', [], "Gin bindings overriding the files, e.g. "
    "--gin_params='SEQ_LENGTH = 256'.")
flags.DEFINE_string('checkpoint_path', None,
                    'Checkpoint prefix, directory (latest checkpoint) or '
                    'Keras .h5 weights file to export.')
flags.DEFINE_string('export_dir', None, 'Where to write the export.')
flags.DEFINE_bool('overwrite', False,
                  'Replace an existing export_dir (only after the new export '
                  'verified).')
flags.DEFINE_bool('verify', True,
                  'Reload the export in a fresh process and check it against '
                  'the source model (--noverify to skip).')

flags.DEFINE_string(
    'tflite', '', 'Also write verified TFLite variations of each verified '
    'export, beside it in NAME_tflite/<build>/: comma-separated builds of '
    'float32,dynamic_range,float16 (see official/hub_export/tflite.py).')

flags.DEFINE_string(
    'write_golden', None,
    'Maintainers: also write the in-memory source model\'s outputs on the '
    'verification inputs to DIR/<export name>.npz (regression fixtures).')


@dataclasses.dataclass
class _Pending:
  name: str
  path: str
  spec: spec_lib.ExportSpec
  cases: Sequence[spec_lib.Case]
  reference: Callable[[spec_lib.Case], Any]
  verification: Optional[dict] = None


class Context:
  """What a recipe's `export(ctx)` gets."""

  def __init__(self, recipe: str, workdir: str, checkpoint_path: Optional[str],
               verifier=None, keep_references: bool = False):
    self.recipe = recipe
    self.workdir = workdir
    self.checkpoint_path = checkpoint_path
    # `verify.Verifier`: each export's checks start as soon as it is saved.
    self.verifier = verifier
    # (Only --write_golden runs the source model again after the recipe.)
    self.keep_references = keep_references
    self.sources: Dict[str, Any] = {}
    self.restore_report: Optional[restore_lib.RestoreReport] = None
    self.pending: List[_Pending] = []
    self._fingerprints: Dict[str, Callable[[], str]] = {}

  def restore(self, layouts, required, **kwargs) -> restore_lib.RestoreReport:
    """Strictly restores `--checkpoint_path` (see `restore.restore`)."""
    self.restore_report = restore_lib.restore(self.checkpoint_path, layouts,
                                              required, **kwargs)
    # For the export record, hashed while the recipe traces and saves.
    path = self.restore_report.path
    if path not in self._fingerprints:
      self._fingerprints[path] = record.fingerprint_in_background(
          restore_lib.checkpoint_files(path))
    return self.restore_report

  def add_source(self, name: str, path: str, **info) -> None:
    """Records a further input file (vocabulary, embedding file, ...)."""
    path = os.path.abspath(path)
    self.sources[name] = dict(path=path, sha256=record.sha256(path), **info)

  def save(self, name: str, obj, spec: spec_lib.ExportSpec,
           cases: Sequence[spec_lib.Case],
           reference: Callable[[spec_lib.Case], Any]) -> str:
    """Writes one reusable SavedModel and starts its verification.

    The source model's outputs on `cases` are computed here; the consumer
    processes check the SavedModel while the recipe goes on (save the
    smallest export first: its checks then overlap the bigger exports).

    Args:
      name: subdirectory of --export_dir ('' for the export_dir itself).
      obj: the export object (`writer.from_keras(...)` or a `Reusable`).
      spec: its declared API.
      cases: sample calls for verification (a shape sweep).
      reference: runs the in-memory source model on a case.
    Returns:
      The temporary path written.
    """
    from official.hub_export import writer  # pylint: disable=g-import-not-at-top
    path = os.path.join(self.workdir, name) if name else self.workdir
    if any(p.path == path for p in self.pending):
      raise ValueError(f'export {name!r} saved twice')
    t0 = time.perf_counter()
    writer.write(obj, path, spec)
    logging.info('Wrote %s in %.1f s', name or 'SavedModel',
                 time.perf_counter() - t0)
    self.pending.append(_Pending(
        name, path, spec, list(cases),
        reference if self.keep_references else None))
    if self.verifier is not None:
      self.verifier.add(path, spec, cases, reference)
    return path


def _gin_include_search():
  """`include 'configs/...'` resolves from the cwd, then the repository root.

  gin's Python-package reader crashes (TypeError) on a path whose first part
  is an importable namespace package, such as this repository's `configs/`
  when the root is on sys.path; treat that as "not found" instead.
  """
  from gin import resource_reader  # pylint: disable=g-import-not-at-top
  readers = gin.config._FILE_READERS  # pylint: disable=protected-access
  for i, (reader, exists) in enumerate(readers):
    if exists is resource_reader.system_path_file_exists:
      def safe_exists(path, _exists=exists):
        try:
          return _exists(path)
        except TypeError:
          return False
      exists = safe_exists
    if not getattr(reader, 'records_gin_text', False):
      reader = _recording(reader)
    readers[i] = (reader, exists)
  if record.REPO_ROOT not in gin.config._LOCATION_PREFIXES:  # pylint: disable=protected-access
    gin.add_config_file_search_path(record.REPO_ROOT)


# The text of every gin file parsed (included ones too), for the macro check.
_GIN_TEXTS: List[str] = []


def _recording(reader):
  """A gin file reader that also keeps the text it hands to gin."""
  def read(path):
    with reader(path) as f:
      text = f.read()
    if isinstance(text, bytes):
      text = text.decode('utf-8')
    _GIN_TEXTS.append(text)
    return io.StringIO(text)
  read.records_gin_text = True
  return read


def parse_gin(files: Sequence[str], params: Sequence[str]) -> None:
  """Parses gin files/bindings; raises ExportError (one line) on problems."""
  _gin_include_search()
  _GIN_TEXTS[:] = list(params)
  resolved = []
  for f in files:
    if not os.path.exists(f) and os.path.exists(
        os.path.join(record.REPO_ROOT, f)):
      f = os.path.join(record.REPO_ROOT, f)
    if not os.path.exists(f):
      raise UsageError(f'gin file {f} does not exist: check --gin_file (paths '
                        'are relative to the current directory or the '
                        'repository root)')
    resolved.append(f)
  try:
    gin.parse_config_files_and_bindings(resolved, list(params))
  except tokenize.TokenError as e:  # An unclosed bracket: not a SyntaxError.
    raise UsageError(f'gin: {e.args[0]} (an unclosed bracket or quote in '
                     f'{", ".join(resolved) or "--gin_params"}); fix the '
                     'config') from None
  except (ValueError, IOError, SyntaxError, TypeError) as e:
    # gin checks `%gin.REQUIRED` values at parse time; say it in our words.
    unset = re.match(r'^(\S+?)(/macro\.value)? set to `%gin\.REQUIRED`',
                     str(e))
    if unset:
      name = unset.group(1)
      raise UsageError(
          f'gin: required value {name} is not set; set it in the gin file or '
          f"with --gin_params='{name} = ...'") from None
    raise UsageError(f'gin: {_gin_message(e)}') from None
  _check_macros_used()


def _macros_bound_and_used():
  """The macros gin holds (`NAME = value`) and those some binding reads
  (`%NAME`), from gin's parsed config."""
  config = gin.config._CONFIG  # pylint: disable=protected-access
  bound = {scope for scope, selector in config if selector == 'gin.macro'}
  used = set()

  def walk(value):
    if isinstance(value, gin.config.ConfigurableReference):
      if value.configurable.name == 'macro':
        used.add('/'.join(value.scopes))
    elif isinstance(value, dict):
      for v in value.values():
        walk(v)
    elif isinstance(value, (list, tuple, set)):
      for v in value:
        walk(v)
  for params in config.values():
    walk(params)
  return bound, used


def _check_macros_used():
  """A macro nothing reads is a typo or an old name: without this check it
  would be ignored silently (gin accepts any `NAME = value` line). A macro
  some config file reads (`%NAME`) counts as read even where a binding that
  read it was overridden (`resnet.depth = 101` instead of `DEPTH = 101`)."""
  bound, used = _macros_bound_and_used()
  for text in _GIN_TEXTS:
    used.update(re.findall(r'%([A-Za-z_][\w./]*)', text))
  for name in sorted(bound - used):
    upper = name.upper()
    hint = (f'the macro is {upper} (gin macros are UPPER_CASE; README, '
            '"Changes")' if upper != name and upper in bound else
            'check its spelling against the recipe\'s gin files')
    raise UsageError(f'gin: macro {name} is set but nothing uses it: {hint}')


# Configurable names of earlier versions: a config that binds one gets the
# new name in its error (README, "Changes").
_RENAMED = {'export_options': 'bert.* or albert.* (the recipe\'s name)',
            'keras_export': 'keras.*'}


def _gin_message(e):
  lines = [l.strip() for l in str(e).splitlines() if l.strip()]
  msg = (lines[0] if lines else type(e).__name__).rstrip('.')
  where = [l for l in lines[1:] if l.startswith('In ')]
  where = where[0][3:].replace('bindings string', '--gin_params') if where else ''
  for was, now in _RENAMED.items():
    if f"No configurable matching '{was}'" in msg:
      return f'{msg} ({where}): {was}.* is now {now}; see README, "Changes"'
  return msg + (f' ({where})' if where else '') + (
      '; check the spelling (the configurable names are in the recipe\'s '
      'gin files and --helpfull)' if 'No configurable matching' in msg or
      "doesn't have a parameter" in msg else '')


def _unproxied(cls):
  """The error class itself: gin re-raises an error from inside a
  configurable as a subclass of its class (`ExceptionProxy`, no arguments)."""
  while 'ExceptionProxy' in getattr(cls.__init__, '__qualname__', ''):
    cls = cls.__mro__[1]
  return cls


def _strip_gin_context(message: str) -> str:
  keep = []
  for line in message.splitlines():
    if line.strip().startswith('In call to configurable'):
      break
    keep.append(line)
  return '\n'.join(keep).rstrip()


def _prepare_destination(export_dir: str, overwrite: bool) -> None:
  if os.path.lexists(export_dir) and not os.path.isdir(export_dir):
    raise ExportError(f'--export_dir {export_dir} is a file: pass a directory '
                      'path')
  if os.path.isdir(export_dir) and os.listdir(export_dir) and not overwrite:
    raise ExportError(f'--export_dir {export_dir} already exists and is not '
                      'empty: pass --overwrite to replace it, or choose '
                      'another directory')


def _inside(path: str, directory: str) -> bool:
  path, directory = os.path.realpath(path), os.path.realpath(directory)
  return path == directory or path.startswith(directory.rstrip(os.sep) +
                                              os.sep)


def _input_paths() -> List[str]:
  """The files the export reads, by flag: the gin files and every
  `--*_file`/`--*_path` flag (the checkpoint is added by the caller)."""
  paths = list(FLAGS.gin_file)
  for name in FLAGS:
    if name.endswith(('_file', '_path')) and name != 'gin_file':
      value = FLAGS[name].value
      for v in value if isinstance(value, (list, tuple)) else [value]:
        if isinstance(v, str) and v and os.path.exists(v):
          paths.append(v)
  return paths


def _check_against_inputs(export_dir: str, inputs: Sequence[str],
                          checkpoint_dir: Optional[str]) -> None:
  """`--export_dir` must not be inside the checkpoint directory (a trainer's
  directory, whose files come and go) nor hold any input (`--overwrite`
  would delete it with the old export)."""
  if checkpoint_dir and _inside(export_dir, checkpoint_dir):
    raise ExportError(
        f'--export_dir {export_dir} lies inside the checkpoint directory '
        f'{checkpoint_dir}: write the export outside it (e.g. beside it)')
  for path in inputs:
    if _inside(path, export_dir):
      raise ExportError(
          f'--export_dir {export_dir} holds an input of this export ({path}), '
          'which replacing it would delete: choose another --export_dir')


def _make_workdir(export_dir: str, created_parents: List[str]) -> str:
  """Creates the temporary directory beside `export_dir` (and its missing
  parents, recorded in `created_parents` for cleanup): the write probe."""
  parent = os.path.dirname(export_dir)
  p = parent
  while not os.path.lexists(p):
    created_parents.append(p)
    p = os.path.dirname(p)
  if not os.path.isdir(p):
    raise ExportError(f'cannot create --export_dir {export_dir}: {p} is a '
                      'file, not a directory; choose another --export_dir')
  try:
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{os.path.basename(export_dir)}.tmp-',
                           dir=parent)
  except OSError as e:
    raise ExportError(
        f'cannot write into {parent} ({e.strerror or e}): choose a writable '
        '--export_dir') from None
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; exports are not.
  return tmp


def _move_into_place(tmp: str, export_dir: str, overwrite: bool) -> None:
  _prepare_destination(export_dir, overwrite)
  cli.replace_dir(tmp, export_dir)


def _quiet() -> None:
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  explicit = any(a.startswith(('--verbosity', '-v=', '--v=')) for a in sys.argv)
  if not explicit:
    logging.set_verbosity(logging.WARNING)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.get_logger().setLevel('ERROR' if not explicit else 'INFO')


def export_main(export_fn: Callable[[Context], None], recipe: str,
                needs_checkpoint: bool = True) -> int:
  """Runs one export with the parsed flags. Returns the exit status."""
  return cli.exit_status(lambda: _export(export_fn, recipe, needs_checkpoint))


def _export(export_fn, recipe, needs_checkpoint) -> int:
  _quiet()
  start = time.perf_counter()
  export_dir = FLAGS.export_dir
  tmp = lite_tmp = verifier = None
  created_parents = []
  try:
    if not export_dir:
      raise UsageError('--export_dir is required')
    if needs_checkpoint and not FLAGS.checkpoint_path:
      raise UsageError('--checkpoint_path is required')
    if not FLAGS.gin_file:
      raise UsageError(f'--gin_file is required (see configs/{recipe}/)')
    parse_gin(FLAGS.gin_file, FLAGS.gin_params)
    builds = _tflite_builds()
    export_dir = os.path.abspath(os.path.expanduser(export_dir))
    _prepare_destination(export_dir, FLAGS.overwrite)
    inputs, checkpoint_dir = _input_paths(), None
    if FLAGS.checkpoint_path:
      # Fail fast on a bad path or a damaged checkpoint.
      _, resolved = restore_lib.resolve(FLAGS.checkpoint_path)
      inputs += restore_lib.checkpoint_files(resolved)
      given = os.path.expanduser(FLAGS.checkpoint_path)
      if os.path.isdir(given):
        checkpoint_dir = given
    _check_against_inputs(export_dir, inputs, checkpoint_dir)
    tmp = _make_workdir(export_dir, created_parents)
    if FLAGS.verify:  # Its processes' start-up overlaps the export.
      from official.hub_export import verify  # pylint: disable=g-import-not-at-top
      verifier = verify.Verifier()
    ctx = Context(recipe, tmp, FLAGS.checkpoint_path, verifier,
                  keep_references=bool(FLAGS.write_golden))
    export_fn(ctx)
    if not ctx.pending:
      raise RuntimeError(f'recipe {recipe} saved nothing')
    t_export = time.perf_counter() - start

    if FLAGS.write_golden:
      _write_golden(ctx, recipe, FLAGS.write_golden)
    if verifier is not None:
      _verify(ctx, verifier)
    t_verify = time.perf_counter() - start - t_export
    source = _source_info(ctx)
    cards = [model_card.for_export(p_.name) for p_ in ctx.pending]
    operative = gin.operative_config_str()  # After every configurable ran.
    records = []
    for p_, card in zip(ctx.pending, cards):
      rec = record.build(
          p_.path, recipe=recipe, name=p_.name or recipe,
          spec_json=p_.spec.to_json(), source=source,
          operative_config=operative, verification=p_.verification)
      model_card.write(p_.path, card, rec)
      records.append(record.finish(p_.path, rec))
    if builds:
      lite, lite_notes, lite_tmp = _tflite(ctx, export_dir, builds)
    _move_into_place(tmp, export_dir, FLAGS.overwrite)
    tmp, created_parents = None, []
    if lite_tmp:
      from official.hub_export import tflite  # pylint: disable=g-import-not-at-top
      tflite.move_into_place(lite_tmp, tflite.variation_dir(export_dir),
                             FLAGS.overwrite)
      lite_tmp = None
    _summary(recipe, export_dir, ctx, records, t_export, t_verify,
             time.perf_counter() - start)
    if builds:
      from official.hub_export import tflite  # pylint: disable=g-import-not-at-top
      print('  TFLite variations (verified against the SavedModel):')
      for line in tflite.summary_lines(lite) + lite_notes:
        print(line)
    return 0
  except ExportError as e:
    raise _unproxied(type(e))(_strip_gin_context(str(e))) from None
  finally:
    if verifier is not None:
      verifier.close()
    if lite_tmp:
      shutil.rmtree(lite_tmp, ignore_errors=True)
    if tmp:
      shutil.rmtree(tmp, ignore_errors=True)
    for p in created_parents:
      try:
        os.rmdir(p)
      except OSError:
        break


def _tflite_builds() -> List[str]:
  if not FLAGS.tflite:
    return []
  from official.hub_export import tflite  # pylint: disable=g-import-not-at-top
  if not FLAGS.verify:
    raise UsageError('--tflite needs the verified SavedModel: drop --noverify')
  return tflite.parse_builds(FLAGS.tflite)


def _tflite(ctx: Context, export_dir: str, builds):
  """--tflite: the variations of every export, before anything moves."""
  from official.hub_export import tflite  # pylint: disable=g-import-not-at-top
  if any(not p.name for p in ctx.pending):
    tflite.check_destination(tflite.variation_dir(export_dir), FLAGS.overwrite)
  shown = {p.name: os.path.join(export_dir, p.name) if p.name else export_dir
           for p in ctx.pending}
  return tflite.for_recipe([(p.name, p.path) for p in ctx.pending], builds,
                           shown)


def _verify(ctx: Context, verifier) -> None:
  """Lets the source model go (every export's sample outputs are written),
  then waits for the checks `verifier` runs on the exports."""
  for p in ctx.pending:
    p.reference = None
  _release_memory()
  for p, result in zip(ctx.pending, verifier.finish()):
    p.verification = result
    for line in result['report']:
      logging.info('%s', line)


def _release_memory() -> None:
  """Frees what the dropped source model held and hands the freed heap back
  to the system (glibc keeps it otherwise), so the verification processes
  do not run beside a second copy of the model."""
  import ctypes  # pylint: disable=g-import-not-at-top
  import gc  # pylint: disable=g-import-not-at-top
  gc.collect()
  try:
    ctypes.CDLL('libc.so.6').malloc_trim(0)
  except (OSError, AttributeError):
    pass


def _write_golden(ctx: Context, recipe: str, directory: str) -> None:
  from official.hub_export import verify  # pylint: disable=g-import-not-at-top
  os.makedirs(directory, exist_ok=True)
  for p in ctx.pending:
    path = os.path.join(directory, f'{p.name or recipe}.npz')
    verify.write_cases(path, p.cases, p.reference)
    print(f'  golden outputs of the source model: {path}')


def _source_info(ctx: Context) -> dict:
  info = {'inputs': ctx.sources}
  rep = ctx.restore_report
  if rep is not None:
    files = restore_lib.checkpoint_files(rep.path)
    fingerprint = ctx._fingerprints.get(  # pylint: disable=protected-access
        rep.path, lambda: record.fingerprint(files))
    info['checkpoint'] = {
        'path': os.path.abspath(rep.path), 'format': rep.format,
        'layout': rep.layout, 'restored_variables': rep.restored,
        'parameters': rep.parameters,
        'ignored_checkpoint_values': rep.ignored_values,
        'fingerprint_sha256': fingerprint(),
        'bytes': sum(os.path.getsize(f) for f in files)}
  return info


def _summary(recipe, export_dir, ctx, records, t_export, t_verify, total):
  print(f'Exported {recipe} to {export_dir} in {total:.1f} s '
        f'(export {t_export:.1f} s, verification {t_verify:.1f} s)')
  for p, rec in zip(ctx.pending, records):
    s = rec['sizes']
    where = os.path.join(export_dir, p.name) if p.name else export_dir
    v = rec['verification']
    if v is None:
      verdict = 'NOT verified (--noverify)'
    else:
      warns = sum(c['status'] == 'WARN' for c in v['checks'])
      verdict = (f"verified: {v['passed']} checks passed"
                 + (f', {warns} warnings' if warns else '')
                 + f", hub.load {v['info'].get('load_seconds', 0):.2f} s")
    size = {k: record.human_size(n) for k, n in s.items()}
    print(f'  {where}: saved_model.pb {size["saved_model_pb"]}, variables '
          f'{size["variables"]}, total {size["total"]}; {verdict}')
  rep = ctx.restore_report
  if rep is not None:
    print(f'  source: {os.path.abspath(rep.path)} ({rep.format}, layout {rep.layout!r}, '
          f'{rep.restored} variables / {rep.parameters:,} parameters '
          f'restored, {rep.ignored_values} other values ignored)')
  own = peak_memory()
  infos = [rec['verification']['info'] for rec in records
           if rec['verification']]
  tk = max([i.get('peak_rss_bytes') or 0 for i in infos] or [0])
  k3 = max([(i.get('keras3') or {}).get('peak_rss_bytes') or 0
            for i in infos] or [0])
  print(f'  peak memory (RSS): {record.human_size(own)} export process'
        + (f'; largest verification process: {record.human_size(tk)} '
           'tf_keras' if tk else '')
        + (f', {record.human_size(k3)} Keras 3' if k3 else ''))
  print(f'  in {record.EXTRA}/ of each: {model_card.CARD} (model card), '
        f'{model_card.KAGGLE}, {record.RECORD}, {record.OPERATIVE_CONFIG}')


def peak_memory() -> int:
  """Peak resident memory of this process in bytes (0 where unknown)."""
  from official.hub_export.checker import cli as checker_cli  # pylint: disable=g-import-not-at-top
  hwm = checker_cli.peak_rss()  # Linux: this process image only.
  if hwm:
    return hwm
  try:
    import resource  # pylint: disable=g-import-not-at-top
  except ImportError:  # Not on POSIX.
    return 0
  unit = 1 if sys.platform == 'darwin' else 1024  # ru_maxrss: bytes or KiB.
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit


def run(export_fn: Callable[[Context], None], recipe: str,
        needs_checkpoint: bool = True) -> None:
  """`app.run` for an export script."""
  # List the common flags in the script's --helpshort, beside its own.
  for name in ('gin_file', 'gin_params', 'checkpoint_path', 'export_dir',
               'overwrite', 'verify', 'tflite'):
    FLAGS.register_key_flag_for_module(sys.argv[0], FLAGS[name])
  cli.run(lambda: export_main(export_fn, recipe, needs_checkpoint))

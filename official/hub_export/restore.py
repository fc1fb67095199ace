"""Strict checkpoint restore: the one place where checkpoints are read.

    restore.restore(checkpoint_path,
                    layouts=[restore.Layout('trainer', model=pretrainer,
                                            **pretrainer.checkpoint_items),
                             restore.Layout('encoder-only', encoder=encoder)],
                    required=encoder.variables)

A *layout* says under which keys the checkpoint holds the recipe's objects
(`tf.train.Checkpoint(**objects)`), or `Layout(name, root=model)` for a Keras
`save_weights` checkpoint whose root is the model itself. The first layout
under which every *required* variable (every variable of the exported object)
finds a value of the right shape is restored; if none does, `ExportError`
reports, for the closest layout, which variables found nothing, which had the
wrong shape (both shapes) and the nearest checkpoint keys. Values the recipe
does not export (optimizer slots, heads) are ignored.

Accepted paths: a checkpoint prefix (`ckpt-10`, also given as `ckpt-10.index`),
a directory (its latest checkpoint, via the `checkpoint` file or a single
`*.index`), or a Keras `.h5` weights file (restored into `Layout.root`).

Damaged checkpoints are refused with `ExportError`, never exported in part:
`resolve` (run by the driver before any model is built) reads the index (its
blocks carry checksums), checks that every data shard (`PREFIX.data-i-of-N`,
each i < N) is a regular file and that the shards hold at least the bytes of
the numeric values the index lists (a truncated copy); reading a value then checks it
against the crc32c the index stores for it (TensorFlow's bundle reader), so a
flipped byte in the data fails the restore instead of exporting a wrong
weight. After restoring, every required variable is compared with the
checkpoint's value, so an export never carries an initializer's random
weights.

Checkpoint keys (`model/encoder/.ATTRIBUTES/VARIABLE_VALUE`) are parsed here
only: `key_names` and `value_key`.
"""

import contextlib
import dataclasses
import difflib
import glob
import os
import re
from typing import Dict, List, Optional, Sequence

from absl import logging
import numpy as np
import tensorflow as tf

from official.hub_export.spec import ExportError

_VALUE_SUFFIX = '/.ATTRIBUTES/VARIABLE_VALUE'
_H5_SUFFIXES = ('.h5', '.hdf5')


@dataclasses.dataclass
class Layout:
  """Where a checkpoint keeps the recipe's objects."""
  name: str
  root: Optional[tf.Module] = None
  objects: Dict[str, object] = dataclasses.field(default_factory=dict)

  def __init__(self, name, root=None, **objects):
    if (root is None) == (not objects):
      raise ValueError('Layout needs either root= or keyword objects, not both')
    self.name, self.root, self.objects = name, root, objects

  def checkpoint(self) -> tf.train.Checkpoint:
    if self.root is not None:
      return tf.train.Checkpoint(root=self.root)
    return tf.train.Checkpoint(**self.objects)

  def graph_root(self):
    return self.root if self.root is not None else self.checkpoint()


@dataclasses.dataclass
class RestoreReport:
  path: str
  format: str
  layout: str
  restored: int
  parameters: int
  ignored_values: int


def resolve(path: str):
  """Returns (format, resolved_path) for a user-given checkpoint path."""
  if not path:
    raise ExportError('no checkpoint given: pass --checkpoint_path=PREFIX, '
                      'a checkpoint directory or a Keras .h5 file')
  path = os.path.expanduser(path)
  if path.endswith(_H5_SUFFIXES):
    if not os.path.exists(path):
      raise ExportError(f'checkpoint file {path} does not exist: check '
                        '--checkpoint_path')
    _require_file(path, 'the Keras weights file')
    return 'h5', path
  if os.path.isdir(path):
    latest = _latest_in_state_file(path)
    if latest:
      return 'tf', check(latest)
    indexes = sorted(glob.glob(os.path.join(path, '*.index')))
    h5s = sorted(p for s in _H5_SUFFIXES
                 for p in glob.glob(os.path.join(path, '*' + s)))
    if len(indexes) == 1 and not h5s:
      return 'tf', check(indexes[0][:-len('.index')])
    if len(h5s) == 1 and not indexes:
      _require_file(h5s[0], 'the Keras weights file')
      return 'h5', h5s[0]
    if indexes or h5s:
      found = ', '.join(os.path.basename(p) for p in indexes + h5s)
      raise ExportError(f'directory {path} holds several checkpoints ({found}) '
                        'and no `checkpoint` file: pass the prefix of one of '
                        'them as --checkpoint_path')
    raise ExportError(f'no checkpoint in directory {path}: expected a '
                      '`checkpoint` file, a PREFIX.index or a .h5 file; check '
                      '--checkpoint_path')
  m = re.match(r'^(.*)\.(index|data-\d{5}-of-\d{5})$', path)
  if m:
    path = m.group(1)
  if tf.io.gfile.exists(path + '.index'):
    return 'tf', check(path)
  raise ExportError(f'no checkpoint at {path}: expected {path}.index (a '
                    'checkpoint prefix), a directory or a .h5 file; check '
                    '--checkpoint_path')


def _latest_in_state_file(directory: str) -> Optional[str]:
  """The prefix the directory's `checkpoint` file names, if it has one.

  A `checkpoint` file that cannot be read, or that names a checkpoint whose
  files are gone, is an error: falling back to another checkpoint of the
  directory would export weights the user did not ask for.
  """
  state = os.path.join(directory, 'checkpoint')
  if not os.path.lexists(state):
    return None
  _require_file(state, 'the `checkpoint` file (it names the latest '
                'checkpoint)')
  try:
    ckpt_state = tf.train.get_checkpoint_state(directory)  # None: unparsable.
  except (UnicodeDecodeError, ValueError, tf.errors.OpError):
    ckpt_state = None
  latest = ckpt_state.model_checkpoint_path if ckpt_state else ''
  if not latest:
    raise ExportError(
        f'{state} is not a readable `checkpoint` file (it names no '
        'checkpoint): pass the prefix of the checkpoint to export as '
        '--checkpoint_path, or delete the damaged `checkpoint` file')
  local = os.path.join(directory, os.path.basename(latest))
  if not os.path.lexists(latest + '.index') and os.path.lexists(
      local + '.index'):
    latest = local  # A directory copied from elsewhere: same name, here.
  if not os.path.lexists(latest + '.index'):
    present = sorted(os.path.basename(p)[:-len('.index')]
                     for p in glob.glob(os.path.join(directory, '*.index')))
    raise ExportError(
        f'{state} names checkpoint {latest}, which does not exist (no '
        f'{os.path.basename(latest)}.index): pass the prefix of one that '
        f'does as --checkpoint_path (present: {", ".join(present) or "none"})'
        ', or fix the `checkpoint` file')
  return latest


def _require_file(path: str, what: str) -> None:
  """`path` is a regular file we can read (not a directory, FIFO, device)."""
  if os.path.isdir(path):
    raise ExportError(f'{path} is a directory, but it should be {what}: '
                      'copy the checkpoint again')
  if not os.path.isfile(path):
    raise ExportError(f'{path} is not a regular file, but it should be '
                      f'{what}: copy the checkpoint again')
  if not os.access(path, os.R_OK):
    raise ExportError(f'{path} is not readable (permission denied): fix its '
                      'permissions (chmod +r)')


def check(prefix: str) -> str:
  """Refuses a damaged TF checkpoint before anything is built from it.

  Reads the index (whose blocks are checksummed), requires every data shard
  (`.data-i-of-N`, each i < N) as a regular file, and requires the shards to
  hold at least the bytes of the numeric values the index lists (a copy cut
  short fails here). Values themselves are checked against their crc32c when
  `restore()` reads them. Returns `prefix`.
  """
  index = prefix + '.index'
  _require_file(index, 'the checkpoint index')
  try:
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
  except (tf.errors.OpError, ValueError, IndexError) as e:
    raise ExportError(_damaged(prefix, e, 'its index')) from None
  shards = glob.glob(glob.escape(prefix) + '.data-*-of-*')
  counts = {int(m.group(2)) for m in (
      re.search(r'\.data-(\d+)-of-(\d+)$', p) for p in shards) if m}
  expected = [f'{prefix}.data-{i:05d}-of-{n:05d}' for n in counts
              for i in range(n)] or [f'{prefix}.data-00000-of-00001']
  missing = [p for p in expected if not os.path.lexists(p)]
  if missing or len(counts) > 1:
    raise ExportError(
        f'checkpoint {prefix} is incomplete: '
        + (f'data file {os.path.basename(missing[0])} is missing' if missing
           else 'its data files disagree on the number of shards')
        + ': copy every file of the checkpoint (PREFIX.index and all '
        'PREFIX.data-*)')
  for p in expected:
    _require_file(p, 'a checkpoint data file')
  numeric = 0
  for key, dtype in dtypes.items():
    if dtype == tf.string or not dtype.is_numpy_compatible:
      continue  # Variable-length values: no lower bound.
    numeric += int(np.prod(shapes[key], dtype=np.int64)) * dtype.size
  have = sum(os.path.getsize(p) for p in expected)
  if have < numeric:
    raise ExportError(
        f'checkpoint {prefix} is truncated: its index lists values of '
        f'{numeric:,} bytes but the data holds {have:,}: copy the checkpoint '
        'again (an interrupted copy or download leaves such files)')
  return prefix


def _damaged(path: str, e: Exception, what: str = 'a value') -> str:
  """The one-line error for a checkpoint TensorFlow could not read."""
  if isinstance(e, tf.errors.DataLossError) or 'checksum' in str(e).lower():
    why = f'{what} does not match its checksum'
  elif isinstance(e, (IndexError, tf.errors.OutOfRangeError)):
    why = f'{what} reaches past the end of its file (truncated)'
  else:
    why = f'{what} cannot be read ({_first_line(e)[:200]})'
  return (f'checkpoint {path} is damaged: {why}; copy it again from its '
          'source (is it complete and written by TensorFlow 2?)')


def value_key(path: str) -> str:
  """The checkpoint key of a variable's value: `model/kernel` ->
  `model/kernel/.ATTRIBUTES/VARIABLE_VALUE` (as `tf.train.list_variables`
  lists it)."""
  return path.strip('/') + _VALUE_SUFFIX


def object_path(key: str) -> List[str]:
  """A checkpoint key (with or without the value suffix) -> the names of the
  objects on its path, unescaped: `a/b.Sc/d..e` -> `['a', 'b/c', 'd.e']`
  (TensorFlow writes `/` in a name as `.S` and `.` as `..`)."""
  key = key.strip('/')
  if key.endswith(_VALUE_SUFFIX):
    key = key[:-len(_VALUE_SUFFIX)]
  return [re.sub(r'\.(S|\.)', lambda m: '/' if m.group(1) == 'S' else '.', p)
          for p in key.split('/')]


def layout_at(key: str, variable: tf.Variable) -> Layout:
  """A layout holding `variable` at checkpoint key `key` (e.g.
  `model/embeddings`, or as listed with the value suffix), named `key`."""
  names = object_path(key)
  node = variable
  for name in reversed(names[1:]):
    node = tf.train.Checkpoint(**{name: node})
  return Layout(key, **{names[0]: node})


def checkpoint_files(resolved: str) -> List[str]:
  """The files making up a resolved checkpoint (for fingerprints and sizes)."""
  if resolved.endswith(_H5_SUFFIXES):
    return [resolved]
  return sorted([resolved + '.index'] + glob.glob(resolved + '.data-*'))


def _variable_keys(root, variables) -> Dict[int, Optional[str]]:
  """Checkpoint key of each variable as TF would write it under `root`."""
  # The same breadth-first traversal TF's checkpointer uses to name values.
  # pylint: disable=g-import-not-at-top
  from tensorflow.python.checkpoint import graph_view
  from tensorflow.python.checkpoint import util as ckpt_util
  # pylint: enable=g-import-not-at-top
  names = ckpt_util.objects_ids_and_slot_variables_and_paths(
      graph_view.ObjectGraphView(root), skip_slot_variables=True)[4]
  keys = {}
  for v in variables:
    name = names.get(v)
    keys[id(v)] = None if name is None else name + _VALUE_SUFFIX
  return keys


def _shape(v):
  return tuple(v.shape.as_list())


def _match(layout, variables, available):
  """(missing, mismatched, matched) for one layout."""
  keys = _variable_keys(layout.graph_root(), variables)
  missing, mismatched, matched = [], [], []
  for v in variables:
    key = keys[id(v)]
    if key is None:
      missing.append((v, f'<{v.name}: not reachable from layout {layout.name}>'))
    elif key not in available:
      missing.append((v, key))
    elif tuple(available[key]) != _shape(v):
      mismatched.append((v, key, tuple(available[key])))
    else:
      matched.append((v, key))
  return missing, mismatched, matched


def _closest(key, candidates, n=3):
  """Checkpoint keys most like `key`: same variable name first, then path."""
  strip = lambda k: k.replace(_VALUE_SUFFIX, '')
  key = strip(key)
  leaf = key.split('/')[-1]
  same_leaf = [strip(c) for c in candidates if strip(c).split('/')[-1] == leaf]
  pool = same_leaf or [strip(c) for c in candidates]
  ranked = sorted(pool, key=lambda c: -difflib.SequenceMatcher(
      None, key, c).ratio())
  return ranked[:n]


def _describe(v, key):
  name = v.name[:-2] if v.name.endswith(':0') else v.name
  return f'{name} (checkpoint key {key.replace(_VALUE_SUFFIX, "")})'


def _mismatch_report(path, layout, missing, mismatched, n_required,
                     available, hint):
  parts = []
  if mismatched:
    parts.append(f'{len(mismatched)} of {n_required} exported variables have '
                 'the wrong shape')
  if missing:
    parts.append(f'{len(missing)} of {n_required} found nothing')
  first = (f'checkpoint {path} does not match the exported model (closest '
           f'layout: {layout.name}): {" and ".join(parts)}. {hint}')
  lines = []
  candidates = [k for k in available if '.OPTIMIZER_SLOT' not in k]
  for v, key, ckpt_shape in mismatched[:20]:
    lines.append(f'  wrong shape: {_describe(v, key)}: model '
                 f'{list(_shape(v))}, checkpoint {list(ckpt_shape)}')
  if len(mismatched) > 20:
    lines.append(f'  ... and {len(mismatched) - 20} more with the wrong shape')
  for v, key in missing[:20]:
    close = _closest(key, candidates)
    lines.append(f'  not found: {_describe(v, key)} {list(_shape(v))}; '
                 f'closest checkpoint keys: '
                 f'{", ".join(close) if close else "(none)"}')
  if len(missing) > 20:
    lines.append(f'  ... and {len(missing) - 20} more not found')
  return '\n'.join([first] + lines)


@contextlib.contextmanager
def skip_initializers():
  """Builds models without running their weight initializers.

      with restore.skip_initializers():
        encoder, pretrainer = build(cfg)   # every new variable starts at 0
      ctx.restore(layouts, required=encoder.variables)

  Inside, a variable whose initial value is a callable (how tf_keras'
  `add_weight` and `tf.Variable(initializer)` create them) of a fully defined
  shape starts as zeros instead: for a model whose weights `restore()` fills
  anyway, its random initializers are wasted work (measured in
  docs/measurements/benchmarks.md, "Fixed: random initializers the restore
  overwrites"). Safe
  only around building what is then restored strictly: `restore()` compares
  every required variable with the checkpoint, so a weight it did not fill
  still fails the export. Variables given concrete values are untouched.
  """
  def creator(next_creator, **kwargs):
    init, shape, dtype = (kwargs.get('initial_value'), kwargs.get('shape'),
                          kwargs.get('dtype'))
    if (callable(init) and shape is not None and dtype is not None and
        tf.TensorShape(shape).is_fully_defined()):
      kwargs['initial_value'] = lambda: tf.zeros(shape, dtype)
    return next_creator(**kwargs)
  with tf.variable_creator_scope(creator):
    yield


def restore(checkpoint_path: str, layouts: Sequence[Layout],
            required: Sequence[tf.Variable],
            hint: str = 'Check that the gin config matches the checkpoint '
                        '(--gin_file/--gin_params) and --checkpoint_path.'
            ) -> RestoreReport:
  """Restores `required` (and whatever else the layout holds) strictly.

  Args:
    checkpoint_path: prefix, directory or .h5 file.
    layouts: candidate layouts, tried in order.
    required: every variable of the exported object(s); each must receive a
      checkpoint value of the right shape, else `ExportError`.
    hint: the fix suggested in the one-line error.

  Returns:
    A `RestoreReport`.
  """
  fmt, path = resolve(checkpoint_path)
  required = _unique(required)
  if not required:
    raise ValueError('restore() needs the exported variables (build the model '
                     'before restoring)')
  if fmt == 'h5':
    return _restore_h5(path, layouts, required, hint)

  try:
    available = dict(tf.train.list_variables(path))
  except (tf.errors.OpError, ValueError, IndexError) as e:
    raise ExportError(_damaged(path, e, 'its index')) from None
  values = {k: s for k, s in available.items() if k.endswith(_VALUE_SUFFIX)}
  best = None
  for layout in layouts:
    missing, mismatched, matched = _match(layout, required, values)
    if not missing and not mismatched:
      return _read(path, layout, matched, values)
    # Closest: most values found with the right shape, then most found at
    # all (a wrong shape says more than a key that is not there).
    score = (len(matched), len(mismatched))
    if best is None or score > best[0]:
      best = (score, layout, missing, mismatched)
  if best is None:
    raise ValueError('restore() needs at least one layout')
  _, layout, missing, mismatched = best
  if not any(k.endswith(_VALUE_SUFFIX) for k in values) or (
      not mismatched and len(missing) == len(required)):
    names = ', '.join(l.name for l in layouts)
    sample = ', '.join(sorted(k.replace(_VALUE_SUFFIX, '') for k in values
                              if '.OPTIMIZER_SLOT' not in k)[:5])
    raise ExportError(
        f'checkpoint {path} holds none of the exported variables under any '
        f'known layout ({names}): pass a checkpoint of this model (its keys '
        f'start: {sample or "(no variables)"})')
  raise ExportError(_mismatch_report(path, layout, missing, mismatched,
                                     len(required), values, hint))


def _read(path, layout, matched, values):
  ckpt = layout.checkpoint()
  params = 0
  try:
    # Each value read is checked against the crc32c its index entry stores.
    ckpt.read(path).expect_partial()
    reader = tf.train.load_checkpoint(path)
    for v, key in matched:
      if not np.array_equal(v.numpy(), reader.get_tensor(key)):
        raise ExportError(
            f'variable {v.name} was not restored from {key} in {path}: the '
            'checkpoint layout is ambiguous; report this with the checkpoint '
            'keys')
      params += int(np.prod(_shape(v)))
  except (tf.errors.OpError, IndexError) as e:
    raise ExportError(_damaged(path, e)) from None
  ignored = len(values) - len(matched)
  logging.info('Restored %d variables (%d parameters) from %s (layout %s); '
               '%d other checkpoint values ignored.', len(matched), params,
               path, layout.name, ignored)
  return RestoreReport(path, 'tf', layout.name, len(matched), params, ignored)


def _restore_h5(path, layouts, required, hint):
  """Keras `save_weights(..., save_format='h5')` into a layout's root model."""
  import h5py  # pylint: disable=g-import-not-at-top
  roots = [l for l in layouts if l.root is not None and
           hasattr(l.root, 'load_weights')]
  if not roots:
    raise ExportError(f'{path} is a Keras .h5 weights file, but this recipe '
                      'restores TF checkpoints only: pass a checkpoint prefix')
  layout = roots[0]
  model = layout.root
  try:
    with h5py.File(path, 'r') as f:
      group = f['model_weights'] if 'model_weights' in f else f
      h5_layers = [n.decode() if isinstance(n, bytes) else n
                   for n in group.attrs.get('layer_names', [])]
      h5_weights = []
      for name in h5_layers:
        g = group[name]
        for w in g.attrs.get('weight_names', []):
          w = w.decode() if isinstance(w, bytes) else w
          h5_weights.append((f'{name}/{w}', tuple(g[w].shape)))
  except (OSError, KeyError) as e:
    raise ExportError(f'cannot read Keras weights file {path}: '
                      f'{_first_line(e)}; is it a save_weights .h5?') from None
  model_weights = list(model.weights)
  problems = []
  if len(h5_weights) != len(model_weights):
    problems.append(f'  the file holds {len(h5_weights)} weights, the model '
                    f'{len(model_weights)}')
  by_shape_mismatch = [
      (mw, hw) for mw, hw in zip(model_weights, h5_weights)
      if _shape(mw) != hw[1]]
  for mw, (hname, hshape) in by_shape_mismatch[:20]:
    problems.append(f'  wrong shape: {mw.name}: model {list(_shape(mw))}, '
                    f'file {hname} {list(hshape)}')
  if problems:
    raise ExportError('\n'.join([
        f'Keras weights file {path} does not match the exported model '
        f'({len(by_shape_mismatch)} shape mismatches). {hint}'] + problems))
  try:
    model.load_weights(path)
  except ValueError as e:
    raise ExportError(f'Keras weights file {path} does not match the model: '
                      f'{_first_line(e)}. {hint}') from None
  required_ids = {id(v) for v in required}
  covered = {id(w) for w in model_weights}
  missing = [v.name for v in required if id(v) not in covered]
  if missing:
    raise ExportError(f'{len(missing)} exported variables are not part of the '
                      f'model restored from {path}: {", ".join(missing[:5])}')
  params = sum(int(np.prod(_shape(v))) for v in required)
  with h5py.File(path, 'r') as f:
    group = f['model_weights'] if 'model_weights' in f else f
    for mw, (hname, _) in zip(model_weights, h5_weights):
      if id(mw) in required_ids and not np.array_equal(
          mw.numpy(), np.asarray(group[hname])):
        raise ExportError(f'{mw.name} was not restored from {hname} in {path}')
  logging.info('Restored %d weights (%d parameters) from %s.', len(required),
               params, path)
  return RestoreReport(path, 'h5', layout.name, len(required), params,
                       len(h5_weights) - len(required))


def _unique(variables):
  seen, out = set(), []
  for v in variables:
    if id(v) not in seen:
      seen.add(id(v))
      out.append(v)
  return out


def _first_line(e):
  text = str(e).strip().splitlines()
  return text[0] if text else type(e).__name__

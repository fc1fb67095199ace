"""Files, sizes and self-containment: every asset present, no absolute path of
the exporting machine, load -> re-save -> load the copy alone.
"""

import os
import re

import tensorflow as tf

from .report import model_call
from .reusable import call

def check_files(r, saved_model):
  """Before loading: every asset present, no absolute paths in the graph."""
  pb_path = os.path.join(saved_model, 'saved_model.pb')
  with open(pb_path, 'rb') as f:
    raw = f.read()
  assets = _asset_names(raw)
  missing = [a for a in assets if not os.path.isfile(
      os.path.join(saved_model, 'assets', a))]
  r.ok(not missing, 'every asset is present', f'{len(assets)} assets',
       f'missing: {missing}' if missing else '')
  leaked = sorted({m.decode('utf-8', 'replace') for m in re.findall(
      rb'(?<![\w.])(/(?:home|tmp|root|usr|work|Users|mnt|data|var|opt|scratch)'
      rb'/[\w./-]+)', raw)})
  here = os.path.abspath(saved_model).encode()
  if here in raw and not leaked:
    leaked = [os.path.abspath(saved_model)]
  r.ok(not leaked, 'no absolute paths in saved_model.pb',
       ', '.join(leaked[:3]) if leaked else 'none',
       'paths of the exporting machine make the model non-portable')


def check_self_contained(r, saved_model, obj, spec, case):
  """Re-saving the loaded object writes a SavedModel that stands alone.

  A consumer fine-tunes and saves again: `tf.saved_model.save` of the
  object loaded from `saved_model` must work, and the copy must not lean
  on the original's files (its assets copied, no path into the original in
  its graphs), and must load and run. The object the other checks loaded
  is re-saved, not a second copy: a reload and a copy of the variables
  fewer.
  """
  import shutil  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  name = 'load -> re-save -> load the copy alone'
  tmp = tempfile.mkdtemp(prefix='reusable_check_')
  try:
    resaved = os.path.join(tmp, 'resaved')
    def roundtrip():
      model_call(tf.saved_model.save, obj, resaved)
      with open(os.path.join(resaved, 'saved_model.pb'), 'rb') as f:
        raw = f.read()
      original = os.path.realpath(saved_model).encode()
      if original in raw:
        return 'its graphs name files of the original ' + original.decode()
      missing = [a for a in _asset_names(raw) if not os.path.isfile(
          os.path.join(resaved, 'assets', a))]
      if missing:
        return f'assets not copied: {missing[:3]}'
      again = model_call(tf.saved_model.load, resaved)
      if case is not None:
        call(again, case['inputs'], False, spec, case['kwargs'])
      elif getattr(again, 'signatures', None):  # Not reusable: a signature.
        from .infer import signature_inputs  # pylint: disable=g-import-not-at-top
        _, sig = sorted(again.signatures.items())[0]
        model_call(sig, **signature_inputs(sig, spec and spec.get('task')))
      return ''
    problem = r.guard(name, roundtrip)
    if problem is not None:
      r.ok(not problem, name, problem or 'works')
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


def _asset_names(raw):
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  proto = saved_model_pb2.SavedModel()
  proto.ParseFromString(raw)
  return sorted({a.filename for mg in proto.meta_graphs
                 for a in mg.asset_file_def})


def directory_sizes(saved_model):
  sizes = {'saved_model_pb': 0, 'variables': 0, 'assets': 0, 'total': 0}
  for dirpath, _, files in os.walk(saved_model):
    for name in files:
      path = os.path.join(dirpath, name)
      rel = os.path.relpath(path, saved_model)
      n = os.path.getsize(path)
      sizes['total'] += n
      if rel == 'saved_model.pb':
        sizes['saved_model_pb'] += n
      elif rel.startswith('variables' + os.sep):
        sizes['variables'] += n
      elif rel.startswith('assets' + os.sep):
        sizes['assets'] += n
  return sizes

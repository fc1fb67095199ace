"""Files, sizes and self-containment: every asset present, no absolute path of
the exporting machine, load -> re-save -> delete the original -> load.
"""

import os
import re

import tensorflow as tf

from .report import PASS
from .report import model_call
from .reusable import call

def check_files(r, saved_model):
  """Before loading: every asset present, no absolute paths in the graph."""
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  pb_path = os.path.join(saved_model, 'saved_model.pb')
  with open(pb_path, 'rb') as f:
    raw = f.read()
  proto = saved_model_pb2.SavedModel()
  proto.ParseFromString(raw)
  assets = sorted({a.filename for mg in proto.meta_graphs
                   for a in mg.asset_file_def})
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


def check_self_contained(r, saved_model, spec, case):
  """Survives load -> re-save -> delete the original -> load."""
  import shutil  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  tmp = tempfile.mkdtemp(prefix='reusable_check_')
  try:
    copy = os.path.join(tmp, 'copy')
    resaved = os.path.join(tmp, 'resaved')
    shutil.copytree(saved_model, copy)
    def roundtrip():
      obj = model_call(tf.saved_model.load, copy)
      model_call(tf.saved_model.save, obj, resaved)
      del obj
      shutil.rmtree(copy)
      again = model_call(tf.saved_model.load, resaved)
      if case is not None:
        call(again, case['inputs'], False, spec, case['kwargs'])
      elif getattr(again, 'signatures', None):  # Not reusable: a signature.
        from .infer import signature_inputs  # pylint: disable=g-import-not-at-top
        name, sig = sorted(again.signatures.items())[0]
        model_call(sig, **signature_inputs(sig, spec and spec.get('task')))
      return True
    ok = r.guard('load -> re-save -> delete original -> load', roundtrip)
    if ok:
      r.add(PASS, 'load -> re-save -> delete original -> load', 'works')
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


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

"""All checks of one SavedModel, in order: the op scan first (nothing of the
model runs if it acts on the machine), then load and call."""

import time

from . import opscan
from .files import check_files
from .files import check_self_contained
from .files import directory_sizes
from .finetune import check_keras_layer_arguments
from .finetune import check_tunables
from .finetune import check_variable_groups
from .graph import check_graph_softmax
from .infer import generate_cases
from .infer import infer_spec
from .infer import not_reusable_reason
from .keras_layer import check_keras_layer
from .report import FAIL, PASS, WARN, ModelError, Report, model_call
from .reusable import check_object
from .reusable import check_subobjects
from .reusable import check_serving_equals_call
from .reusable import check_signature
from .reusable import check_signatures_callable
from .reusable import check_training_mode
from .task import check_task


def check_ops(r, info, saved_model, allow_ops=(), libraries=True):
  """The op scan (saved_model.pb read, nothing loaded); False if the model
  must not be loaded: an op acts on the machine, or it is unreadable."""
  def run():
    try:
      return opscan.scan(saved_model, allow_ops)
    except opscan.ScanError as e:
      raise ModelError(e) from None
  scan = r.guard('op scan', run)
  if scan is None:
    return False
  info['op_scan'] = {k: scan[k] for k in (
      'tensorflow_version', 'functions', 'op_count', 'file_paths', 'denied',
      'allowed', 'object_graph')}
  if scan['denied']:
    r.add(FAIL, 'op scan: no op acts on the machine',
          f"{len(scan['denied'])} op(s) refused, nothing was loaded or run",
          opscan.describe(scan['denied']) + '; if you trust this model, '
          'let named ops through with --allow_ops=' +
          ','.join(sorted({e['op'] for e in scan['denied']})))
    return False
  allowed = (f"; allowed by --allow_ops: {opscan.describe(scan['allowed'])}"
             if scan['allowed'] else '')
  r.add(PASS, 'op scan: no op acts on the machine',
        f"{scan['op_count']} ops in {scan['functions']} functions, written "
        f"by TensorFlow {scan['tensorflow_version']}{allowed}")
  if libraries:
    libs = opscan.op_libraries(scan['op_types'])
    info['op_scan']['op_libraries'] = libs
    if libs:
      r.ok('unknown' not in libs, 'op libraries', '; '.join(
          f"{p}: {', '.join(ops)}" for p, ops in sorted(libs.items())),
           'no installed package registers the ops under unknown',
           fail=WARN)
  return True


def run_checks(saved_model, spec=None, cases=None, task='custom',
               allow_ops=(), split=False):
  """All checks; returns (Report, info dict).

  `split`: the sub-objects' (`.mlm`'s) reusable-API and numerical checks
  and the re-save round trip are left to the Keras 3 process (`keras3.py`,
  which then runs them: `--split`), so that the two consumer processes
  take about the same time; here only the sub-objects' existence and
  variable groups.

  With `spec`/`cases` (an export's declared API and the source model's
  outputs) outputs are compared with the source; without, the API is read off
  the SavedModel and sample inputs are generated for `task`.
  """
  r = Report()
  info = {}
  if not check_ops(r, info, saved_model, allow_ops):
    return r, info
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  try:
    import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    pass
  r.guard('files', lambda: check_files(r, saved_model))
  t0 = time.perf_counter()
  obj = r.guard('hub.load', lambda: model_call(hub.load, saved_model))
  info['load_seconds'] = round(time.perf_counter() - t0, 3)
  if obj is None:
    return r, info
  r.add(PASS, 'hub.load', f"{info['load_seconds']:.2f} s")
  info['sizes'] = directory_sizes(saved_model)
  mb = lambda n: f'{n / 1e6:.2f} MB'
  r.add(PASS, 'sizes', ', '.join(f'{k} {mb(v)}' for k, v in
                                 info['sizes'].items()))
  if spec is None:
    why = r.guard('reusable SavedModel', lambda: not_reusable_reason(
        obj, info['op_scan']['object_graph']))
    if why:  # Only what applies to any SavedModel.
      r.not_reusable = why
      r.add(WARN, 'reusable SavedModel', 'no', why)
      r.guard('signatures', lambda: check_signatures_callable(r, obj, task))
      if info['op_scan']['object_graph']:
        r.guard('self-contained', lambda: check_self_contained(
            r, saved_model, obj, {'task': task}, None))
      return r, info
    if not hasattr(obj, 'trainable_variables'):
      r.add(WARN, 'root.trainable_variables exists', 'missing',
            'hub.KerasLayer(trainable=True) fine-tunes nothing: build the '
            'root on tf.train.Checkpoint and set variables, '
            'trainable_variables and regularization_losses')
    spec = r.guard('read the API off __call__', lambda: infer_spec(obj, task))
    if spec is None:
      return r, info
    cases = r.guard('sample inputs', lambda: generate_cases(spec))
    if cases is None:
      return r, info
  info['api'] = spec
  _reusable_checks(r, saved_model, obj, spec, cases, split)
  return r, info


def _reusable_checks(r, saved_model, obj, spec, cases, split=False):
  by_target = {}
  for c in cases:
    by_target.setdefault(c['target'], []).append(c)
  # Each group is guarded: the model's errors are FAILs, the checker's own
  # are ERRORs, and neither loses the rest of the report.
  r.guard('root checks', lambda: check_object(r, obj, 'root', spec,
                                              by_target.get('', [])))
  r.guard('graph checks', lambda: check_graph_softmax(r, obj, spec))
  sig = r.guard('serving_default', lambda: check_signature(
      r, obj, getattr(obj, 'signatures', None), spec))
  if sig is not None and by_target.get(''):
    check_serving_equals_call(r, obj, sig, spec, by_target[''][0])
  for name in spec.get('subobjects', {}):
    r.ok(getattr(obj, name, None) is not None, f'sub-object .{name} exists')
  if not split:
    check_subobjects(r, obj, spec, by_target)
  first = (by_target.get('') or [None])[0]
  r.guard('task conformance', lambda: check_task(r, obj, spec,
                                                 by_target.get('', [])))
  if spec.get('trainable', True):
    r.guard('training mode', lambda: check_training_mode(r, obj, spec, first))
  if not split:
    r.guard('self-contained', lambda: check_self_contained(
        r, saved_model, obj, spec, first))
  fit = None
  if spec.get('trainable', True) and spec.get('training_arg', True) and \
      by_target.get(''):
    fit = r.guard('hub.KerasLayer checks', lambda: check_keras_layer(
        r, saved_model, obj, spec, by_target['']))
  # Fine-tuning controls (declared tunables, variable groups).
  r.guard('tunables', lambda: check_tunables(r, saved_model, obj, spec,
                                             by_target.get('', [])))
  r.guard('hub.KerasLayer arguments', lambda: check_keras_layer_arguments(
      r, obj, spec, by_target.get('', [])))
  for name, s in [('root', spec)] + list(spec.get('subobjects', {}).items()):
    child = obj if name == 'root' else getattr(obj, name, None)
    if child is not None:
      r.guard(f'{name}.variable_groups', lambda c=child, n=name, s_=s:
              check_variable_groups(r, c, n, s_))
  if fit is not None:  # Last: the step moves the weights every check shares.
    fit()

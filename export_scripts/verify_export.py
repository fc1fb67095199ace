r"""Checks any TF2 SavedModel against the Reusable SavedModel API and the
TF Hub common API of its task, as a consumer would load it.

    python export_scripts/verify_export.py --saved_model=DIR \
        [--task=text-embedding|text-preprocessing|image-feature-vector|image-classification|custom] \
        [--allow_ops=Op1,Op2] [--json]

Works on our exports and on anyone's. First the op scan reads
`saved_model.pb` (nothing is loaded): a model with ops that act on the
machine (files, network, processes: WriteFile, ReadFile, save/restore ops
outside its saver, readers, table initializers from files outside its
assets, ...) FAILs without running; `--allow_ops` lets named ops through.
Then the model is loaded in a fresh Python process (nothing from this
repository importable) with `hub.load` and `hub.KerasLayer`; sample inputs
are generated from its traced `__call__`, every static dimension as
declared. One line per check, PASS / WARN / FAIL / ERROR with the measured
value, then the verdict line. The same checks run after every export of
every recipe (where outputs are also compared with the source model).

Exit status:
  0  PASS: every check passed (warnings allowed)
  1  FAIL: the model failed a check (or acts on the machine; or DIR is not
     a SavedModel)
  2  bad usage (flags)
  3  ERROR: an internal error of the checker (a check raised where the model
     gave it no reason to); not a verdict on the model: please report it
  4  NOT_REUSABLE: "not a reusable SavedModel: <why>" (no __call__: a
     Keras 3 model.export() archive, a signatures-only or TF1 SavedModel);
     the checks that still apply (op scan, files, sizes, signatures
     callable, re-save) passed
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from absl import flags  # pylint: disable=g-import-not-at-top

from official.hub_export.checker import infer  # pylint: disable=g-import-not-at-top
from official.hub_export import cli  # pylint: disable=g-import-not-at-top
from official.hub_export import restore  # pylint: disable=g-import-not-at-top
from official.hub_export import verify  # pylint: disable=g-import-not-at-top
from official.hub_export.spec import ExportError  # pylint: disable=g-import-not-at-top
from official.hub_export.spec import UsageError  # pylint: disable=g-import-not-at-top

flags.DEFINE_string('saved_model', None, 'The SavedModel directory to check.')
flags.DEFINE_enum('task', None, list(infer.TASKS),
                  'TF Hub task whose common API the model must follow; '
                  'default: the task in its export record, else custom.')
flags.DEFINE_list('allow_ops', [],
                  'Op types the op scan lets through (e.g. ReadFile), for a '
                  'model you trust.')
flags.DEFINE_bool('json', False, 'Print the result as JSON.')
FLAGS = flags.FLAGS

EXIT = {'PASS': 0, 'FAIL': 1, 'ERROR': 3, 'NOT_REUSABLE': 4}


def _recorded_task(path):
  record = os.path.join(path, 'assets.extra', 'export_record.json')
  try:
    with open(record) as f:
      return json.load(f)['api']['task']
  except (OSError, KeyError, ValueError, TypeError):
    return None


def _check_readable(path):
  """A damaged SavedModel is an input error (one line), not a verdict: its
  graph must parse and its variables must be complete (`restore.check`)."""
  from google.protobuf import message  # pylint: disable=g-import-not-at-top
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  graph = os.path.join(path, 'saved_model.pb')
  proto = saved_model_pb2.SavedModel()
  try:
    with open(graph, 'rb') as f:
      proto.ParseFromString(f.read())
  except message.DecodeError as e:
    raise ExportError(f'{graph} does not parse as a SavedModel ({e}): the '
                      'file is damaged or not a SavedModel; copy the '
                      'SavedModel again') from None
  if not proto.meta_graphs:
    raise ExportError(f'{graph} holds no MetaGraph: the file is damaged or '
                      'not a SavedModel; copy the SavedModel again')
  variables = os.path.join(path, 'variables', 'variables')
  if os.path.lexists(variables + '.index'):
    restore.check(variables)


def main() -> int:
  path = FLAGS.saved_model
  if not path:
    raise UsageError('--saved_model is required: pass --saved_model=DIR')
  if not os.path.isfile(os.path.join(path, 'saved_model.pb')):
    raise ExportError(f'{path} is not a SavedModel directory (no '
                      'saved_model.pb); pass --saved_model=DIR')
  _check_readable(path)
  task = FLAGS.task or _recorded_task(path) or 'custom'
  try:
    result = verify.consumer_checks(path, task=task,
                                    allow_ops=FLAGS.allow_ops)
  except verify.CheckerError as e:
    cli.error(f'{e}; this is not a verdict on the model: please report it')
    return EXIT['ERROR']
  if FLAGS.json:
    print(json.dumps({k: result[k] for k in (
        'checks', 'info', 'passed', 'failed', 'errors', 'verdict', 'reason')},
                     indent=1, default=str))
  else:
    print(f'{path} (task {task})')
    for line in result['report']:
      if not line.startswith('verdict: '):
        print('  ' + line)
    warns = sum(c['status'] == 'WARN' for c in result['checks'])
    print(f"{result['passed']} passed, {result['failed']} failed, "
          f"{result['errors']} internal errors, {warns} warnings")
    print(f"verdict: {result['verdict']}: {result['reason']}")
  return EXIT[result['verdict']]


if __name__ == '__main__':
  cli.run(main)

r"""Checks any TF2 SavedModel against the Reusable SavedModel API and the
TF Hub common API of its task, as a consumer would load it.

    python export_scripts/verify_export.py --saved_model=DIR \
        [--task=text-embedding|text-preprocessing|image-feature-vector|image-classification|custom] \
        [--json]

Works on our exports and on anyone's. The model is loaded in a fresh Python
process (nothing from this repository importable) with `hub.load` and
`hub.KerasLayer`; sample inputs are generated from its traced `__call__`.
One line per check, PASS / WARN / FAIL with the measured value; exit status 1
if any check FAILs. The same checks run after every export of every recipe
(where outputs are also compared with the source model).
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
flags.DEFINE_bool('json', False, 'Print the result as JSON.')
FLAGS = flags.FLAGS


def _recorded_task(path):
  record = os.path.join(path, 'assets.extra', 'export_record.json')
  try:
    with open(record) as f:
      return json.load(f)['api']['task']
  except (OSError, KeyError, ValueError):
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
  result = verify.consumer_checks(path, task=task)
  if FLAGS.json:
    print(json.dumps({k: result[k] for k in ('checks', 'info', 'passed',
                                             'failed')}, indent=1))
  else:
    print(f'{path} (task {task})')
    for line in result['report']:
      print('  ' + line)
    warns = sum(c['status'] == 'WARN' for c in result['checks'])
    print(f"{result['passed']} passed, {result['failed']} failed, "
          f'{warns} warnings')
  return 1 if result['failed'] else 0


if __name__ == '__main__':
  cli.run(main)

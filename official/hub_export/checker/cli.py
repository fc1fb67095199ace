"""The checker's command line (run in a fresh isolated process).

Exit status (as export_scripts/verify_export.py's):
  0  PASS: every check passed (warnings allowed)
  1  FAIL: the model failed a check (or acts on the machine: nothing ran)
  2  bad usage
  3  ERROR: an internal error of the checker; not a verdict on the model
  4  NOT_REUSABLE: the checks that apply passed, but it is not a reusable
     SavedModel (no __call__: signatures only, a Keras 3 export, TF1)
"""

import argparse
import json
import os
import traceback

import tensorflow as tf

from .cases import load_cases
from .infer import TASKS
from .report import ERROR, FAIL, NOT_REUSABLE, PASS, Report, write_result
from .suite import run_checks

EXIT = {PASS: 0, FAIL: 1, ERROR: 3, NOT_REUSABLE: 4}


def main(argv=None):
  p = argparse.ArgumentParser(description='Checks a TF2 SavedModel as a consumer loads it.')
  p.add_argument('--saved_model', required=True)
  p.add_argument('--spec', help='declared API (ExportSpec.to_json())')
  p.add_argument('--cases', help='sample inputs and source outputs (.npz)')
  p.add_argument('--task', default=None, choices=TASKS,
                 help='TF Hub task whose common API to check')
  p.add_argument('--allow_ops', default='',
                 help='comma-separated op types the op scan lets through')
  p.add_argument('--output', help='write the JSON result here')
  p.add_argument('--json', action='store_true',
                 help='print JSON instead of report lines')
  p.add_argument('--split', action='store_true',
                 help='leave the sub-objects\' numerical checks and the '
                 're-save round trip to the Keras 3 process (given the same '
                 'flag)')
  args = p.parse_args(argv)
  tf.get_logger().setLevel('ERROR')
  allow = [o.strip() for o in args.allow_ops.split(',') if o.strip()]
  try:
    spec = cases = None
    if args.spec:
      with open(args.spec) as f:
        spec = json.load(f)
      if args.task:
        spec['task'] = args.task
    if args.cases:
      cases = load_cases(args.cases)
    r, info = run_checks(args.saved_model, spec, cases, args.task or 'custom',
                         allow, split=args.split)
  except Exception as e:  # pylint: disable=broad-except
    # Outside any guarded check: still a result, and an ERROR.
    r, info = Report(), {}
    frame = traceback.extract_tb(e.__traceback__)[-1]
    r.add(ERROR, 'checker', f'internal error of the checker: '
          f'{type(e).__name__} at {os.path.basename(frame.filename)}:'
          f'{frame.lineno}',
          str(e).strip().split('\n')[0][:300])
  info['peak_rss_bytes'] = peak_rss()
  result = r.result(info)
  lines = list(r.lines()) + [
      f"verdict: {result['verdict']}: {result['reason']}"]
  if args.output:
    write_result(args.output, result, lines)
  if args.json:
    print(json.dumps(result, indent=1, default=str))
  else:
    for line in lines:
      print(line)
  return EXIT[result['verdict']]


def peak_rss():
  """Peak resident memory of this process image in bytes (Linux VmHWM;
  unlike ru_maxrss it does not include the launching process's), or None."""
  try:
    with open('/proc/self/status') as f:
      for line in f:
        if line.startswith('VmHWM:'):
          return int(line.split()[1]) * 1024
  except (OSError, ValueError, IndexError):
    pass
  return None

"""The checker's command line (run in a fresh isolated process)."""

import argparse
import json

import tensorflow as tf

from .cases import load_cases
from .infer import TASKS
from .report import PASS
from .suite import run_checks

def main(argv=None):
  p = argparse.ArgumentParser(description='Checks a TF2 SavedModel as a consumer loads it.')
  p.add_argument('--saved_model', required=True)
  p.add_argument('--spec', help='declared API (ExportSpec.to_json())')
  p.add_argument('--cases', help='sample inputs and source outputs (.npz)')
  p.add_argument('--task', default=None, choices=TASKS,
                 help='TF Hub task whose common API to check')
  p.add_argument('--output', help='write the JSON result here')
  p.add_argument('--json', action='store_true',
                 help='print JSON instead of report lines')
  args = p.parse_args(argv)
  tf.get_logger().setLevel('ERROR')
  spec = cases = None
  if args.spec:
    with open(args.spec) as f:
      spec = json.load(f)
    if args.task:
      spec['task'] = args.task
  if args.cases:
    cases = load_cases(args.cases)
  r, info = run_checks(args.saved_model, spec, cases, args.task or 'custom')
  info['peak_rss_bytes'] = peak_rss()
  result = {'checks': r.checks, 'info': info,
            'failed': len(r.failed), 'passed': sum(
                c['status'] == PASS for c in r.checks)}
  if args.output:
    with open(args.output, 'w') as f:
      json.dump(result, f, indent=1)
  if args.json:
    print(json.dumps(result, indent=1, default=str))
  else:
    for line in r.lines():
      print(line)
  return 1 if r.failed else 0


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

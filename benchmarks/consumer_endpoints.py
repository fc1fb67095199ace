r"""Cost of the consumer additions of the writer, A/B in one run.

`writer.write` adds to every export the Keras 3 endpoints (`serve`,
`call_training`, `<sub>_serve`, ...) and, for float inputs, the float16 /
bfloat16 `__call__` traces (see writer.py). This measures what they cost:
the same in-memory model written with them (A, what every recipe does) and
without them (B, the writer with `_half_precision_dispatch` and
`_keras3_endpoints` replaced by no-ops), each in a fresh process (model
built, then only `writer.write` timed), rounds interleaved A/B, B/A, ...:

  * BERT-base: the BERT recipe's command line (`--noverify`: encoder +
    `.mlm` + preprocessor) on a generated BERT-base checkpoint (as
    benchmarks/bert.py makes it), in a launcher that swaps the two writer
    functions for no-ops for B; the whole process and its export part timed
    (int inputs: endpoints only, `.mlm`'s included);
  * ResNet-50 (tf_keras.applications, random weights, float images:
    endpoints and the half-float traces): the model built in the process,
    only `writer.write` timed.

    .venv/bin/python benchmarks/consumer_endpoints.py [--rounds=3] [--quick]

Prints write time (median of the rounds) and saved_model.pb size (exact,
deterministic) with the ratios A / B and the issue's budget (+5% each).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

BUDGET = 1.05  # At most +5% saved_model.pb and export time.


def _resnet(quick):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  from official.hub_export import spec, writer  # pylint: disable=g-import-not-at-top
  make = (tf_keras.applications.ResNet50 if not quick else
          lambda **kw: tf_keras.applications.MobileNetV2(alpha=0.35, **kw))
  model = make(weights=None, include_top=False, pooling='avg')
  model(tf.zeros([1, 224, 224, 3]))
  s = spec.single(tf.TensorSpec([None, None, None, 3], tf.float32,
                                name='inputs'), 'outputs',
                  spec.Output('features'), task='image-feature-vector')
  return writer.from_keras(model), s


MODELS = {'ResNet-50 feature vector': _resnet}

# Runs an export script with (A) or without (B) the consumer additions.
# Also prints the seconds spent in `writer.write` (tracing + saving, summed
# over the exports): the part the additions change, without the noise of the
# rest of the process (checkpoint reading, hashing, start-up).
LAUNCH = r'''
import atexit, json, runpy, sys, time
sys.path.insert(0, sys.argv[1])
from official.hub_export import writer
if sys.argv[2] == 'B':
  writer._half_precision_dispatch = lambda *a: None
  writer._keras3_endpoints = lambda *a: None
spent = [0.0]
write = writer.write
def timed_write(*a, **k):
  t = time.perf_counter()
  try:
    return write(*a, **k)
  finally:
    spent[0] += time.perf_counter() - t
writer.write = timed_write
atexit.register(lambda: print('WRITER ' + json.dumps(spent[0]), flush=True))
sys.argv = sys.argv[3:]
runpy.run_path(sys.argv[0], run_name='__main__')
'''


def _bert_recipe(variant, size, ck, out, log):
  import bert  # pylint: disable=g-import-not-at-top
  import common  # pylint: disable=g-import-not-at-top
  cmd = bert.ours_cmd(size, ck, out, verify=False)
  r = common.timed([cmd[0], '-c', LAUNCH, ROOT, variant] + cmd[1:], log)
  split = common.driver_split(r.stdout)
  pbs = {n: os.path.getsize(os.path.join(out, n, 'saved_model.pb'))
         for n in ('encoder', 'preprocessor')}
  write_s = [float(l.split(' ', 1)[1]) for l in r.stdout.splitlines()
             if l.startswith('WRITER ')]
  return {'seconds': r.wall_s, 'export_s': split[0] if split else None,
          'write_s': write_s[-1] if write_s else None,
          **{f'pb_{n}': v for n, v in pbs.items()}}


def _one(model, variant, path, quick):
  """In this (fresh) process: build, write, print time and pb size."""
  from official.hub_export import writer  # pylint: disable=g-import-not-at-top
  obj, s = MODELS[model](quick)
  if variant == 'B':
    writer._half_precision_dispatch = lambda *a: None  # pylint: disable=protected-access
    writer._keras3_endpoints = lambda *a: None  # pylint: disable=protected-access
  t = time.perf_counter()
  writer.write(obj, path, s)
  seconds = time.perf_counter() - t
  print(json.dumps({'seconds': seconds, 'pb': os.path.getsize(
      os.path.join(path, 'saved_model.pb'))}))


def main():
  p = argparse.ArgumentParser()
  p.add_argument('--rounds', type=int, default=3)
  p.add_argument('--quick', action='store_true',
                 help='small models: a smoke run, not numbers to quote')
  p.add_argument('--only', help=argparse.SUPPRESS)
  p.add_argument('--variant', help=argparse.SUPPRESS)
  p.add_argument('--path', help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.only:
    _one(args.only, args.variant, args.path, args.quick)
    return
  load_start = os.getloadavg()
  tmp = tempfile.mkdtemp()
  size = 'L-2/H-128' if args.quick else 'L-12/H-768'
  bert_name = f'BERT {size} recipe'
  results = {m: {'A': [], 'B': []} for m in [bert_name] + list(MODELS)}
  try:
    import bert  # pylint: disable=g-import-not-at-top
    ck = bert.make_checkpoint(size, tmp)
    for r in range(args.rounds):
      for variant in ('AB' if r % 2 == 0 else 'BA'):
        out = os.path.join(tmp, f'bert_{r}_{variant}')
        results[bert_name][variant].append(_bert_recipe(
            variant, size, ck, out, out + '.log'))
        shutil.rmtree(out, ignore_errors=True)
      for model in MODELS:
        for variant in ('AB' if r % 2 == 0 else 'BA'):
          path = os.path.join(tmp, f'{model}_{r}_{variant}'.replace(' ', '_'))
          out = subprocess.run(
              [sys.executable, __file__, f'--only={model}',
               f'--variant={variant}', f'--path={path}']
              + (['--quick'] if args.quick else []),
              capture_output=True, text=True, check=True)
          results[model][variant].append(
              json.loads(out.stdout.strip().splitlines()[-1]))
          shutil.rmtree(path, ignore_errors=True)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  load_end = os.getloadavg()
  print('writer.write with (A) and without (B) the consumer additions; '
        f'{os.cpu_count()} cores, {args.rounds} interleaved rounds, load '
        'average (1/5/15 min) at start '
        + ' / '.join(f'{x:.1f}' for x in load_start) + ', at end '
        + ' / '.join(f'{x:.1f}' for x in load_end)
        + (' (--quick: small models)' if args.quick else ''))
  print(f'| model | metric | A (with) | B (without) | A / B | budget '
        f'{BUDGET:.2f}x |')
  print('| --- | --- | --- | --- | --- | --- |')
  mb = lambda v: f'{v / 1e6:.3f} MB'
  sec = lambda v: f'{v:.2f} s'
  for model, runs in results.items():
    a, b = runs['A'], runs['B']
    med = lambda xs, k: statistics.median(x[k] for x in xs)
    if 'pb' in a[0]:
      metrics = [('saved_model.pb', a[0]['pb'], b[0]['pb'], mb),
                 ('writer.write time (median)', med(a, 'seconds'),
                  med(b, 'seconds'), sec)]
    else:
      metrics = [('encoder saved_model.pb', a[0]['pb_encoder'],
                  b[0]['pb_encoder'], mb),
                 ('preprocessor saved_model.pb', a[0]['pb_preprocessor'],
                  b[0]['pb_preprocessor'], mb),
                 ('export process wall time (median)', med(a, 'seconds'),
                  med(b, 'seconds'), sec)]
      if all(x['export_s'] for x in a + b):
        metrics.append(('export part of it (median)', med(a, 'export_s'),
                        med(b, 'export_s'), sec))
      if all(x['write_s'] for x in a + b):
        metrics.append(('writer.write, both exports (median)',
                        med(a, 'write_s'), med(b, 'write_s'), sec))
    for metric, x, y, fmt in metrics:
      ratio = x / y
      print(f'| {model} | {metric} | {fmt(x)} | {fmt(y)} | {ratio:.3f}x | '
            f'{"met" if ratio <= BUDGET else "MISSED"} |')
    print(f'| {model} | times, every round | '
          + ', '.join(f'{x["seconds"]:.2f}' for x in a) + ' | '
          + ', '.join(f'{x["seconds"]:.2f}' for x in b) + ' | | |')
    if a[0].get('write_s'):
      print(f'| {model} | writer.write, every round | '
            + ', '.join(f'{x["write_s"]:.2f}' for x in a) + ' | '
            + ', '.join(f'{x["write_s"]:.2f}' for x in b) + ' | | |')

if __name__ == '__main__':
  main()

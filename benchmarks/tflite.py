r"""TFLite variations vs their SavedModel: size, latency, accuracy.

    .venv/bin/python benchmarks/run.py --cases=tflite [--tflite_models=...]
    .venv/bin/python benchmarks/tflite.py --models=bert:L-2/H-128 --quick

For each model: a random-weight checkpoint (saved as the trainers save it),
exported by our recipe with `--tflite=float32,dynamic_range,float16` (so
the variations are the verified ones a user gets), then one fresh process per
thread count (1 and 2) loads the SavedModel (`hub.load`, `serving_default`,
TensorFlow's intra- and inter-op threads set to the count) and every build
(LiteRT interpreter, `num_threads` = the count) and calls them alternately on
the same inputs at the benchmark's batch size (median of the calls after 2
warm-up calls). Accuracy of each build is measured on the same inputs against
the SavedModel: max abs difference, minimum cosine similarity per example and,
for classifiers, top-1 agreement.

Models: `bert:L-<layers>/H-<hidden>` (a TF Hub BERT size with a config under
configs/bert/; encoder at seq_length 128) and `resnet50` (the legacy Keras
ResNet-50 classifier, 224x224).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert  # pylint: disable=g-import-not-at-top,wrong-import-position
import common  # pylint: disable=g-import-not-at-top,wrong-import-position
import resnet  # pylint: disable=g-import-not-at-top,wrong-import-position

BUILDS = ('float32', 'dynamic_range', 'float16')
DEFAULT_MODELS = 'bert:L-2/H-128,resnet50'

# One fresh process: SavedModel and every build, alternately, on one input.
_PROBE = r'''
import json, os, sys, time
import numpy as np
threads = int(sys.argv[3])
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(threads)
tf.config.threading.set_inter_op_parallelism_threads(threads)
import tensorflow_hub as hub
from ai_edge_litert.interpreter import Interpreter
opts = json.loads(sys.argv[4])
sig = hub.load(sys.argv[1]).signatures['serving_default']
lite = sys.argv[2]
runners = {b: Interpreter(model_path=os.path.join(lite, b, 'model.tflite'),
                          num_threads=threads).get_signature_runner()
           for b in sorted(os.listdir(lite))}
rng = np.random.RandomState(0)
details = next(iter(runners.values())).get_input_details()
inputs = {}
for name, d in details.items():
  shape = [opts['batch']] + [int(x) for x in d['shape_signature'][1:]]
  if np.dtype(d['dtype']).kind == 'f':
    inputs[name] = rng.uniform(0, 1, shape).astype(d['dtype'])
  elif 'mask' in name:
    inputs[name] = np.ones(shape, d['dtype'])
  elif 'type' in name:
    inputs[name] = np.zeros(shape, d['dtype'])
  else:
    inputs[name] = rng.randint(1, opts.get('vocab', 100), shape).astype(
        d['dtype'])
tf_inputs = {k: tf.constant(v) for k, v in inputs.items()}
fns = {'saved_model': lambda: {k: v.numpy() for k, v in sig(**tf_inputs).items()}}
for b, r in runners.items():
  fns[b] = (lambda r=r: r(**inputs))
times = {k: [] for k in fns}
outs = {}
for i in range(opts['calls'] + 2):
  for k, f in (fns.items() if i % 2 == 0 else reversed(list(fns.items()))):
    t = time.perf_counter()
    outs[k] = f()
    if i >= 2:
      times[k].append(time.perf_counter() - t)
ref = outs['saved_model']
acc = {}
for b in runners:
  diff, cos, agree, n = 0.0, 1.0, 0, 0
  for key, w in ref.items():
    g = outs[b][key].astype(np.float64)
    w = w.astype(np.float64)
    diff = max(diff, float(np.abs(g - w).max()))
    a, c = g.reshape(g.shape[0], -1), w.reshape(w.shape[0], -1)
    cs = (a * c).sum(1) / np.maximum(np.linalg.norm(a, axis=1) *
                                     np.linalg.norm(c, axis=1), 1e-30)
    cos = min(cos, float(cs.min()))
    if opts.get('classifier') and w.ndim == 2:
      agree += int((g.argmax(-1) == w.argmax(-1)).sum())
      n += w.shape[0]
  acc[b] = {'max_abs_diff': diff, 'min_cosine': cos,
            'top1': agree / n if n else None}
print('PROBE ' + json.dumps({
    'latency_s': {k: float(np.median(v)) for k, v in times.items()},
    'accuracy': acc}))
'''


def _probe(saved_model, lite, threads, opts, log):
  r = common.timed([common.PY, '-c', _PROBE, saved_model, lite, str(threads),
                    json.dumps(opts)], log, cwd=os.path.dirname(saved_model))
  line = [l for l in r.stdout.splitlines() if l.startswith('PROBE ')]
  if not line:
    raise RuntimeError(f'tflite probe: no result; log {log}')
  return json.loads(line[0][len('PROBE '):])


def _export(model, workdir, quick):
  """(title, SavedModel dir, export seconds, probe options)."""
  logs = os.path.join(workdir, 'logs')
  os.makedirs(logs, exist_ok=True)
  flag = '--tflite=' + ','.join(BUILDS)
  if model.startswith('bert:'):
    size = model.split(':', 1)[1]
    ck = bert.make_checkpoint(size, workdir)
    out = os.path.join(workdir, 'bert')
    shutil.rmtree(out, ignore_errors=True)
    cmd = bert.ours_cmd(size, ck, out, verify=True) + [flag]
    r = common.timed(cmd, os.path.join(logs, 'export.log'))
    return (f'BERT {size} encoder (seq_length 128)',
            os.path.join(out, 'encoder'), r.wall_s,
            dict(batch=2 if quick else 8, calls=3 if quick else 20,
                 vocab=bert.VOCAB_SIZE))
  if model == 'resnet50':
    info = resnet._make(resnet.MAKE_LEGACY, workdir, 'ckpt')  # pylint: disable=protected-access
    out = os.path.join(workdir, 'resnet50')
    shutil.rmtree(out, ignore_errors=True)
    cmd = resnet.ours_cmd(info['prefix'], out, True,
                          "--gin_params=EXPORTS = ['classification']") + [flag]
    r = common.timed(cmd, os.path.join(logs, 'export.log'))
    return ('ResNet-50 classifier (224x224, 1001 classes)',
            os.path.join(out, 'classification'), r.wall_s,
            dict(batch=2 if quick else 8, calls=3 if quick else 10,
                 classifier=True))
  raise ValueError(f'unknown model {model!r}: bert:L-<n>/H-<n> or resnet50')


def measure(model, workdir, quick=False):
  """Returns (title, markdown table, raw numbers)."""
  title, saved_model, export_s, opts = _export(model, workdir, quick)
  lite = saved_model + '_tflite'
  probes = {t: _probe(saved_model, lite, t, opts,
                      os.path.join(workdir, 'logs', f'probe_{t}.log'))
            for t in (1, 2)}
  records = {}
  for b in BUILDS:
    with open(os.path.join(lite, b, 'assets.extra', 'export_record.json')) as f:
      records[b] = json.load(f)
  variables = records['float32']['sizes']['saved_model_variables']
  head = ['build', 'model.tflite (MB)', 'vs SavedModel variables',
          'latency 1 thread (ms)', 'vs SavedModel', 'latency 2 threads (ms)',
          'vs SavedModel', 'max abs diff', 'min cosine', 'top-1 agreement',
          'conversion (s)']
  rows = [['SavedModel (`serving_default`)', f'{variables / common.MB:.2f} '
           '(variables)', '1.00x'] + sum(
               ([f'{probes[t]["latency_s"]["saved_model"] * 1e3:.2f}', '1.00x']
                for t in (1, 2)), []) + ['—', '—', '—', '—']]
  raw = {'model': model, 'title': title, 'variables_bytes': variables,
         'export_with_tflite_s': export_s, 'batch': opts['batch'],
         'builds': {}}
  for b in BUILDS:
    size = records[b]['sizes']['model_tflite']
    acc = probes[1]['accuracy'][b]
    lat = {t: probes[t]['latency_s'][b] for t in (1, 2)}
    sm = {t: probes[t]['latency_s']['saved_model'] for t in (1, 2)}
    rows.append([
        f'`{b}`', f'{size / common.MB:.2f}', f'{size / variables:.2f}x',
        f'{lat[1] * 1e3:.2f}', f'{lat[1] / sm[1]:.2f}x', f'{lat[2] * 1e3:.2f}',
        f'{lat[2] / sm[2]:.2f}x', f'{acc["max_abs_diff"]:.2g}',
        f'{acc["min_cosine"]:.5f}',
        '—' if acc['top1'] is None else f'{acc["top1"]:.0%} of {opts["batch"]}',
        f'{records[b]["conversion"]["seconds"]:.1f}'])
    raw['builds'][b] = {'bytes': size, 'latency_s': lat, 'accuracy': acc,
                        'verification': records[b]['verification']['outputs']}
  lines = ['| ' + ' | '.join(head) + ' |', '|' + ' --- |' * len(head)]
  lines += ['| ' + ' | '.join(r) + ' |' for r in rows]
  note = (f'Batch {opts["batch"]}; latency: median of {opts["calls"]} calls '
          'after 2 warm-up calls, SavedModel and builds alternating in one '
          'process per thread count; accuracy on the same inputs against the '
          f'SavedModel. Export with `--tflite` (3 builds, each verified): '
          f'{export_s:.0f} s.')
  return title, '\n'.join(lines) + '\n\n' + note, raw


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--models', default=DEFAULT_MODELS)
  p.add_argument('--quick', action='store_true')
  p.add_argument('--workdir', default=None)
  args = p.parse_args(argv)
  workdir = args.workdir or tempfile.mkdtemp(prefix='hub_export_tflite_bench_')
  try:
    for m in [m for m in args.models.split(',') if m]:
      title, text, _ = measure(m, os.path.join(workdir, m.replace(
          ':', '_').replace('/', '_')), args.quick)
      print(f'\n### {title}\n\n{text}', flush=True)
  finally:
    if not args.workdir:
      shutil.rmtree(workdir, ignore_errors=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())

"""Measures the ResNet-50 export: ours vs Model Garden's vision export_tfhub.

    .venv/bin/python docs/measurements/measure_resnet.py [WORKDIR]

One run, same checkpoint: a Model Garden vision ResNet-50 classifier
(`resnet_imagenet` experiment, random weights) saved as its trainer does
(global_step, model, optimizer with momentum slots, backbone). Then, each in
its own process under /usr/bin/time -v:
  * ours: export_scripts/resnet_export.py with configs/resnet/resnet50_imagenet.gin
    (both exports, verified; and again with --noverify);
  * Model Garden: python -m official.vision.serving.export_tfhub
    --experiment=resnet_imagenet (classification; and --skip_logits_layer for
    the feature vector).
Reports wall time, peak RSS, sizes, hub.load time (median of 3 fresh
processes) and cross-checks the outputs. Prints a markdown table.
"""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
PY = sys.executable

MAKE_CKPT = r'''
import os, sys
os.environ['TF_USE_LEGACY_KERAS'] = '1'
import tensorflow as tf, tf_keras
from official.core import exp_factory
from official.vision.modeling import factory
cfg = exp_factory.get_exp_config('resnet_imagenet')
l2 = tf_keras.regularizers.l2(cfg.task.losses.l2_weight_decay / 2.0)
model = factory.build_classification_model(
    tf_keras.layers.InputSpec(shape=[None, None, None, 3]), cfg.task.model, l2)
opt = tf_keras.optimizers.SGD(0.0, momentum=0.9)
x = tf.random.uniform([2, 224, 224, 3])
with tf.GradientTape() as tape:
  loss = tf.reduce_sum(model(x, training=False)) + tf.add_n(model.losses)
opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                        model.trainable_variables))
step = tf.Variable(1, dtype=tf.int64)
tf.train.Checkpoint(global_step=step, model=model, optimizer=opt,
                    **model.checkpoint_items).save(os.path.join(sys.argv[1], 'ckpt'))
print(sum(int(tf.size(v)) for v in model.variables))
'''

LOAD = r'''
import os, sys, time
os.environ['TF_USE_LEGACY_KERAS'] = '1'
import tensorflow as tf, tensorflow_hub as hub
t = time.perf_counter()
hub.load(sys.argv[1])
print('LOAD', time.perf_counter() - t)
'''

COMPARE = r'''
import json, os, sys
os.environ['TF_USE_LEGACY_KERAS'] = '1'
import numpy as np, tensorflow as tf, tensorflow_hub as hub
ours, mg, ours_f, mg_f = sys.argv[1:5]
x = np.random.RandomState(0).uniform(0, 1, [2, 224, 224, 3]).astype(np.float32)
mean = np.array([0.485, 0.456, 0.406], np.float32)
std = np.array([0.229, 0.224, 0.225], np.float32)
a = hub.load(ours)(x, training=False).numpy()
mg_obj = hub.load(mg)
b = mg_obj((x - mean) / std, training=False).numpy()
fa = hub.load(ours_f)(x, training=False).numpy()
fb = hub.load(mg_f)((x - mean) / std, training=False).numpy()
raw = mg_obj(x, training=False).numpy()
print('CMP', json.dumps({
    'logits_max_abs_diff': float(np.abs(a - b).max()),
    'features_max_abs_diff': float(np.abs(fa - fb).max()),
    'mg_unnormalized_input_logits_diff': float(np.abs(a - raw).max()),
    'ours_reg_losses': len(hub.load(ours).regularization_losses),
    'mg_reg_losses': len(getattr(mg_obj, 'regularization_losses', [])),
    'mg_classification_softmax_free': bool(not np.allclose(b.sum(-1), 1))}))
'''


def timed(cmd, cwd):
  proc = subprocess.run(['/usr/bin/time', '-v'] + cmd, cwd=cwd,
                        capture_output=True, text=True,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  if proc.returncode:
    raise RuntimeError(f'{cmd} failed:\n{proc.stdout[-3000:]}\n'
                       f'{proc.stderr[-3000:]}')
  wall = re.search(r'Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)',
                   proc.stderr)
  h, m, s = wall.groups()
  seconds = int(h or 0) * 3600 + int(m) * 60 + float(s)
  rss = int(re.search(r'Maximum resident set size \(kbytes\): (\d+)',
                      proc.stderr).group(1))
  return seconds, rss / 1024, proc.stdout


def size(path):
  total = sum(os.path.getsize(os.path.join(d, f))
              for d, _, fs in os.walk(path) for f in fs)
  pb = os.path.getsize(os.path.join(path, 'saved_model.pb'))
  var = sum(os.path.getsize(os.path.join(path, 'variables', f))
            for f in os.listdir(os.path.join(path, 'variables')))
  return pb / 2**20, var / 2**20, total / 2**20


def load_time(path):
  times = []
  for _ in range(3):
    out = subprocess.run([PY, '-c', LOAD, path], capture_output=True,
                         text=True, cwd=tempfile.gettempdir(),
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
    times.append(float(re.search(r'LOAD ([\d.]+)', out.stdout).group(1)))
  return statistics.median(times)


def main():
  work = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(
      prefix='resnet_measure_')
  os.makedirs(work, exist_ok=True)
  ckpt = os.path.join(work, 'ckpt')
  shutil.rmtree(ckpt, ignore_errors=True)
  out = subprocess.run([PY, '-c', MAKE_CKPT, ckpt], capture_output=True,
                       text=True, cwd=tempfile.gettempdir(), check=True,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  params = out.stdout.strip().splitlines()[-1]
  prefix = os.path.join(ckpt, 'ckpt-1')
  ckpt_mb = sum(os.path.getsize(os.path.join(ckpt, f))
                for f in os.listdir(ckpt)) / 2**20
  rows = {}
  for name in ('ours', 'ours_noverify', 'mg_cls', 'mg_fv'):
    shutil.rmtree(os.path.join(work, name), ignore_errors=True)
  ours_cmd = [PY, os.path.join(ROOT, 'export_scripts', 'resnet_export.py'),
              '--gin_file=configs/resnet/resnet50_imagenet.gin',
              f'--checkpoint_path={prefix}']
  rows['ours'] = timed(ours_cmd + [f'--export_dir={work}/ours'], ROOT)
  rows['ours_noverify'] = timed(
      ours_cmd + [f'--export_dir={work}/ours_noverify', '--noverify'], ROOT)
  mg_cmd = [PY, '-m', 'official.vision.serving.export_tfhub',
            '--experiment=resnet_imagenet', f'--checkpoint_path={prefix}']
  rows['mg_cls'] = timed(mg_cmd + [f'--export_dir={work}/mg_cls'],
                         tempfile.gettempdir())
  rows['mg_fv'] = timed(mg_cmd + [f'--export_dir={work}/mg_fv',
                                  '--skip_logits_layer'],
                        tempfile.gettempdir())
  summary = re.search(r'in ([\d.]+) s \(export ([\d.]+) s, verification '
                      r'([\d.]+) s\)', rows['ours'][2])
  dirs = {'ours/feature_vector': f'{work}/ours/feature_vector',
          'ours/classification': f'{work}/ours/classification',
          'Model Garden classification': f'{work}/mg_cls',
          'Model Garden feature vector (--skip_logits_layer)':
              f'{work}/mg_fv'}
  cmp_out = subprocess.run(
      [PY, '-c', COMPARE, dirs['ours/classification'],
       dirs['Model Garden classification'], dirs['ours/feature_vector'],
       dirs['Model Garden feature vector (--skip_logits_layer)']],
      capture_output=True, text=True, cwd=tempfile.gettempdir(),
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  cmp = json.loads(re.search(r'CMP (.*)', cmp_out.stdout).group(1))
  print(f'checkpoint: {params} variables values, {ckpt_mb:.1f} MB '
        '(with optimizer slots)')
  print('| run | wall s | peak RSS MB |')
  print('| --- | --- | --- |')
  labels = {'ours': 'ours, both exports, verified',
            'ours_noverify': 'ours, both exports, --noverify',
            'mg_cls': 'Model Garden export_tfhub, classification',
            'mg_fv': 'Model Garden export_tfhub, --skip_logits_layer'}
  for k, (wall, rss, _) in rows.items():
    print(f'| {labels[k]} | {wall:.1f} | {rss:.0f} |')
  if summary:
    print(f'ours (driver summary): total {summary.group(1)} s = export '
          f'{summary.group(2)} s + verification {summary.group(3)} s')
  print('\n| SavedModel | saved_model.pb MB | variables MB | total MB | '
        'hub.load s (median of 3) |')
  print('| --- | --- | --- | --- | --- |')
  for label, path in dirs.items():
    pb, var, total = size(path)
    print(f'| {label} | {pb:.2f} | {var:.1f} | {total:.1f} | '
          f'{load_time(path):.2f} |')
  print('\ncross-check:', json.dumps(cmp))


if __name__ == '__main__':
  main()

"""Measures a MobileNet export: ours vs Model Garden's vision export_tfhub.

    .venv/bin/python docs/measurements/measure_mobilenet.py [WORKDIR [MODEL]]

MODEL: mobilenet_v2_100_224 (default) or mobilenet_v3_large_100_224. One run,
same checkpoint: a Model Garden vision MobileNet classifier
(`mobilenet_imagenet` experiment with that backbone, random weights) saved as
its trainer does (global_step, model, RMSprop optimizer with its slots,
backbone). Then, each in its own process under /usr/bin/time -v:
  * ours: export_scripts/mobilenet_export.py with configs/mobilenet/MODEL.gin
    (both exports, verified; and again with --noverify);
  * Model Garden: python -m official.vision.serving.export_tfhub
    --experiment=mobilenet_imagenet (classification; and --skip_logits_layer
    for the feature vector).
Reports wall time, peak RSS, sizes, hub.load time (median of 3 fresh
processes) and cross-checks the outputs. Prints a markdown table.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The same timing, size, hub.load and cross-check code as the ResNet one.
from measure_resnet import COMPARE, load_time, size, timed  # pylint: disable=g-import-not-at-top,g-multiple-import

# ... plus the size of what is compared.
COMPARE = COMPARE.replace(
    "'ours_reg_losses'", "'logits_max_abs': float(np.abs(a).max()), "
    "'features_max_abs': float(np.abs(fa).max()), 'ours_reg_losses'")
assert 'logits_max_abs' in COMPARE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
PY = sys.executable
MODELS = {'mobilenet_v2_100_224': 'MobileNetV2',
          'mobilenet_v3_large_100_224': 'MobileNetV3Large'}

MAKE_CKPT = r'''
import os, sys
os.environ['TF_USE_LEGACY_KERAS'] = '1'
import tensorflow as tf, tf_keras
from official.core import exp_factory
from official.vision.modeling import factory
import importlib.util
mc_spec = importlib.util.spec_from_file_location('mc', sys.argv[3])
mc = importlib.util.module_from_spec(mc_spec)
mc_spec.loader.exec_module(mc)
cfg = exp_factory.get_exp_config('mobilenet_imagenet')
cfg.override({'task': {'model': {'backbone': {'mobilenet': {
    'model_id': sys.argv[2]}}}}}, is_strict=True)
l2 = tf_keras.regularizers.l2(cfg.task.losses.l2_weight_decay / 2.0)
model = factory.build_classification_model(
    tf_keras.layers.InputSpec(shape=[None, None, None, 3]), cfg.task.model, l2)
# Random weights of a trained net's scale, batch-norm statistics calibrated
# (an initialized MobileNet's logits are ~1e-11: nothing to compare).
mc.randomize(model, seed=0, size=224)
opt = tf_keras.optimizers.RMSprop(0.0, rho=0.9, momentum=0.9, epsilon=0.002)
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

def main():
  work = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(
      prefix='mobilenet_measure_')
  model = sys.argv[2] if len(sys.argv) > 2 else 'mobilenet_v2_100_224'
  model_id = MODELS[model]
  os.makedirs(work, exist_ok=True)
  ckpt = os.path.join(work, 'ckpt')
  shutil.rmtree(ckpt, ignore_errors=True)
  out = subprocess.run([PY, '-c', MAKE_CKPT, ckpt, model_id, os.path.join(
      ROOT, 'tests', 'testdata', 'mobilenet', 'make_checkpoint.py')],
                       capture_output=True,
                       text=True, cwd=tempfile.gettempdir(), check=True,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  params = out.stdout.strip().splitlines()[-1]
  prefix = os.path.join(ckpt, 'ckpt-1')
  ckpt_mb = sum(os.path.getsize(os.path.join(ckpt, f))
                for f in os.listdir(ckpt)) / 2**20
  rows = {}
  for name in ('ours', 'ours_noverify', 'mg_cls', 'mg_fv'):
    shutil.rmtree(os.path.join(work, name), ignore_errors=True)
  ours_cmd = [PY, os.path.join(ROOT, 'export_scripts', 'mobilenet_export.py'),
              f'--gin_file=configs/mobilenet/{model}.gin',
              f'--checkpoint_path={prefix}']
  rows['ours'] = timed(ours_cmd + [f'--export_dir={work}/ours'], ROOT)
  rows['ours_noverify'] = timed(
      ours_cmd + [f'--export_dir={work}/ours_noverify', '--noverify'], ROOT)
  mg_cmd = [PY, '-m', 'official.vision.serving.export_tfhub',
            '--experiment=mobilenet_imagenet', f'--checkpoint_path={prefix}',
            '--params_override=task.model.backbone.mobilenet.model_id='
            + model_id]
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
  print(f'model: {model}')
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

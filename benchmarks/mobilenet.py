r"""MobileNet: `export_scripts/mobilenet_export.py` vs Model Garden's vision `export_tfhub`.

    .venv/bin/python benchmarks/mobilenet.py [--model=mobilenet_v2_100_224] [--quick]

(`benchmarks/run.py --cases=mobilenet` runs this with the other cases.)

The ResNet-50 vision comparison (`resnet.py`, its rows and helpers) on a
MobileNet (`--model`: a configs/mobilenet/mobilenet_*_224.gin): a Model
Garden vision classifier from the `mobilenet_imagenet` experiment with that
backbone (1001 classes, L2 as its task sets), with deterministic random
weights of a trained net's scale and calibrated batch-norm statistics
(tests/testdata/mobilenet/make_checkpoint.py's `randomize`: a freshly
initialized MobileNet's logits are ~1e-11, nothing to compare), saved as
its trainer saves it, `tf.train.Checkpoint(global_step, model, optimizer,
**model.checkpoint_items).save(...)` after one zero-gradient step of the
experiment's RMSprop (slots present). Then, each in its own process:

  ours:   export_scripts/mobilenet_export.py --gin_file=configs/mobilenet/
          MODEL.gin (both exports in one process), with --noverify and
          verified;
  theirs: python -m official.vision.serving.export_tfhub
          --experiment=mobilenet_imagenet --params_override=<the backbone>
          twice (classification, and --skip_logits_layer for the feature
          vector), fed the normalized images it expects.
"""
import argparse
import glob
import os
import re
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # pylint: disable=g-import-not-at-top
import resnet  # pylint: disable=g-import-not-at-top
from common import MB  # pylint: disable=g-import-not-at-top

MODELS = sorted(os.path.basename(p)[:-len('.gin')] for p in glob.glob(
    os.path.join(common.ROOT, 'configs', 'mobilenet', 'mobilenet_*_224.gin')))

# Its `randomize` (by path: tests/ is not a package).
MAKE = os.path.join(common.ROOT, 'tests', 'testdata', 'mobilenet',
                    'make_checkpoint.py')
MAKE_CHECKPOINT = r'''
import importlib.util, json, os, sys
os.environ['TF_USE_LEGACY_KERAS'] = '1'
import tensorflow as tf, tf_keras
from official.core import exp_factory
from official.vision.modeling import factory
spec = importlib.util.spec_from_file_location('mobilenet_make_checkpoint', MAKE)
mc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mc)
cfg = exp_factory.get_exp_config('mobilenet_imagenet')
cfg.override({'task': {'model': {'backbone': {'mobilenet': BACKBONE}}}},
             is_strict=True)
l2 = tf_keras.regularizers.l2(cfg.task.losses.l2_weight_decay / 2.0)
model = factory.build_classification_model(
    tf_keras.layers.InputSpec(shape=[None, None, None, 3]), cfg.task.model, l2)
mc.randomize(model, seed=0, size=224)
opt = tf_keras.optimizers.RMSprop(0.0, rho=0.9, momentum=0.9, epsilon=0.002)
opt.apply_gradients([(tf.zeros_like(v), v) for v in model.trainable_variables])
prefix = tf.train.Checkpoint(
    global_step=tf.Variable(1, dtype=tf.int64), model=model, optimizer=opt,
    **model.checkpoint_items).save(os.path.join(sys.argv[1], 'ckpt'))
print('CKPT ' + json.dumps(dict(prefix=prefix, parameters=int(sum(
    int(tf.size(v)) for v in model.variables)))))
'''


def backbone(model):
  """Model Garden's `mobilenet` backbone config of configs/mobilenet/MODEL.gin."""
  with open(os.path.join(common.ROOT, 'configs', 'mobilenet',
                         model + '.gin')) as f:
    text = f.read()
  return dict(model_id=re.search(r"^MODEL_ID = '(\w+)'", text, re.M).group(1),
              filter_size_scale=float(re.search(
                  r'^FILTER_SIZE_SCALE = ([\d.]+)', text, re.M).group(1)))


def ours_cmd(model, prefix, out, verify):
  return ([common.PY, os.path.join(common.ROOT, 'export_scripts',
                                   'mobilenet_export.py'),
           f'--gin_file=configs/mobilenet/{model}.gin',
           f'--checkpoint_path={prefix}', f'--export_dir={out}']
          + ([] if verify else ['--noverify']))


def compare(model, workdir, repeats=3, quick=False, verified=True, rounds=1):
  """Returns (title, rows, details)."""
  logs = os.path.join(workdir, 'logs')
  os.makedirs(logs, exist_ok=True)
  d = lambda n: os.path.join(workdir, n)
  for n in os.listdir(workdir):
    if n.startswith(('ours_', 'mg_')):
      shutil.rmtree(d(n), ignore_errors=True)
  bb = backbone(model)
  ck = resnet._make(f'MAKE, BACKBONE = {MAKE!r}, {bb!r}' + MAKE_CHECKPOINT,  # pylint: disable=protected-access
                    workdir, 'ckpt')
  mg = [common.PY, '-m', 'official.vision.serving.export_tfhub',
        '--experiment=mobilenet_imagenet', f'--checkpoint_path={ck["prefix"]}',
        '--params_override=' + ','.join(
            f'task.model.backbone.mobilenet.{k}={v}' for k, v in bb.items())]
  rows, ours = resnet.compare_vision(
      workdir, mg, lambda out, verify: ours_cmd(model, ck['prefix'], out,
                                                verify),
      repeats, quick, verified, rounds, diff_target=1e-4,
      diff_note=lambda npz: 'theirs fed the normalized images it expects '
      '(normalized in NumPy, ours in the graph); outputs of a trained net\'s '
      f'scale, max abs {_max_abs(npz):.2f}, where one ulp of the input moves '
      'them by ~1e-5: target 1e-4')
  title = (f'{model}, official.vision classifier vs vision export_tfhub '
           f'({ck["parameters"]:,} parameters, checkpoint '
           f'{ck["checkpoint_bytes"] / MB:.0f} MB with RMSprop slots)')
  return title, rows, dict(ours_stdout=ours.stdout[-2000:])


def _max_abs(npz):
  return float(np.abs(np.load(npz)['output']).max())


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--model', default='mobilenet_v2_100_224', choices=MODELS)
  p.add_argument('--workdir', default=None)
  p.add_argument('--quick', action='store_true')
  p.add_argument('--noverified', action='store_true')
  args = p.parse_args()
  workdir = args.workdir or tempfile.mkdtemp(prefix='bench_mobilenet_')
  title, rows, _ = compare(args.model, workdir, 1 if args.quick else 3,
                           args.quick, not args.noverified)
  print(title)
  print(common.table(rows))


if __name__ == '__main__':
  main()

r"""Keras 3 / KerasHub: `export_scripts/keras_export.py` vs Keras 3's own `model.export()`.

    .venv/bin/python benchmarks/keras3.py [--quick] [--size=resnet18]

(`benchmarks/run.py --cases=keras` runs this with the other cases.)

The same model for both: a KerasHub `ResNetImageClassifier` built from its
config classes with random weights (`--size`: `tiny`, two stages of basic
blocks, 16-64 filters; `resnet18`, ResNet-18's architecture, 1000 classes)
and its `ResNetImageConverter` (ImageNet mean/std), saved with
`save_to_preset`. Then, each in its own process as a user runs it:

  ours:   `keras_export.py --model_path=PRESET` with
          `EXPORTS = ['classification']`, `--noverify` (like for like:
          Keras verifies nothing) and again verified;
  theirs: a Keras 3 process loading the same preset
          (`keras_hub.models.ImageClassifier.from_preset`) and calling
          `task.export(DIR, format='tf_saved_model')`: an inference-only
          archive (`serve` endpoint and `serving_default`; no `training`, no
          regularization losses, not fine-tunable through hub.KerasLayer).

Theirs takes the normalized images the backbone expects (Keras exports the
model without its preprocessor); ours takes [0, 1] images and normalizes
inside: both are fed the same images accordingly, and their logits compared.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # pylint: disable=g-import-not-at-top
from common import MB, Row  # pylint: disable=g-import-not-at-top

THEIRS = 'Keras model.export()'  # The column of the comparison.
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
SIZES = {
    'tiny': dict(input_conv_filters=[64], input_conv_kernel_sizes=[3],
                 stackwise_num_filters=[64, 32], stackwise_num_blocks=[1, 1],
                 stackwise_num_strides=[1, 2], num_classes=10),
    'resnet18': dict(input_conv_filters=[64], input_conv_kernel_sizes=[7],
                     stackwise_num_filters=[64, 128, 256, 512],
                     stackwise_num_blocks=[2, 2, 2, 2],
                     stackwise_num_strides=[1, 2, 2, 2], num_classes=1000),
}

# Keras 3 processes (TF_USE_LEGACY_KERAS=0): write the preset; Keras's export.
MAKE = r'''
import json, os, sys
os.environ['TF_USE_LEGACY_KERAS'] = '0'
import keras, keras_hub
cfg = json.loads(sys.argv[2])
keras.utils.set_random_seed(0)
num_classes = cfg.pop('num_classes')
backbone = keras_hub.models.ResNetBackbone(
    block_type='basic_block', image_shape=(None, None, 3), **cfg)
converter = keras_hub.layers.ResNetImageConverter(
    image_size=(224, 224), scale=[1 / (255 * s) for s in %(std)r],
    offset=[-m / s for m, s in zip(%(mean)r, %(std)r)])
task = keras_hub.models.ResNetImageClassifier(
    backbone=backbone, num_classes=num_classes,
    preprocessor=keras_hub.models.ResNetImageClassifierPreprocessor(
        image_converter=converter))
task.save_to_preset(sys.argv[1])
print('PRESET ' + json.dumps(dict(parameters=int(task.count_params()))))
''' % dict(mean=MEAN, std=STD)

KERAS_EXPORT = r'''
import os, sys
os.environ['TF_USE_LEGACY_KERAS'] = '0'
import keras_hub
task = keras_hub.models.ImageClassifier.from_preset(sys.argv[1])
task.export(sys.argv[2], format='tf_saved_model', verbose=False)
'''


def _timed_keras3(cmd, log, cwd):
  """common.timed with Keras 3 as the process's Keras."""
  return common.timed(cmd, log, cwd=cwd,
                      environ=dict(common.env(), TF_USE_LEGACY_KERAS='0'))


def ours_cmd(preset, out, verify):
  return ([common.PY, os.path.join(common.ROOT, 'export_scripts',
                                   'keras_export.py'),
           '--gin_file=configs/keras/image_classifier.gin',
           f'--model_path={preset}', f'--export_dir={out}',
           "--gin_params=EXPORTS = ['classification']"]
          + ([] if verify else ['--noverify']))


def image_opts(quick, **kw):
  # 30 calls: a small model's calls are short, and 10 left the median a few
  # percent apart from run to run on the shared machine.
  return dict(kind='image', batch=2 if quick else 8, image_size=224,
              calls=3 if quick else 30, budget_s=5 if quick else 40,
              steps=1 if quick else 3, **kw)


def compare(workdir, repeats=3, quick=False, verified=True, rounds=1,
            size='tiny'):
  """Returns [(title, rows, details)]."""
  logs = os.path.join(workdir, 'logs')
  os.makedirs(logs, exist_ok=True)
  d = lambda n: os.path.join(workdir, n)
  log = lambda n: os.path.join(logs, f'{n}.log')
  for n in os.listdir(workdir):
    if n.startswith(('ours_', 'keras_', 'preset')):
      shutil.rmtree(d(n), ignore_errors=True)
  made = _timed_keras3([common.PY, '-c', MAKE, d('preset'),
                        json.dumps(SIZES[size])], log('make_preset'), workdir)
  info = json.loads(made.stdout.split('PRESET ', 1)[1].splitlines()[0])

  def theirs(i):
    return _timed_keras3([common.PY, '-c', KERAS_EXPORT, d('preset'),
                          d(f'keras_export{i}')], log(f'keras_export{i}'),
                         workdir)

  def ours_run(i):
    return common.timed(ours_cmd(d('preset'), d(f'ours_noverify{i}'), False),
                        log(f'ours_noverify{i}'))

  runs = common.interleaved(dict(theirs=theirs, ours=ours_run), rounds)
  for i in range(1, rounds):
    for n in ('keras_export', 'ours_noverify'):
      shutil.rmtree(d(f'{n}{i}'), ignore_errors=True)
  median = lambda rs: sorted(rs, key=lambda r: r.wall_s)[(len(rs) - 1) // 2]
  ours, keras = median(runs['ours']), median(runs['theirs'])
  ours_v = (common.timed(ours_cmd(d('preset'), d('ours_verified'), True),
                         log('ours_verified')) if verified else None)
  res = common.consumers(
      [('ours_cls', os.path.join(d('ours_noverify0'), 'classification'),
        image_opts(quick)),
       ('keras_cls', d('keras_export0'),
        image_opts(quick, mean=MEAN, std=STD, endpoint='serve',
                   normalize_in_call=True))],
      workdir, repeats, quick)
  o, k = res['ours_cls'], res['keras_cls']
  f = lambda r, key: '/'.join(f'{x:.2f}' for x in r[key])
  split = common.driver_split(ours.stdout)
  rounds_note = ('' if rounds < 2 else
                 f'; median of {rounds} interleaved rounds: ours '
                 + ', '.join(f'{r.wall_s:.1f}' for r in runs['ours'])
                 + ' s, theirs '
                 + ', '.join(f'{r.wall_s:.1f}' for r in runs['theirs']) + ' s')
  rows = [
      Row('export wall time, --noverify', ours.wall_s, keras.wall_s, 's', None,
          'both load the preset in their process'
          + (f'; ours: driver export {split[0]:.1f} s' if split else '')
          + rounds_note),
      Row('export peak memory, --noverify', ours.peak_memory_bytes / MB,
          keras.peak_memory_bytes / MB, 'MB', fmt='{:.0f}'),
  ]
  if ours_v:
    s = common.driver_split(ours_v.stdout)
    rows.append(Row('export wall time, verified (default)', ours_v.wall_s,
                    keras.wall_s, 's', None, 'Keras verifies nothing'
                    + (f'; driver: export {s[0]:.1f} s + verification '
                       f'{s[1]:.1f} s' if s else '')))
  rows += [
      Row('saved_model.pb', o['pb_bytes'] / MB, k['pb_bytes'] / MB, 'MB',
          None, fmt='{:.3f}'),
      Row('variables/', o['variables_bytes'] / MB, k['variables_bytes'] / MB,
          'MB', fmt='{:.1f}'),
      Row('total', o['total_bytes'] / MB, k['total_bytes'] / MB, 'MB', None,
          'without assets.extra/', fmt='{:.1f}'),
      Row('cold hub.load', o['load_s'], k['load_s'], 's', None,
          f'fresh processes: ours {f(o, "load_runs")}, theirs '
          f'{f(k, "load_runs")}'),
      Row(f'inference, batch {image_opts(quick)["batch"]} x 224x224',
          o['latency_s'] * 1e3, k['latency_s'] * 1e3, 'ms, median', 1.05,
          f'median of {o["latency_calls"]} / {k["latency_calls"]} calls after '
          '2 warm-up, alternating in one process, both from [0, 1] '
          'images: ours obj(x, training=False) (normalizes in its graph), '
          'theirs obj.serve((x - mean) / std)', fmt='{:.1f}'),
      Row('max abs diff ours vs theirs: logits',
          common.max_abs_diff(o['npz'], k['npz'])['output'], None,
          note='theirs fed the normalized images it expects',
          absolute_target=1e-4, fmt='{:.2g}'),
  ]
  title = (f'KerasHub ResNetImageClassifier ({size}, {info["parameters"]:,} '
           'parameters): ours vs Keras 3 `model.export()`')
  return [(title, rows, dict(ours_stdout=ours.stdout[-2000:]))]


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--workdir', default=None)
  p.add_argument('--quick', action='store_true')
  p.add_argument('--noverified', action='store_true')
  p.add_argument('--size', default='tiny', choices=sorted(SIZES))
  args = p.parse_args()
  workdir = args.workdir or tempfile.mkdtemp(prefix='bench_keras_')
  for title, rows, _ in compare(workdir, 1 if args.quick else 3, args.quick,
                                not args.noverified, size=args.size):
    print(title)
    print(common.table(rows, THEIRS))


if __name__ == '__main__':
  main()

r"""ResNet-50: `export_scripts/resnet_export.py` vs Model Garden's exporters.

    .venv/bin/python benchmarks/resnet.py [--quick]

(`benchmarks/run.py` runs this with the other cases and writes RESULTS.md.)

Two sources, each a random ResNet-50 with 1001 classes, saved as Model
Garden's trainers save them:

  vision: `official.vision` classifier (`resnet_imagenet` experiment, L2 as its
          task sets), `tf.train.Checkpoint(global_step, model, optimizer,
          **model.checkpoint_items).save(...)` after one zero-learning-rate
          SGD-momentum step (momentum slots present). Ours
          (`configs/resnet/resnet50_imagenet.gin`, both exports in one
          process) vs `python -m official.vision.serving.export_tfhub
          --experiment=resnet_imagenet` twice (classification, and
          `--skip_logits_layer` for the feature vector). Model Garden's export
          expects inputs already normalized by the training mean/std; it is
          fed those (ours takes [0, 1] images and normalizes inside).
  legacy: `official.legacy` Keras ResNet-50, `model.save_weights(prefix)`.
          Ours (`EXPORTS = ['classification']`) vs
          `official.legacy.image_classification.resnet.tfhub_export`, which
          writes `classification/` (with a final softmax) and then crashes on
          TF 2.20 before its feature vector (no layer `reduce_mean`): its
          classification half is what is measured; our logits are compared
          after a softmax.
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

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]

MAKE_VISION = r'''
import json, os, sys
os.environ['TF_USE_LEGACY_KERAS'] = '1'
import tensorflow as tf, tf_keras
from official.core import exp_factory
from official.vision.modeling import factory
cfg = exp_factory.get_exp_config('resnet_imagenet')
l2 = tf_keras.regularizers.l2(cfg.task.losses.l2_weight_decay / 2.0)
model = factory.build_classification_model(
    tf_keras.layers.InputSpec(shape=[None, None, None, 3]), cfg.task.model, l2)
opt = tf_keras.optimizers.SGD(0.0, momentum=0.9)
model(tf.zeros([1, 224, 224, 3]), training=False)
opt.apply_gradients([(tf.zeros_like(v), v) for v in model.trainable_variables])
prefix = tf.train.Checkpoint(
    global_step=tf.Variable(1, dtype=tf.int64), model=model, optimizer=opt,
    **model.checkpoint_items).save(os.path.join(sys.argv[1], 'ckpt'))
print('CKPT ' + json.dumps(dict(prefix=prefix, parameters=int(sum(
    int(tf.size(v)) for v in model.variables)))))
'''

MAKE_LEGACY = r'''
import json, os, sys
os.environ['TF_USE_LEGACY_KERAS'] = '1'
import tensorflow as tf
from official.legacy.image_classification.resnet import imagenet_preprocessing
from official.legacy.image_classification.resnet import resnet_model
model = resnet_model.resnet50(num_classes=imagenet_preprocessing.NUM_CLASSES,
                              rescale_inputs=True)
os.makedirs(sys.argv[1], exist_ok=True)
prefix = os.path.join(sys.argv[1], 'weights')
model.save_weights(prefix)
print('CKPT ' + json.dumps(dict(prefix=prefix, parameters=int(sum(
    int(tf.size(v)) for v in model.variables)))))
'''


def _make(script, workdir, name):
  d = os.path.join(workdir, name)
  shutil.rmtree(d, ignore_errors=True)
  os.makedirs(d)
  r = common.timed([common.PY, '-c', script, d],
                   os.path.join(workdir, 'logs', f'make_{name}.log'),
                   cwd=workdir)
  info = json.loads(r.stdout.split('CKPT ', 1)[1].splitlines()[0])
  info['checkpoint_bytes'] = sum(os.path.getsize(os.path.join(d, f))
                                 for f in os.listdir(d))
  return info


def ours_cmd(prefix, out, verify, *extra):
  return ([common.PY, os.path.join(common.ROOT, 'export_scripts',
                                   'resnet_export.py'),
           '--gin_file=configs/resnet/resnet50_imagenet.gin',
           f'--checkpoint_path={prefix}', f'--export_dir={out}']
          + list(extra) + ([] if verify else ['--noverify']))


def image_opts(quick, **kw):
  return dict(kind='image', batch=2 if quick else 8,
              image_size=224, calls=3 if quick else 10,
              budget_s=5 if quick else 20, steps=1 if quick else 3, **kw)


def compare_vision(workdir, mg, ours, repeats, quick, verified, rounds,
                   diff_target=1e-5,
                   diff_note=lambda npz: 'theirs fed the normalized images '
                   'it expects'):
  """Ours vs Model Garden's vision `export_tfhub` on one checkpoint (ResNet
  here, MobileNet in mobilenet.py): `mg` is its command without
  `--export_dir`, `ours(out, verify)` ours. Returns (rows, our run)."""
  d = lambda n: os.path.join(workdir, n)
  log = lambda n: os.path.join(workdir, 'logs', f'{n}.log')
  # Exports, interleaved (see bert.py): theirs (classification, then
  # --skip_logits_layer) and ours (--noverify) alternate for `rounds` rounds.
  def theirs(i):
    return (common.timed(mg + [f'--export_dir={d(f"mg_cls{i}")}'],
                         log(f'mg_cls{i}'), cwd=workdir),
            common.timed(mg + [f'--export_dir={d(f"mg_fv{i}")}',
                               '--skip_logits_layer'], log(f'mg_fv{i}'),
                         cwd=workdir))
  def ours_run(i):
    return common.timed(ours(d(f'ours_noverify{i}'), False),
                        log(f'ours_noverify{i}'))
  runs = common.interleaved(dict(theirs=theirs, ours=ours_run), rounds)
  for i in range(1, rounds):
    for n in ('mg_cls', 'mg_fv', 'ours_noverify'):
      shutil.rmtree(d(f'{n}{i}'), ignore_errors=True)
  ours_r = _median_run(runs['ours'], lambda r: r.wall_s)
  mg_cls, mg_fv = _median_run(runs['theirs'],
                              lambda r: r[0].wall_s + r[1].wall_s)
  ours_v = (common.timed(ours(d('ours_verified'), True),
                         log('ours_verified')) if verified else None)
  res = common.consumers(
      [('ours_fv', os.path.join(d('ours_noverify0'), 'feature_vector'),
        image_opts(quick, finetune=True)),
       ('mg_fv', d('mg_fv0'),
        image_opts(quick, finetune=True, mean=MEAN, std=STD))],
      workdir, repeats, quick)
  res.update(common.consumers(
      [('ours_cls', os.path.join(d('ours_noverify0'), 'classification'),
        image_opts(quick)),
       ('mg_cls', d('mg_cls0'), image_opts(quick, mean=MEAN, std=STD))],
      workdir, repeats, quick))
  fv, mfv, cls, mcls = (res[n] for n in ('ours_fv', 'mg_fv', 'ours_cls',
                                          'mg_cls'))
  theirs_wall = mg_cls.wall_s + mg_fv.wall_s
  theirs_rss = max(mg_cls.peak_memory_bytes, mg_fv.peak_memory_bytes)
  split = common.driver_split(ours_r.stdout)
  rows = [
      Row('export wall time, feature vector + classification, --noverify',
          ours_r.wall_s, theirs_wall, 's', None,
          f'theirs: classification {mg_cls.wall_s:.1f} s + '
          f'--skip_logits_layer {mg_fv.wall_s:.1f} s; ours both in one process'
          + (f' (driver: export {split[0]:.1f} s)' if split else '')
          + _rounds(runs, rounds, lambda r: r[0].wall_s + r[1].wall_s)),
      Row('export peak memory, --noverify', ours_r.peak_memory_bytes / MB,
          theirs_rss / MB, 'MB', fmt='{:.0f}'),
  ]
  rows += _verified_rows(ours_r, ours_v, theirs_wall, theirs_rss)
  rows += _model_rows('feature_vector', fv, mfv, finetune=True,
                      opts=image_opts(quick))
  rows += _model_rows('classification', cls, mcls, finetune=False,
                      opts=image_opts(quick))
  for name, a, b in (('feature_vector', fv, mfv),
                     ('classification logits', cls, mcls)):
    rows.append(Row(f'max abs diff ours vs theirs: {name}',
                    common.max_abs_diff(a['npz'], b['npz'])['output'], None,
                    note=diff_note(a['npz']), absolute_target=diff_target,
                    fmt='{:.2g}'))
  return rows, ours_r


def compare(workdir, repeats=3, quick=False, verified=True, legacy=True,
            rounds=1):
  """Returns [(title, rows, details)] for the vision and legacy sources."""
  logs = os.path.join(workdir, 'logs')
  os.makedirs(logs, exist_ok=True)
  d = lambda n: os.path.join(workdir, n)
  log = lambda n: os.path.join(logs, f'{n}.log')
  for n in os.listdir(workdir):
    if n.startswith(('ours_', 'mg_', 'legacy')):
      shutil.rmtree(d(n), ignore_errors=True)
  results = []

  # --- Vision classifier vs official.vision.serving.export_tfhub ---
  ck = _make(MAKE_VISION, workdir, 'vision_ckpt')
  mg = [common.PY, '-m', 'official.vision.serving.export_tfhub',
        '--experiment=resnet_imagenet', f'--checkpoint_path={ck["prefix"]}']
  rows, ours = compare_vision(
      workdir, mg, lambda out, verify: ours_cmd(ck['prefix'], out, verify),
      repeats, quick, verified, rounds)
  results.append((
      f'ResNet-50, official.vision classifier vs vision export_tfhub '
      f'({ck["parameters"]:,} parameters, checkpoint '
      f'{ck["checkpoint_bytes"] / MB:.0f} MB with momentum slots)', rows,
      dict(ours_stdout=ours.stdout[-2000:])))
  if not legacy:
    return results

  # --- Legacy Keras ResNet-50 vs the legacy tfhub_export (classification) ---
  lk = _make(MAKE_LEGACY, workdir, 'legacy_ckpt')
  def leg_run(i):
    return common.timed(
        [common.PY, '-m',
         'official.legacy.image_classification.resnet.tfhub_export',
         f'--model_path={lk["prefix"]}', f'--export_path={d(f"legacy{i}")}'],
        log(f'legacy_tfhub_export{i}'), cwd=workdir, check=False)
  def ours_leg(i):
    return common.timed(
        ours_cmd(lk['prefix'], d(f'ours_legacy{i}'), False,
                 "--gin_params=EXPORTS = ['classification']"),
        log(f'ours_legacy{i}'))
  lruns = common.interleaved(dict(theirs=leg_run, ours=ours_leg), rounds)
  for i in range(1, rounds):
    for n in ('legacy', 'ours_legacy'):
      shutil.rmtree(d(f'{n}{i}'), ignore_errors=True)
  leg = _median_run(lruns['theirs'], lambda r: r.wall_s)
  ours_l = _median_run(lruns['ours'], lambda r: r.wall_s)
  leg_cls = os.path.join(d('legacy0'), 'classification')
  if not os.path.exists(os.path.join(leg_cls, 'saved_model.pb')):
    raise RuntimeError(f'legacy tfhub_export wrote no classification/; log '
                       f'{leg.log}')
  crash = [l for l in leg.stdout.strip().splitlines() if l.strip()][-1:]
  res = common.consumers(
      [('ours_legacy_cls', os.path.join(d('ours_legacy0'), 'classification'),
        image_opts(quick, softmax=True)),
       ('legacy_cls', leg_cls, image_opts(quick))],
      workdir, repeats, quick)
  lc, mlc = res['ours_legacy_cls'], res['legacy_cls']
  rows = [
      Row('export wall time, classification, --noverify', ours_l.wall_s,
          leg.wall_s, 's', None,
          f'theirs exits {leg.returncode} after writing classification/'
          + (f' ({crash[0][:120]})' if leg.returncode and crash else '')
          + _rounds(lruns, rounds, lambda r: r.wall_s)),
      Row('export peak memory, --noverify', ours_l.peak_memory_bytes / MB,
          leg.peak_memory_bytes / MB, 'MB', fmt='{:.0f}'),
  ]
  rows += _model_rows('classification', lc, mlc, finetune=False,
                      opts=image_opts(quick))
  rows.append(Row(
      'max abs diff ours vs theirs: classification (softmax of our logits '
      'vs their probabilities)',
      common.max_abs_diff(lc['npz'], mlc['npz'])['output'], None,
      note='same [0, 1] images: both rescale inside', absolute_target=1e-5,
      fmt='{:.2g}'))
  results.append((
      f'ResNet-50, official.legacy Keras ResNet vs legacy tfhub_export '
      f'(classification half; {lk["parameters"]:,} parameters)', rows,
      dict(legacy_returncode=leg.returncode, legacy_last_line=crash)))
  return results


def _median_run(runs, key):
  """The run with the median `key` (of an even count the lower middle one:
  of 2 rounds, the faster)."""
  return sorted(runs, key=key)[(len(runs) - 1) // 2]


def _rounds(runs, rounds, theirs_key):
  if rounds < 2:
    return ''
  return (f'; median of {rounds} interleaved rounds: ours '
          + ', '.join(f'{r.wall_s:.1f}' for r in runs['ours']) + ' s, theirs '
          + ', '.join(f'{theirs_key(r):.1f}' for r in runs['theirs']) + ' s')


def _verified_rows(ours, ours_v, theirs_wall, theirs_rss):
  if not ours_v:
    return []
  s = common.driver_split(ours_v.stdout)
  return [
      Row('export wall time, verified (default)', ours_v.wall_s, theirs_wall,
          's', None, 'Model Garden verifies nothing'
          + (f'; driver: export {s[0]:.1f} s + verification {s[1]:.1f} s'
             if s else '')),
      Row('cost of verification (verified - noverify)',
          ours_v.wall_s - ours.wall_s, None, 's'),
      Row('export peak memory, verified (export and verification processes together)',
          ours_v.peak_memory_bytes / MB, theirs_rss / MB, 'MB', fmt='{:.0f}'),
  ]


def _model_rows(name, ours, theirs, finetune, opts):
  f = lambda r, k: '/'.join(f'{x:.2f}' for x in r[k])
  rows = [
      Row(f'{name} saved_model.pb', ours['pb_bytes'] / MB,
          theirs['pb_bytes'] / MB, 'MB', 0.5),
      Row(f'{name} variables/', ours['variables_bytes'] / MB,
          theirs['variables_bytes'] / MB, 'MB', fmt='{:.1f}'),
      Row(f'{name} total', ours['total_bytes'] / MB, theirs['total_bytes'] / MB,
          'MB', None, 'without assets.extra/', fmt='{:.1f}'),
      Row(f'{name} overhead over raw parameter bytes',
          ours['overhead_bytes'] / MB, theirs['overhead_bytes'] / MB, 'MB',
          None, f'raw: ours {ours["raw_param_bytes"] / MB:.1f} MB, theirs '
          f'{theirs["raw_param_bytes"] / MB:.1f} MB'),
      Row(f'{name} cold hub.load', ours['load_s'], theirs['load_s'], 's', 0.5,
          f'fresh processes: ours {f(ours, "load_runs")}, theirs '
          f'{f(theirs, "load_runs")}'),
      Row(f'{name} cold hub.KerasLayer' + ('(trainable=True)' if finetune
                                           else ''),
          ours['keraslayer_s'], theirs['keraslayer_s'], 's', None,
          f'ours {f(ours, "keraslayer_runs")}, theirs '
          f'{f(theirs, "keraslayer_runs")}'),
      Row(f'{name} inference, batch {opts["batch"]} x {opts["image_size"]}'
          f'x{opts["image_size"]}', ours['latency_s'] * 1e3,
          theirs['latency_s'] * 1e3, 'ms, median', 1.05,
          f'median of {ours["latency_calls"]} / {theirs["latency_calls"]} '
          'calls after 2 warm-up, ours and theirs alternating in one process', fmt='{:.1f}'),
  ]
  if finetune:
    rows += [
        Row(f'{name} fine-tuning step, hub.KerasLayer(trainable=True) + Dense',
            ours['finetune_step_s'], theirs['finetune_step_s'], 's, median',
            1.05, f'median of {ours["finetune_steps"]} train_on_batch steps after the '
            'first, ours and theirs alternating in one process', fmt='{:.3f}'),
        Row(f'{name} first fine-tuning step (traces the model)',
            ours['finetune_first_step_s'], theirs['finetune_first_step_s'],
            's'),
    ]
  return rows


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--workdir', default=None)
  p.add_argument('--quick', action='store_true')
  p.add_argument('--noverified', action='store_true')
  p.add_argument('--nolegacy', action='store_true')
  args = p.parse_args()
  workdir = args.workdir or tempfile.mkdtemp(prefix='bench_resnet_')
  for title, rows, _ in compare(workdir, 1 if args.quick else 3, args.quick,
                                not args.noverified, not args.nolegacy):
    print(title)
    print(common.table(rows))


if __name__ == '__main__':
  main()

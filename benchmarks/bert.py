r"""BERT: `export_scripts/bert_export.py` vs Model Garden's `export_tfhub`.

    .venv/bin/python benchmarks/bert.py [--size=L-12/H-768] [--quick]
    .venv/bin/python benchmarks/bert.py --sizes=L-2/H-128,L-12/H-768

(`benchmarks/run.py` runs this with the other cases and writes RESULTS.md.)

For one size, in one run on one checkpoint: a random BERT (`BertEncoder` in a
`BertPretrainerV2` with masked-LM and next-sentence heads, A = H/64, I = 4H,
vocabulary 30522) written the way Model Garden's trainer writes it,
`tf.train.Checkpoint(global_step, model=pretrainer, optimizer=Adam,
**pretrainer.checkpoint_items).save(...)`, with the Adam slots created by one
zero-gradient step; a 30522-token vocab.txt and the legacy bert_config.json.
Then, each in its own process:

  ours:   export_scripts/bert_export.py --gin_file=configs/bert/...gin
          --checkpoint_path=CKPT --vocab_file=vocab.txt --export_dir=OUT
          (encoder + .mlm + preprocessor), with --noverify and verified;
  theirs: python -m official.nlp.tools.export_tfhub --export_type=model_with_mlm
          --bert_config_file=... --model_checkpoint_path=CKPT
          --vocab_file=vocab.txt --do_lower_case=True, and
          --export_type=preprocessing (two processes for the two SavedModels);

and compares export wall time and peak memory, sizes, cold `hub.load` and
`hub.KerasLayer` time, inference latency, a fine-tuning step and the outputs
(see common.py, probe.py). `--sizes` reports export time and peak memory of
both exporters per model size instead.
"""
import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from typing import Callable, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # pylint: disable=g-import-not-at-top
from common import MB, Row  # pylint: disable=g-import-not-at-top

VOCAB_SIZE = 30522
SWEEP = ('L-2/H-128', 'L-4/H-256', 'L-8/H-512', 'L-12/H-768', 'L-24/H-1024')

MAKE_CHECKPOINT = r'''
import json, os, sys
os.environ['TF_USE_LEGACY_KERAS'] = '1'
os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'
import tensorflow as tf, tf_keras
from official.legacy.bert import configs
from official.modeling import tf_utils
from official.nlp.modeling import layers, models
from official.nlp.tools import export_tfhub_lib
out, num_layers, hidden, vocab_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cfg = dict(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=num_layers,
           num_attention_heads=max(1, hidden // 64), intermediate_size=4 * hidden,
           hidden_act='gelu', hidden_dropout_prob=0.1,
           attention_probs_dropout_prob=0.1, max_position_embeddings=512,
           type_vocab_size=2, initializer_range=0.02)
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, 'bert_config.json'), 'w') as f:
  json.dump(cfg, f)
bert_config = configs.BertConfig(**cfg)
encoder = export_tfhub_lib.get_bert_encoder(bert_config)
pretrainer = models.BertPretrainerV2(
    encoder_network=encoder, mlm_activation=tf_utils.get_activation('gelu'),
    mlm_initializer=tf_keras.initializers.TruncatedNormal(stddev=0.02),
    classification_heads=[layers.ClassificationHead(
        inner_dim=hidden, num_classes=2, name='next_sentence')])
ids = tf.zeros([1, 4], tf.int32)
pretrainer(dict(input_word_ids=ids, input_mask=ids + 1, input_type_ids=ids,
                masked_lm_positions=ids[:, :2]))
opt = tf_keras.optimizers.legacy.Adam(1e-4)
opt.apply_gradients([(tf.zeros_like(v), v) for v in pretrainer.trainable_variables])
ckpt = tf.train.Checkpoint(global_step=tf.Variable(1, dtype=tf.int64),
                           model=pretrainer, optimizer=opt,
                           **pretrainer.checkpoint_items)
prefix = ckpt.save(os.path.join(out, 'ckpt', 'ckpt'))
special = ['[PAD]'] + [f'[unused{i}]' for i in range(99)] + ['[UNK]', '[CLS]', '[SEP]', '[MASK]']
words = ('the quick brown fox jumps over lazy dog hello world a an is was of '
         'to and in it that for on with as at by this be are from . , ! ? '
         '日 本 ##s ##ing ##ed').split()
tokens = special + words
tokens += [f'tok{i}' for i in range(vocab_size - len(tokens))]
with open(os.path.join(out, 'vocab.txt'), 'w', encoding='utf-8') as f:
  f.write('\n'.join(tokens) + '\n')
print('CKPT ' + json.dumps(dict(
    prefix=prefix,
    parameters=int(sum(int(tf.size(v)) for v in pretrainer.variables)),
    encoder_parameters=int(sum(int(tf.size(v)) for v in encoder.variables)))))
'''


def parse_size(size):
  l, h = size.upper().replace('L-', '').replace('H-', '').split('/')
  return int(l), int(h)


def config_for(size):
  layers, hidden = parse_size(size)
  name = f'bert_en_uncased_L-{layers}_H-{hidden}_A-{max(1, hidden // 64)}.gin'
  for d in ('configs/bert', 'configs/bert/small_bert'):
    if os.path.exists(os.path.join(common.ROOT, d, name)):
      return f'{d}/{name}'
  raise ValueError(f'no config {name} under configs/bert/: pick one of the '
                   'TF Hub BERT sizes')


def make_checkpoint(size, workdir):
  layers, hidden = parse_size(size)
  data = os.path.join(workdir, 'data')
  shutil.rmtree(data, ignore_errors=True)
  r = common.timed([common.PY, '-c', MAKE_CHECKPOINT, data, str(layers),
                    str(hidden), str(VOCAB_SIZE)],
                   os.path.join(workdir, 'make_checkpoint.log'), cwd=workdir)
  info = json.loads(r.stdout.split('CKPT ', 1)[1].splitlines()[0])
  ckdir = os.path.join(data, 'ckpt')
  info.update(
      vocab=os.path.join(data, 'vocab.txt'),
      bert_config=os.path.join(data, 'bert_config.json'),
      checkpoint_bytes=sum(os.path.getsize(os.path.join(ckdir, f))
                           for f in os.listdir(ckdir)),
      seconds=r.wall_s)
  return info


def ours_cmd(size, ck, out, verify):
  return ([common.PY, os.path.join(common.ROOT, 'export_scripts',
                                   'bert_export.py'),
           f'--gin_file={config_for(size)}',
           f'--checkpoint_path={ck["prefix"]}', f'--vocab_file={ck["vocab"]}',
           f'--export_dir={out}'] + ([] if verify else ['--noverify']))


def theirs_cmd(ck, out, export_type):
  cmd = [common.PY, '-m', 'official.nlp.tools.export_tfhub',
         f'--export_type={export_type}', f'--vocab_file={ck["vocab"]}',
         '--do_lower_case=True', f'--export_path={out}']
  if export_type == 'preprocessing':
    return cmd + ['--default_seq_length=128']
  return cmd + [f'--bert_config_file={ck["bert_config"]}',
                f'--model_checkpoint_path={ck["prefix"]}']


@dataclasses.dataclass(frozen=True)
class Family:
  """A BERT-like recipe and Model Garden's exporter of the same model:
  `make_checkpoint(size, workdir)`, `ours_cmd(size, ck, out, verify)`,
  `theirs_cmd(ck, out, export_type)`, the vocabulary size of the sizes."""
  name: str
  make_checkpoint: Callable[[str, str], dict]
  ours_cmd: Callable[..., List[str]]
  theirs_cmd: Callable[..., List[str]]
  vocab_size: int


def compare(size, workdir, repeats=3, quick=False, verified=True, rounds=1,
            family=None):
  """Returns (title, rows, details); `family`: BERT unless given (ALBERT:
  benchmarks/albert.py)."""
  family = family or Family('BERT', make_checkpoint, ours_cmd, theirs_cmd,
                            VOCAB_SIZE)
  os.makedirs(workdir, exist_ok=True)
  logs = os.path.join(workdir, 'logs')
  os.makedirs(logs, exist_ok=True)
  ck = family.make_checkpoint(size, workdir)
  d = lambda n: os.path.join(workdir, n)
  for n in os.listdir(workdir):
    if n.startswith(('ours_', 'mg_')):
      shutil.rmtree(d(n), ignore_errors=True)
  log = lambda n: os.path.join(logs, f'{n}.log')
  # Exports, interleaved: ours (--noverify) and theirs (model_with_mlm, then
  # preprocessing) alternate for `rounds` rounds, so that other jobs on the
  # machine slow both alike; the median round is reported.
  def theirs(i):
    return (common.timed(family.theirs_cmd(ck, d(f'mg_encoder{i}'), 'model_with_mlm'),
                         log(f'mg_model_with_mlm{i}'), cwd=workdir),
            common.timed(family.theirs_cmd(ck, d(f'mg_preprocessor{i}'),
                                    'preprocessing'),
                         log(f'mg_preprocessing{i}'), cwd=workdir))
  def ours_run(i):
    return common.timed(family.ours_cmd(size, ck, d(f'ours_noverify{i}'), False),
                        log(f'ours_noverify{i}'))
  runs = common.interleaved(dict(theirs=theirs, ours=ours_run), rounds)
  for i in range(1, rounds):  # Identical exports; keep round 0's.
    for n in ('mg_encoder', 'mg_preprocessor', 'ours_noverify'):
      shutil.rmtree(d(f'{n}{i}'), ignore_errors=True)
  ours = _median_run(runs['ours'], lambda r: r.wall_s)
  mg_enc, mg_pre = _median_run(runs['theirs'],
                               lambda r: r[0].wall_s + r[1].wall_s)
  ours_v = (common.timed(family.ours_cmd(size, ck, d('ours_verified'), True),
                         log('ours_verified')) if verified else None)
  # Consumer side (ours and theirs interleaved, see common.consumers).
  enc_opts = dict(kind='bert_encoder', vocab_size=family.vocab_size, finetune=True,
                  batch=2 if quick else 8, seq_length=32 if quick else 128,
                  # BERT-base: ~0.5 s a call; 10 calls gave medians 5% apart
                  # (1.05x) where 30 agree within 1% (1.00x).
                  calls=3 if quick else 30, budget_s=5 if quick else 60,
                  steps=1 if quick else 5)
  pre_opts = dict(kind='bert_preprocessor', batch=8 if quick else 32,
                  calls=3 if quick else 20, budget_s=5 if quick else 10)
  res = common.consumers(
      [('ours_encoder', os.path.join(d('ours_noverify0'), 'encoder'), enc_opts),
       ('mg_encoder', d('mg_encoder0'), enc_opts)],
      workdir, repeats, quick)
  res.update(common.consumers(
      [('ours_preprocessor', os.path.join(d('ours_noverify0'), 'preprocessor'),
        pre_opts),
       ('mg_preprocessor', d('mg_preprocessor0'), pre_opts)],
      workdir, repeats, quick))
  ours_enc, mg_e = res['ours_encoder'], res['mg_encoder']
  ours_pre, mg_p = res['ours_preprocessor'], res['mg_preprocessor']
  enc_diff = common.max_abs_diff(ours_enc['npz'], mg_e['npz'])
  pre_diff = common.max_abs_diff(ours_pre['npz'], mg_p['npz'])

  theirs_wall = mg_enc.wall_s + mg_pre.wall_s
  theirs_rss = max(mg_enc.peak_memory_bytes, mg_pre.peak_memory_bytes)
  split = common.driver_split(ours.stdout)
  rows = [
      Row('export wall time, encoder+MLM+preprocessor, --noverify', ours.wall_s,
          theirs_wall, 's', 0.5 if size.upper() == 'L-12/H-768' else None,
          f'theirs: model_with_mlm {mg_enc.wall_s:.1f} s + preprocessing '
          f'{mg_pre.wall_s:.1f} s; ours in one process'
          + (f' (driver: export {split[0]:.1f} s)' if split else '')
          + (f'; median of {rounds} interleaved rounds: ours '
             + ', '.join(f'{r.wall_s:.1f}' for r in runs['ours'])
             + ' s, theirs ' + ', '.join(f'{a.wall_s + b.wall_s:.1f}'
                                         for a, b in runs['theirs']) + ' s'
             if rounds > 1 else '')),
      Row('export peak memory, --noverify', ours.peak_memory_bytes / MB,
          theirs_rss / MB, 'MB', None,
          f'theirs: largest of model_with_mlm {mg_enc.peak_memory_bytes / MB:.0f}'
          f' MB, preprocessing {mg_pre.peak_memory_bytes / MB:.0f} MB', fmt='{:.0f}'),
  ]
  if ours_v:
    vsplit = common.driver_split(ours_v.stdout)
    rows += [
        Row('export wall time, verified (default)', ours_v.wall_s, theirs_wall,
            's', None, 'Model Garden verifies nothing'
            + (f'; driver: export {vsplit[0]:.1f} s + verification '
               f'{vsplit[1]:.1f} s' if vsplit else '')),
        Row('cost of verification (verified - noverify)',
            ours_v.wall_s - ours.wall_s, None, 's', None,
            'reloads both SavedModels in a fresh process: hub.load, '
            'hub.KerasLayer(trainable=True), gradients, a fit step'),
        Row('export peak memory, verified (export and verification processes together)',
            ours_v.peak_memory_bytes / MB, theirs_rss / MB, 'MB', None,
            fmt='{:.0f}'),
    ]
  rows += _size_rows('encoder', ours_enc, mg_e, pb_target=0.5)
  rows += [r for r in _size_rows('preprocessor', ours_pre, mg_p)  # No params.
           if 'saved_model.pb' in r.metric or r.metric.endswith('total')]
  rows += [
      Row('encoder cold hub.load', ours_enc['load_s'], mg_e['load_s'], 's',
          0.5, _runs(ours_enc, mg_e, 'load_runs')),
      Row('encoder cold hub.KerasLayer(trainable=True)',
          ours_enc['keraslayer_s'], mg_e['keraslayer_s'], 's', None,
          _runs(ours_enc, mg_e, 'keraslayer_runs')),
      Row('preprocessor cold hub.load', ours_pre['load_s'], mg_p['load_s'],
          's', None, _runs(ours_pre, mg_p, 'load_runs')),
      Row('preprocessor cold hub.KerasLayer', ours_pre['keraslayer_s'],
          mg_p['keraslayer_s'], 's', None,
          _runs(ours_pre, mg_p, 'keraslayer_runs')),
      Row(f'encoder inference, batch {enc_opts["batch"]} x seq '
          f'{enc_opts["seq_length"]}', ours_enc['latency_s'] * 1e3,
          mg_e['latency_s'] * 1e3, 'ms, median', 1.05,
          f'median of {ours_enc["latency_calls"]} / {mg_e["latency_calls"]} '
          'calls after 2 warm-up, ours and theirs alternating in one process', fmt='{:.1f}'),
      Row(f'encoder.mlm inference, batch {enc_opts["batch"]} x seq '
          f'{enc_opts["seq_length"]}, 4 positions', ours_enc['mlm_latency_s'] * 1e3,
          mg_e['mlm_latency_s'] * 1e3, 'ms, median', 1.05, fmt='{:.1f}'),
      Row(f'preprocessor inference, {pre_opts["batch"]} sentences',
          ours_pre['latency_s'] * 1e3, mg_p['latency_s'] * 1e3, 'ms, median',
          1.05, fmt='{:.1f}'),
      Row('fine-tuning step, hub.KerasLayer(trainable=True) + Dense, Adam',
          ours_enc['finetune_step_s'], mg_e['finetune_step_s'], 's, median',
          1.05, f'median of {ours_enc["finetune_steps"]} train_on_batch steps after the '
          'first, ours and theirs alternating in one process', fmt='{:.3f}'),
      Row('first fine-tuning step (traces the model)',
          ours_enc['finetune_first_step_s'], mg_e['finetune_first_step_s'],
          's', None),
  ]
  rows += _diff_rows(enc_diff, pre_diff)
  details = dict(size=size, checkpoint=ck, ours_stdout=ours.stdout[-2000:],
                 enc_diff=enc_diff, pre_diff=pre_diff,
                 load_avg_after=os.getloadavg())
  title = (f'{family.name} {size} (encoder+MLM+preprocessor; '
           f'{ck["encoder_parameters"]:,} encoder parameters, checkpoint '
           f'{ck["checkpoint_bytes"] / MB:.0f} MB with Adam slots)')
  return title, rows, details


def _median_run(runs, key):
  """The run with the median `key` (of an even count the lower middle one:
  of 2 rounds, the faster)."""
  return sorted(runs, key=key)[(len(runs) - 1) // 2]


def _runs(a, b, key):
  f = lambda r: '/'.join(f'{x:.2f}' for x in r[key])
  return f'{len(a[key])} fresh processes each: ours {f(a)}, theirs {f(b)}'


def _size_rows(name, ours, theirs, pb_target=None):
  return [
      Row(f'{name} saved_model.pb', ours['pb_bytes'] / MB,
          theirs['pb_bytes'] / MB, 'MB', pb_target, fmt='{:.2f}'),
      Row(f'{name} variables/', ours['variables_bytes'] / MB,
          theirs['variables_bytes'] / MB, 'MB', None, fmt='{:.2f}'),
      Row(f'{name} total', ours['total_bytes'] / MB,
          theirs['total_bytes'] / MB, 'MB', None,
          'without assets.extra/ (ours only: model card, export record)',
          fmt='{:.2f}'),
      Row(f'{name} overhead over raw parameter bytes', ours['overhead_bytes'] / MB,
          theirs['overhead_bytes'] / MB, 'MB', None,
          f'raw: ours {ours["raw_param_bytes"] / MB:.2f} MB, theirs '
          f'{theirs["raw_param_bytes"] / MB:.2f} MB (obj.variables)',
          fmt='{:.2f}'),
  ]


def _group(diffs):
  groups = {}
  for k, v in diffs.items():
    g = k.split('.')[0]
    groups[g] = max(groups.get(g, 0.0), v)
  return groups


def _diff_rows(enc_diff, pre_diff):
  rows = []
  for name, diffs in (('encoder', enc_diff), ('preprocessor', pre_diff)):
    if not diffs:
      rows.append(Row(f'{name} outputs: no common output names', None, None))
    for k, v in sorted(_group(diffs).items()):
      rows.append(Row(f'max abs diff ours vs theirs: {name} {k}', v, None, '',
                      note='same inputs, both loaded with hub.load',
                      absolute_target=1e-5, fmt='{:.2g}'))
  return rows


def sweep(sizes, workdir):
  """Export time and peak memory per size (one row each): ours unverified
  and verified (the default), Model Garden's `model_with_mlm`."""
  out = []
  for size in sizes:
    w = os.path.join(workdir, 'sweep_' + size.replace('/', '_'))
    os.makedirs(w, exist_ok=True)
    ck = make_checkpoint(size, w)
    runs = dict(
        ours=lambda _: common.timed(
            ours_cmd(size, ck, os.path.join(w, 'ours'), False),
            os.path.join(w, 'ours.log')),
        mg=lambda _: common.timed(
            theirs_cmd(ck, os.path.join(w, 'mg'), 'model_with_mlm'),
            os.path.join(w, 'mg.log'), cwd=w),
        verified=lambda _: common.timed(
            ours_cmd(size, ck, os.path.join(w, 'verified'), True),
            os.path.join(w, 'verified.log')))
    if len(out) % 2:  # Alternate which goes first.
      runs = dict(reversed(list(runs.items())))
    done = {}
    for n, fn in runs.items():
      done[n] = fn(0)
      shutil.rmtree(os.path.join(w, n), ignore_errors=True)
    ours, mg, ver = done['ours'], done['mg'], done['verified']
    out.append(dict(size=size, parameters=ck['encoder_parameters'],
                    checkpoint_bytes=ck['checkpoint_bytes'],
                    make_checkpoint_s=ck['seconds'],
                    ours_s=ours.wall_s, ours_rss=ours.peak_memory_bytes,
                    ours_split=common.driver_split(ours.stdout),
                    verified_s=ver.wall_s,
                    verified_mem=ver.peak_memory_bytes,
                    verified_split=common.driver_split(ver.stdout),
                    mg_s=mg.wall_s, mg_rss=mg.peak_memory_bytes))
    shutil.rmtree(w, ignore_errors=True)  # Checkpoints are large.
  return out


def sweep_table(rows):
  lines = ['| size | encoder parameters | checkpoint (with Adam slots) MB | '
           'ours --noverify s | ours verified s | Model Garden '
           'model_with_mlm s | ours --noverify / theirs | ours verified / '
           'theirs | ours --noverify peak MB | ours verified peak MB (all '
           'processes) | Model Garden peak MB | verified memory / theirs |',
           '|' + ' --- |' * 12]
  for r in rows:
    lines.append(
        f'| {r["size"]} | {r["parameters"]:,} | '
        f'{r["checkpoint_bytes"] / MB:.0f} | {r["ours_s"]:.1f} | '
        f'{r["verified_s"]:.1f} | {r["mg_s"]:.1f} | '
        f'{r["ours_s"] / r["mg_s"]:.2f}x | {r["verified_s"] / r["mg_s"]:.2f}x '
        f'| {r["ours_rss"] / MB:.0f} | {r["verified_mem"] / MB:.0f} | '
        f'{r["mg_rss"] / MB:.0f} | {r["verified_mem"] / r["mg_rss"]:.2f}x |')
  return '\n'.join(lines)


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--size', default='L-12/H-768')
  p.add_argument('--sizes', default=None,
                 help='comma-separated sizes for the growth table')
  p.add_argument('--workdir', default=None)
  p.add_argument('--quick', action='store_true')
  p.add_argument('--noverified', action='store_true',
                 help='skip the verified run of ours')
  args = p.parse_args()
  workdir = args.workdir or tempfile.mkdtemp(prefix='bench_bert_')
  if args.sizes:
    print(sweep_table(sweep(args.sizes.split(','), workdir)))
    return
  title, rows, _ = compare(args.size, workdir, repeats=1 if args.quick else 3,
                           quick=args.quick, verified=not args.noverified)
  print(title)
  print(common.table(rows))


if __name__ == '__main__':
  main()

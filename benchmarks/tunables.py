r"""Cost of the fine-tuning controls: A/B of the writer with and without them.

    .venv/bin/python benchmarks/tunables.py              # BERT-base, ResNet-50
    .venv/bin/python benchmarks/tunables.py --cases=bert --rounds=1 \
        --bert_layers=2 --bert_hidden=128                # smoke run

The same in-memory model (random weights: tracing and `saved_model.pb` do
not depend on them) is written by `writer.write` two ways, each in a fresh
process, alternating for `--rounds` rounds (order reversed every round):

  * `plain`: the `__call__` and spec the recipes wrote before the controls;
  * `controls`: as the recipes write it now: `writer.tunable_call` (BERT:
    `dropout_rate`, `attention_dropout_rate`; ResNet: `batch_norm_momentum`)
    and `writer.add_variable_groups`.

Reports `writer.write` seconds (tracing + saving, measured inside the
process, so start-up and model building are not in it; median of the
rounds) and `saved_model.pb` bytes (deterministic), their ratio and the
+10% budget; and, once, the seconds the checker's new fine-tuning checks take
on the `controls` export (`checker/finetune.py`, in the export's
verification, on the recipe's verification inputs). BERT: encoder + `.mlm` (as `bert_export.py` writes it);
ResNet-50: Model Garden's vision ResNet-50, feature vector + classifier.
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # pylint: disable=g-import-not-at-top

BUDGET = 1.10


def _load(script):
  import importlib.util  # pylint: disable=g-import-not-at-top
  path = os.path.join(common.ROOT, 'export_scripts', script)
  spec = importlib.util.spec_from_file_location(script[:-3], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _bert(variant, out, layers, hidden):
  """Writes BERT's encoder (+ .mlm); returns {name: write seconds}."""
  from official.hub_export import bert_family, writer  # pylint: disable=g-import-not-at-top
  bert_export = _load('bert_export.py')
  cfg = bert_export.bert_architecture(
      vocab_size=30522, hidden_size=hidden, num_layers=layers,
      num_attention_heads=max(1, hidden // 64), intermediate_size=4 * hidden)
  # Random weights (the fine-tuning checks need outputs that vary).
  with writer.no_autograph():
    encoder, pretrainer = bert_export.build(cfg)

  def call(inputs, training=False):
    out = bert_family.encoder_outputs(encoder(inputs, training=training))
    out['default'] = out['pooled_output']
    return out

  def mlm_call(inputs, training=False):
    o = pretrainer(inputs, training=training)
    return dict(bert_family.encoder_outputs(o), mlm_logits=o['mlm_logits'])

  spec = bert_family.ENCODER_WITH_MLM_SPEC
  if variant == 'controls':  # As bert_family.export_encoder_and_preprocessor.
    targets = bert_family.dropout_targets(encoder)
    call = writer.tunable_call(call, targets)
    mlm_call = writer.tunable_call(mlm_call, targets)
    spec = bert_family.with_dropout_tunables(spec, targets)
  mlm = writer.from_keras(pretrainer, call=mlm_call)
  obj = writer.from_keras(encoder, call=call, track={'mlm': mlm})
  if variant == 'controls':
    groups = bert_family.encoder_groups(encoder)
    in_encoder = {id(v) for v in encoder.variables}
    writer.add_variable_groups(mlm, groups + [(
        'mlm_head', [v for v in pretrainer.variables
                     if id(v) not in in_encoder])])
    writer.add_variable_groups(obj, groups)
  t = time.perf_counter()
  writer.write(obj, os.path.join(out, 'encoder'), spec)
  return {'encoder': time.perf_counter() - t}, {'encoder': spec}


def _resnet(variant, out):
  """Writes ResNet-50's feature vector and classifier."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  from official.hub_export import image_models, spec as spec_lib, writer  # pylint: disable=g-import-not-at-top,g-multiple-import
  resnet_export = _load('resnet_export.py')
  with writer.no_autograph():
    source = resnet_export.vision_resnet(
        depth=50, num_classes=1001, input_mean=[0.485, 0.456, 0.406],
        input_std=[0.229, 0.224, 0.225])
  model = source.model
  dense = image_models.final_dense(model)
  parts = {'feature_vector': image_models.cut_features(model, None),
           'classification': dense.output}
  normalize = image_models.normalizer(source)
  seconds, specs = {}, {}
  for name, part in parts.items():
    sub = tf_keras.Model(model.inputs, part)
    call = image_models._call(sub, normalize)  # pylint: disable=protected-access
    spec = image_models.EXPORTS[name]
    if variant == 'controls':  # As image_models.export_classifier.
      targets = image_models.batch_norm_targets(sub)
      call = writer.tunable_call(call, targets)
      spec = dataclasses.replace(spec, variable_groups=True, tunables={
          n: spec_lib.Tunable(float(getattr(*p[0])),
                              image_models.BATCH_NORM_MOMENTUM,
                              'batch_norm_momentum')
          for n, p in targets.items()})
    obj = writer.from_keras(sub, call=call)
    if variant == 'controls':
      writer.add_variable_groups(obj, image_models.stage_groups(sub))
    t = time.perf_counter()
    writer.write(obj, os.path.join(out, name), spec)
    seconds[name] = time.perf_counter() - t
    specs[name] = spec
  return seconds, specs


def _check_seconds(path, spec, case):
  """Seconds of the checker's fine-tuning checks on one export."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  from official.hub_export.checker import finetune, report  # pylint: disable=g-import-not-at-top,g-multiple-import
  obj = hub.load(path)
  # The verification's own sample inputs (the recipes' shape sweeps).
  if case == 'bert':
    from official.hub_export import bert_family  # pylint: disable=g-import-not-at-top
    samples = bert_family.encoder_cases(30522, with_mlm=False)
  else:
    from official.hub_export import image_models  # pylint: disable=g-import-not-at-top
    samples = image_models.sample_cases(224)
  cases = [{'inputs': tf.nest.map_structure(tf.constant, c.inputs),
            'kwargs': {}, 'target': ''} for c in samples]
  spec_json = spec.to_json()
  # The checks before these in verification have run both traces already.
  for training in (False, True):
    obj(cases[0]['inputs'], training=training)
  r = report.Report()
  t = time.perf_counter()
  finetune.check_tunables(r, path, obj, spec_json, cases)
  finetune.check_keras_layer_arguments(r, obj, spec_json, cases)
  finetune.check_variable_groups(r, obj, 'root', spec_json)
  seconds = time.perf_counter() - t
  failed = [c['name'] for c in r.checks if c['status'] == report.FAIL]
  if failed:
    raise RuntimeError(f'fine-tuning checks failed: {failed}')
  return seconds


def child(args):
  out = args.out
  if args.one == 'bert':
    seconds, specs = _bert(args.variant, out, args.bert_layers,
                           args.bert_hidden)
  else:
    seconds, specs = _resnet(args.variant, out)
  result = {'write_s': seconds, 'pb_bytes': {
      n: os.path.getsize(os.path.join(out, n, 'saved_model.pb'))
      for n in seconds}}
  if args.check:
    result['check_s'] = {n: _check_seconds(os.path.join(out, n), specs[n],
                                           args.one) for n in seconds}
  print('RESULT ' + json.dumps(result), flush=True)


def compare(case, workdir, rounds, bert_layers=12, bert_hidden=768):
  """Runs the A/B; returns (title, markdown table)."""
  os.makedirs(workdir, exist_ok=True)

  def run(variant):
    def go(i):
      out = os.path.join(workdir, f'{variant}_{i}')
      shutil.rmtree(out, ignore_errors=True)
      os.makedirs(out)
      cmd = [common.PY, os.path.abspath(__file__), f'--one={case}',
             f'--variant={variant}', f'--out={out}',
             f'--bert_layers={bert_layers}', f'--bert_hidden={bert_hidden}']
      if variant == 'controls' and i == 0:
        cmd.append('--check')
      r = common.timed(cmd, os.path.join(workdir, f'{variant}_{i}.log'))
      shutil.rmtree(out, ignore_errors=True)
      return json.loads(r.stdout.split('RESULT ', 1)[1].splitlines()[0])
    return go

  runs = common.interleaved({'controls': run('controls'),
                             'plain': run('plain')}, rounds)
  lines = ['| export | metric | with controls | without | ratio | budget |',
           '| --- | --- | --- | --- | --- | --- |']
  for name in runs['plain'][0]['write_s']:
    for metric, key, fmt in (('writer.write (s, median of '
                              f'{rounds})', 'write_s', '{:.2f}'),
                             ('saved_model.pb (bytes)', 'pb_bytes', '{:,}')):
      a = statistics.median(r[key][name] for r in runs['controls'])
      b = statistics.median(r[key][name] for r in runs['plain'])
      ratio = a / b
      verdict = ('met' if ratio <= BUDGET else 'MISSED') + f' (<= {BUDGET}x)'
      lines.append(f'| {name} | {metric} | {fmt.format(a)} | '
                   f'{fmt.format(b)} | {ratio:.3f}x | {verdict} |')
    check = runs['controls'][0].get('check_s', {}).get(name)
    if check is not None:
      lines.append(f'| {name} | fine-tuning checks in verification (s) | '
                   f'{check:.2f} | — | | |')
  per_round = '; '.join(
      f'{v}: ' + ', '.join(f'{sum(r["write_s"].values()):.2f}'
                           for r in runs[v]) for v in runs)
  title = ('BERT-base encoder + .mlm' if case == 'bert' and bert_layers == 12
           and bert_hidden == 768 else
           f'BERT L-{bert_layers}/H-{bert_hidden} encoder + .mlm'
           if case == 'bert' else 'ResNet-50 (vision) feature vector + '
           'classifier')
  return title, '\n'.join(lines) + f'\n\nwriter.write seconds per round ' \
      f'(sum over exports): {per_round}'


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--cases', default='bert,resnet')
  p.add_argument('--rounds', type=int, default=3)
  p.add_argument('--bert_layers', type=int, default=12)
  p.add_argument('--bert_hidden', type=int, default=768)
  p.add_argument('--one', choices=('bert', 'resnet'), help=argparse.SUPPRESS)
  p.add_argument('--variant', choices=('plain', 'controls'),
                 help=argparse.SUPPRESS)
  p.add_argument('--out', help=argparse.SUPPRESS)
  p.add_argument('--check', action='store_true', help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.one:
    sys.path.insert(0, common.ROOT)
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
    child(args)
    return
  load_start = os.getloadavg()
  workdir = tempfile.mkdtemp(prefix='hub_export_tunables_')
  try:
    for case in args.cases.split(','):
      title, text = compare(case, os.path.join(workdir, case), args.rounds,
                            args.bert_layers, args.bert_hidden)
      print(f'\n### {title}\n\n{text}', flush=True)
  finally:
    shutil.rmtree(workdir, ignore_errors=True)
  print('\nload average (1/5/15 min) at start: '
        + ' / '.join(f'{x:.2f}' for x in load_start) + '; at end: '
        + ' / '.join(f'{x:.2f}' for x in os.getloadavg())
        + f'; {os.cpu_count()} cores', flush=True)


if __name__ == '__main__':
  main()

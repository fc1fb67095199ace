r"""Our export recipes vs Model Garden's exporters, side by side, in one run.

    .venv/bin/python benchmarks/run.py                  # BERT L-4/H-256 and
                                                        # BERT-base, ResNet-50
    .venv/bin/python benchmarks/run.py --sizes          # + export time/memory
                                                        # per BERT size
    .venv/bin/python benchmarks/run.py --cases=bert --bert_sizes=L-2/H-128 \
        --quick --noverified --out=                     # smoke run (~1 min)

Generates the checkpoints (random weights, saved the way Model Garden's
trainers save them, optimizer slots included), runs every export in its own
process as a user runs it (ours with `--noverify`, like for like since Model
Garden verifies nothing, and again verified, its cost a separate row), then
measures each SavedModel from fresh processes (cold `hub.load`,
`hub.KerasLayer` construction, inference latency, a fine-tuning step through
`hub.KerasLayer(trainable=True)`) and compares the two exports' outputs on the
same inputs. Prints one table per case with the ratio ours / theirs (lower is
better) and the targets met or missed, with the machine it ran on, and writes
the same to `--out` (benchmarks/RESULTS.md by default).

Per-recipe scripts (each also runs alone): benchmarks/bert.py,
benchmarks/resnet.py, benchmarks/keras3.py (KerasHub model: ours vs Keras 3's
own `model.export()`), and, not in the default `--cases`,
benchmarks/albert.py (`--cases=albert`, `--albert_size`: ALBERT vs Model
Garden's `export_tfhub`, through bert.py's comparison),
benchmarks/mobilenet.py (`--cases=mobilenet`, `--mobilenet_model`: vs Model
Garden's vision `export_tfhub`, through resnet.py's rows) and
benchmarks/text_embedding.py (`--cases=text_embedding`,
`--text_embedding_size`: export time and peak memory on a large generated
word-vector file, against the same export of a 1,000-row file);
benchmarks/tflite.py (`--cases=tflite`) measures the
TFLite variations against their SavedModel (size, latency on 1 and 2 threads,
accuracy of the quantized builds); benchmarks/writer_vs_keras_save.py (`--cases=...,writer`) compares
our SavedModel writer with Keras `model.save` on the same in-memory encoder;
benchmarks/tunables.py (`--cases=...,tunables`) the cost of the fine-tuning
controls (tunable dropout/batch-norm momentum, variable groups);
benchmarks/consumer_endpoints.py (`--cases=...,consumers`) what the writer's
consumer additions (Keras 3 endpoints, float16/bfloat16 traces) cost, A/B.
"""
import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import albert  # pylint: disable=g-import-not-at-top
import bert  # pylint: disable=g-import-not-at-top
import common  # pylint: disable=g-import-not-at-top
import keras3  # pylint: disable=g-import-not-at-top
import mobilenet  # pylint: disable=g-import-not-at-top
import resnet  # pylint: disable=g-import-not-at-top
import text_embedding  # pylint: disable=g-import-not-at-top
import tflite  # pylint: disable=g-import-not-at-top
import tunables  # pylint: disable=g-import-not-at-top

CASES = ('bert', 'resnet', 'keras', 'writer', 'tflite', 'tunables',
         'consumers', 'albert', 'mobilenet', 'text_embedding')


def parse_args(argv=None):
  p = argparse.ArgumentParser(
      description=__doc__.split('\n')[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--cases', default='bert,resnet,keras',
                 help=f'comma-separated, of {", ".join(CASES)} (empty: only '
                 '--sizes)')
  p.add_argument('--bert_sizes', default='L-4/H-256,L-12/H-768',
                 help='BERT sizes compared (each a TF Hub BERT size with a '
                 'config under configs/bert/)')
  p.add_argument('--keras_size', default='tiny', choices=sorted(keras3.SIZES),
                 help='the KerasHub ResNet of the keras case (ours vs Keras '
                 '3 model.export())')
  p.add_argument('--albert_size', default='base',
                 choices=sorted(albert.SIZES),
                 help='the ALBERT of the albert case (tiny: for --quick '
                 'smoke runs only)')
  p.add_argument('--mobilenet_model', default='mobilenet_v2_100_224',
                 choices=mobilenet.MODELS,
                 help='the MobileNet of the mobilenet case (a configs/'
                 'mobilenet/ config)')
  p.add_argument('--text_embedding_size', default='200000x300',
                 help='ROWSxDIM of the generated word-vector file of the '
                 'text_embedding case')
  p.add_argument('--tflite_models', default=tflite.DEFAULT_MODELS,
                 help='models of the tflite case (TFLite variations vs their '
                 'SavedModel): bert:L-<n>/H-<n> and/or resnet50')
  p.add_argument('--sizes', nargs='?', const=','.join(bert.SWEEP),
                 default=None, help='also tabulate export time and peak '
                 'memory per BERT size (default list: '
                 f'{",".join(bert.SWEEP)})')
  p.add_argument('--repeats', type=int, default=3,
                 help='fresh processes per cold hub.load / KerasLayer time '
                 '(the median is reported)')
  p.add_argument('--rounds', type=int, default=2,
                 help='interleaved rounds of the like-for-like exports (ours '
                 '--noverify, theirs), the median reported (of 2, the faster '
                 'of each)')
  p.add_argument('--quick', action='store_true',
                 help='small inputs, one process per SavedModel for all '
                 'consumer measurements (load stays cold, KerasLayer does '
                 'not): a smoke run, not numbers to quote')
  p.add_argument('--noverified', action='store_true',
                 help='skip the verified run of our recipes')
  p.add_argument('--nolegacy', action='store_true',
                 help='skip the legacy ResNet tfhub_export comparison')
  p.add_argument('--workdir', default=None,
                 help='keep checkpoints, exports and logs here (default: a '
                 'temporary directory, removed at the end)')
  p.add_argument('--out', default=os.path.join(common.HERE, 'RESULTS.md'),
                 help='markdown file to write (empty: print only)')
  p.add_argument('--append', action='store_true',
                 help='append this run (with its own header) to --out '
                 'instead of replacing it')
  args = p.parse_args(argv)
  args.cases = [c for c in args.cases.split(',') if c]
  bad = [c for c in args.cases if c not in CASES]
  if bad:
    p.error(f'unknown case(s) {bad}: choose from {CASES}')
  try:
    text_embedding.parse_size(args.text_embedding_size)
  except ValueError:
    p.error(f'--text_embedding_size={args.text_embedding_size}: want '
            'ROWSxDIM, e.g. 200000x300')
  args.bert_sizes = [s for s in args.bert_sizes.split(',') if s]
  for s in args.bert_sizes + (args.sizes.split(',') if args.sizes else []):
    try:
      bert.config_for(s)
    except ValueError as e:
      p.error(f'size {s}: {e}')
  return args


def machine_lines(m, load_start, load_end):
  v = ', '.join(f'{k} {x}' for k, x in m['versions'].items())
  return [
      f'- machine: {m["cores"]} cores ({m["cpu"]}), {m["memory"]} memory, '
      f'{m["platform"]}, CPU only',
      f'- Python {m["python"]}; {v}',
      '- load average (1/5/15 min) at start: '
      + ' / '.join(f'{x:.2f}' for x in load_start) + '; at end: '
      + ' / '.join(f'{x:.2f}' for x in load_end),
  ]


def targets(sections):
  lines = []
  for title, rows, *_ in sections:
    for r in rows:
      if r.verdict:
        measured = (f'{r.ratio:.2f}x' if r.absolute_target is None
                    else r.fmt.format(r.ours))
        lines.append(f'- {title.split(" (")[0]}: {r.metric}: {measured} — '
                     f'{r.verdict}')
  return lines


def main(argv=None):
  args = parse_args(argv)
  started = datetime.datetime.now(datetime.timezone.utc)
  load_start = os.getloadavg()
  t0 = time.perf_counter()
  keep = bool(args.workdir)
  workdir = args.workdir or tempfile.mkdtemp(prefix='hub_export_bench_')
  os.makedirs(workdir, exist_ok=True)
  repeats = 1 if args.quick else args.repeats
  rounds = 1 if args.quick else args.rounds
  sections, extra = [], []
  try:
    if 'bert' in args.cases:
      for size in args.bert_sizes:
        print(f'[bert {size}] ...', file=sys.stderr, flush=True)
        title, rows, _ = bert.compare(
            size, os.path.join(workdir, 'bert_' + size.replace('/', '_')),
            repeats, args.quick, not args.noverified, rounds)
        sections.append((title, rows))
        print(f'\n## {title}\n\n{common.table(rows)}', flush=True)
    if 'resnet' in args.cases:
      print('[resnet-50] ...', file=sys.stderr, flush=True)
      for title, rows, _ in resnet.compare(
          os.path.join(workdir, 'resnet'), repeats, args.quick,
          not args.noverified, not args.nolegacy, rounds):
        sections.append((title, rows))
        print(f'\n## {title}\n\n{common.table(rows)}', flush=True)
    if 'keras' in args.cases:
      print(f'[keras {args.keras_size}] ...', file=sys.stderr, flush=True)
      for title, rows, _ in keras3.compare(
          os.path.join(workdir, 'keras'), repeats, args.quick,
          not args.noverified, rounds, size=args.keras_size):
        sections.append((title, rows, keras3.THEIRS))
        print(f'\n## {title}\n\n{common.table(rows, keras3.THEIRS)}',
              flush=True)
    if 'albert' in args.cases:
      print(f'[albert {args.albert_size}] ...', file=sys.stderr, flush=True)
      title, rows, _ = albert.compare(
          args.albert_size, os.path.join(workdir, 'albert'), repeats,
          args.quick, not args.noverified, rounds)
      sections.append((title, rows))
      print(f'\n## {title}\n\n{common.table(rows)}', flush=True)
    if 'mobilenet' in args.cases:
      print(f'[{args.mobilenet_model}] ...', file=sys.stderr, flush=True)
      title, rows, _ = mobilenet.compare(
          args.mobilenet_model, os.path.join(workdir, 'mobilenet'), repeats,
          args.quick, not args.noverified, rounds)
      sections.append((title, rows))
      print(f'\n## {title}\n\n{common.table(rows)}', flush=True)
    if 'text_embedding' in args.cases:
      print(f'[text_embedding {args.text_embedding_size}] ...',
            file=sys.stderr, flush=True)
      title, rows, _ = text_embedding.measure(
          args.text_embedding_size, os.path.join(workdir, 'text_embedding'),
          not args.noverified, rounds=rounds)
      sections.append((title, rows, text_embedding.THEIRS))
      print(f'\n## {title}\n\n{common.table(rows, text_embedding.THEIRS)}',
            flush=True)
    if 'writer' in args.cases:
      print('[writer vs keras save] ...', file=sys.stderr, flush=True)
      size = ([] if not args.quick else ['--layers=2', '--hidden=128'])
      out = subprocess.run(
          [common.PY, os.path.join(common.HERE, 'writer_vs_keras_save.py')]
          + size, env=common.env(), capture_output=True, text=True,
          check=True, cwd=common.ROOT).stdout.strip()
      extra.append(('Our writer vs Keras `model.save()` on the same in-memory '
                    'BERT encoder (`benchmarks/writer_vs_keras_save.py`)',
                    '```\n' + out + '\n```'))
      print('\n' + out, flush=True)
    if 'tflite' in args.cases:
      for model in [m for m in args.tflite_models.split(',') if m]:
        print(f'[tflite {model}] ...', file=sys.stderr, flush=True)
        title, text, _ = tflite.measure(model, os.path.join(
            workdir, 'tflite_' + model.replace(':', '_').replace('/', '_')),
                                         args.quick)
        extra.append((f'TFLite variations: {title} (`benchmarks/tflite.py`)',
                      text))
        print(f'\n## TFLite: {title}\n\n{text}', flush=True)
    if 'tunables' in args.cases:
      print('[fine-tuning controls] ...', file=sys.stderr, flush=True)
      for case in ('bert', 'resnet'):
        title, text = tunables.compare(
            case, os.path.join(workdir, 'tunables_' + case), rounds)
        extra.append((f'Fine-tuning controls: {title}, with vs without '
                      '(`benchmarks/tunables.py`)', text))
        print(f'\n{title}\n{text}', flush=True)
    if 'consumers' in args.cases:
      print('[consumer endpoints A/B] ...', file=sys.stderr, flush=True)
      out = subprocess.run(
          [common.PY, os.path.join(common.HERE, 'consumer_endpoints.py'),
           f'--rounds={max(2, rounds)}'] + (['--quick'] if args.quick
                                            else []),
          env=common.env(), capture_output=True, text=True, check=True,
          cwd=common.ROOT).stdout.strip()
      extra.append(('Cost of the consumer additions: Keras 3 endpoints and '
                    'half-float traces, A/B (`benchmarks/'
                    'consumer_endpoints.py`)', out))
      print('\n' + out, flush=True)
    if args.sizes:
      print('[bert sizes] ...', file=sys.stderr, flush=True)
      sweep = bert.sweep(args.sizes.split(','), os.path.join(workdir, 'sizes'))
      text = bert.sweep_table(sweep)
      extra.append(('Export time and peak memory by BERT size (`--sizes`)',
                    text + '\n\nEach export in its own process, as a user '
                    'runs it (wall time and peak memory of the process and '
                    'the processes it starts, together, as PSS; Python and '
                    'TensorFlow start-up included); ours writes encoder + '
                    '`.mlm` + preprocessor, unverified (`--noverify`) and '
                    'verified (the default), Model Garden\'s '
                    '`model_with_mlm` writes the encoder + MLM only and '
                    'verifies nothing. '
                    'Checkpoints are generated as for the comparisons.'))
      print('\n' + text, flush=True)
  finally:
    if not keep:
      shutil.rmtree(workdir, ignore_errors=True)
  m = common.machine()
  load_end = os.getloadavg()
  cmd = ' '.join(['.venv/bin/python', 'benchmarks/run.py']
                 + (sys.argv[1:] if argv is None else list(argv)))
  target_lines = targets(sections)
  head = [
      '# Benchmarks: our export recipes vs Model Garden\'s exporters', '',
      f'Run {started:%Y-%m-%d %H:%M} UTC, {time.perf_counter() - t0:.0f} s in '
      'all, with', '', '```sh', cmd, '```', '',
      *machine_lines(m, load_start, load_end),
      '- every export ran in its own process as a user runs it: wall time and '
      'peak memory of that process and every process it starts, together '
      '(sum of their PSS, sampled every 0.2 s; our verified run includes '
      'its verification processes), Python/TensorFlow start-up included; '
      'ours with '
      '`--noverify` is the like-for-like row (Model Garden verifies nothing)',
      '- consumer side from fresh processes: cold `hub.load` and '
      '`hub.KerasLayer` construction (median of '
      f'{repeats} process(es) each); then ours and theirs loaded in one '
      'process: inference latency (median of repeated calls after 2 warm-up '
      'calls), one fine-tuning step (`train_on_batch` of a tf_keras model '
      '`hub.KerasLayer(trainable=True)` + Dense, Adam; median of the steps '
      'after the first), outputs on the same inputs',
      '- ratio = ours / theirs: below 1 means ours is smaller or faster',
      '- the machine is shared (other engineers\' jobs run beside this one; '
      'see the load averages above), so ours and theirs run interleaved per '
      'metric: the like-for-like exports alternate ours / theirs for '
      f'{rounds} round(s) (order reversed each round; the median round is '
      'reported, of 2 the faster of each), the cold-process probes alternate '
      'ours / theirs (order reversed each repeat), and inference calls and '
      'fine-tuning steps alternate ours / theirs call by call in one process; '
      'wall times still carry some noise, sizes and outputs do not',
  ]
  if args.quick:
    head.append('- **--quick**: small inputs and one process per SavedModel; '
                'a smoke run, not numbers to quote')
  body = []
  for title, rows, *theirs in sections:
    body += ['', f'## {title}', '', common.table(rows, *theirs)]
  for title, text in extra:
    body += ['', f'## {title}', '', text]
  if target_lines:
    body += ['', '## Targets', '', *target_lines]
  report = '\n'.join(head + body) + '\n'
  print('\n' + '\n'.join(machine_lines(m, load_start, load_end)))
  if target_lines:
    print('\nTargets:\n' + '\n'.join(target_lines))
  if args.out:
    with open(args.out, 'a' if args.append else 'w') as f:
      f.write(('\n' + report.replace('# ', '## ', 1)) if args.append
              else report)
    print(f'\nwrote {args.out}')
  return 0


if __name__ == '__main__':
  sys.exit(main())

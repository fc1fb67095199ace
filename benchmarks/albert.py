r"""ALBERT: `export_scripts/albert_export.py` vs Model Garden's `export_tfhub`.

    .venv/bin/python benchmarks/albert.py [--size=base] [--quick]

(`benchmarks/run.py --cases=albert` runs this with the other cases.)

The BERT comparison (`bert.compare`: the same interleaved exports, consumer
measurements, rows and cross-check of the outputs) on ALBERT, in one run on
one checkpoint: a random ALBERT (`--size`: `base`, albert_en_base, vocabulary
30000, E=128, H=768, L=12 with one shared block; `large`; `tiny`,
configs/albert/tiny.gin, for smoke runs with `--quick`) `AlbertEncoder` in a
`BertPretrainerV2` with its masked-LM head, built from
`EncoderConfig(type='albert')` (tests/testdata/albert/make_checkpoint.py's
`build`) and written as Model Garden's trainer writes it,
`tf.train.Checkpoint(global_step, model=pretrainer, optimizer=Adam,
**pretrainer.checkpoint_items).save(...)`, Adam slots included; a
SentencePiece model of `vocab_size` word pieces over a synthetic corpus with
ALBERT's special tokens; the same model as Model Garden's
`encoder_config.yaml`. Then, each in its own process:

  ours:   export_scripts/albert_export.py --gin_file=configs/albert/...gin
          --checkpoint_path=CKPT --sp_model_file=sp.model --export_dir=OUT
          (encoder + .mlm + preprocessor), with --noverify and verified;
  theirs: python -m official.nlp.tools.export_tfhub --export_type=model_with_mlm
          --encoder_config_file=encoder_config.yaml --model_checkpoint_path=CKPT
          --sp_model_file=sp.model, and --export_type=preprocessing.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert  # pylint: disable=g-import-not-at-top
import common  # pylint: disable=g-import-not-at-top

_BASE = dict(vocab_size=30000, embedding_width=128, max_position_embeddings=512,
             dropout_rate=0.0, attention_dropout_rate=0.0)
# size: (our config, the architecture (Model Garden's AlbertEncoderConfig),
# the preprocessor's sequence length).
SIZES = {
    'tiny': ('configs/albert/tiny.gin', dict(
        _BASE, vocab_size=100, embedding_width=16, hidden_size=32,
        num_layers=3, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=64), 16),
    'base': ('configs/albert/albert_en_base.gin', dict(
        _BASE, hidden_size=768, num_layers=12, num_attention_heads=12,
        intermediate_size=3072), 128),
    'large': ('configs/albert/albert_en_large.gin', dict(
        _BASE, hidden_size=1024, num_layers=24, num_attention_heads=16,
        intermediate_size=4096), 128),
}

MAKE_CHECKPOINT = r'''
import importlib.util, io, json, os, string, sys
os.environ['TF_USE_LEGACY_KERAS'] = '1'
os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'
import numpy as np, sentencepiece as spm, tensorflow as tf, tf_keras
out, arch, make = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
spec = importlib.util.spec_from_file_location('albert_make_checkpoint', make)
mc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mc)
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, 'encoder_config.yaml'), 'w') as f:
  json.dump({'type': 'albert', 'albert': arch}, f)  # JSON is YAML.
encoder, pretrainer = mc.build(mc.encoder_config(**arch))
opt = tf_keras.optimizers.legacy.Adam(1e-4)
opt.apply_gradients([(tf.zeros_like(v), v) for v in pretrainer.trainable_variables])
prefix = tf.train.Checkpoint(
    global_step=tf.Variable(1, dtype=tf.int64), model=pretrainer,
    optimizer=opt, **pretrainer.checkpoint_items).save(
        os.path.join(out, 'ckpt', 'ckpt'))
n = arch['vocab_size']
rng = np.random.RandomState(0)
letters = np.array(list(string.ascii_lowercase))
words = sorted({''.join(rng.choice(letters, rng.randint(3, 9)))
                for _ in range(n * 4 // 3)})
words = mc.WORDS + [w for w in words if w not in mc.WORDS]
corpus = [' '.join(rng.choice(words, 12)) for _ in range(n)] + words
model = io.BytesIO()
spm.SentencePieceTrainer.train(
    sentence_iterator=iter(corpus), model_writer=model, vocab_size=n,
    pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, model_type='word',
    user_defined_symbols=['[CLS]', '[SEP]', '[MASK]'], minloglevel=2)
with open(os.path.join(out, 'sp.model'), 'wb') as f:
  f.write(model.getvalue())
print('CKPT ' + json.dumps(dict(
    prefix=prefix,
    parameters=int(sum(int(tf.size(v)) for v in pretrainer.variables)),
    encoder_parameters=int(sum(int(tf.size(v)) for v in encoder.variables)))))
'''


def make_checkpoint(size, workdir):
  data = os.path.join(workdir, 'data')
  shutil.rmtree(data, ignore_errors=True)
  r = common.timed(
      [common.PY, '-c', MAKE_CHECKPOINT, data, json.dumps(SIZES[size][1]),
       os.path.join(common.ROOT, 'tests', 'testdata', 'albert',
                    'make_checkpoint.py')],
      os.path.join(workdir, 'make_checkpoint.log'), cwd=workdir)
  info = json.loads(r.stdout.split('CKPT ', 1)[1].splitlines()[0])
  ckdir = os.path.join(data, 'ckpt')
  info.update(
      size=size, sp_model=os.path.join(data, 'sp.model'),
      encoder_config=os.path.join(data, 'encoder_config.yaml'),
      checkpoint_bytes=sum(os.path.getsize(os.path.join(ckdir, f))
                           for f in os.listdir(ckdir)),
      seconds=r.wall_s)
  return info


def ours_cmd(size, ck, out, verify):
  return ([common.PY, os.path.join(common.ROOT, 'export_scripts',
                                   'albert_export.py'),
           f'--gin_file={SIZES[size][0]}', f'--checkpoint_path={ck["prefix"]}',
           f'--sp_model_file={ck["sp_model"]}', f'--export_dir={out}']
          + ([] if verify else ['--noverify']))


def theirs_cmd(ck, out, export_type):
  cmd = [common.PY, '-m', 'official.nlp.tools.export_tfhub',
         f'--export_type={export_type}', f'--sp_model_file={ck["sp_model"]}',
         f'--export_path={out}']
  if export_type == 'preprocessing':
    return cmd + [f'--default_seq_length={SIZES[ck["size"]][2]}']
  return cmd + [f'--encoder_config_file={ck["encoder_config"]}',
                f'--model_checkpoint_path={ck["prefix"]}']


def compare(size, workdir, repeats=3, quick=False, verified=True, rounds=1):
  """`bert.compare` with ALBERT's checkpoint and exporters; returns (title,
  rows, details)."""
  return bert.compare(size, workdir, repeats, quick, verified, rounds,
                      family=bert.Family('ALBERT', make_checkpoint, ours_cmd,
                                         theirs_cmd,
                                         SIZES[size][1]['vocab_size']))


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--size', default='base', choices=sorted(SIZES))
  p.add_argument('--workdir', default=None)
  p.add_argument('--quick', action='store_true')
  p.add_argument('--noverified', action='store_true',
                 help='skip the verified run of ours')
  args = p.parse_args()
  workdir = args.workdir or tempfile.mkdtemp(prefix='bench_albert_')
  title, rows, _ = compare(args.size, workdir, 1 if args.quick else 3,
                           args.quick, not args.noverified)
  print(title)
  print(common.table(rows))


if __name__ == '__main__':
  main()

r"""Our reusable writer vs Keras `model.save()` on the same Keras model.

Prints export time (model built in a fresh process for each, only the save
timed), `saved_model.pb` size and cold `hub.load` time (each in a fresh
process) for a Model Garden BERT encoder with random weights.

    .venv/bin/python benchmarks/writer_vs_keras_save.py [--layers=12 --hidden=768]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

LOAD = r'''
import os, sys, time, json
os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'
import tensorflow as tf, tensorflow_hub as hub
t = time.perf_counter(); hub.load(sys.argv[1]); load = time.perf_counter() - t
print(json.dumps({'load': load}))
'''


def build(args):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from official.nlp.modeling import networks  # pylint: disable=g-import-not-at-top
  encoder = networks.BertEncoderV2(
      vocab_size=args.vocab, hidden_size=args.hidden, num_layers=args.layers,
      num_attention_heads=max(1, args.hidden // 64),
      inner_dim=4 * args.hidden, max_sequence_length=512)
  ids = tf.ones([1, 8], tf.int32)
  encoder({'input_word_ids': ids, 'input_mask': ids,
           'input_type_ids': tf.zeros_like(ids)})
  return encoder


def export_ours(encoder, path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from official.hub_export import spec, writer  # pylint: disable=g-import-not-at-top
  ids = tf.TensorSpec([None, None], tf.int32)
  s = spec.ExportSpec(
      inputs={'input_word_ids': ids, 'input_mask': ids, 'input_type_ids': ids},
      outputs={'sequence_output': spec.Output(), 'pooled_output': spec.Output(),
               'encoder_outputs': spec.Output()})
  def call(inputs, training=False):
    out = encoder(inputs, training=training)
    return {k: out[k] for k in ('sequence_output', 'pooled_output',
                                'encoder_outputs')}
  writer.write(writer.from_keras(encoder, call=call), path, s)


def export_keras(encoder, path):
  import tf_keras  # pylint: disable=g-import-not-at-top
  ids = {k: tf_keras.Input([None], dtype='int32', name=k)
         for k in ('input_word_ids', 'input_mask', 'input_type_ids')}
  model = tf_keras.Model(ids, encoder(ids))
  model.save(path, include_optimizer=False, save_format='tf')


def main():
  p = argparse.ArgumentParser()
  p.add_argument('--layers', type=int, default=12)
  p.add_argument('--hidden', type=int, default=768)
  p.add_argument('--vocab', type=int, default=30522)
  p.add_argument('--only', choices=['ours', 'keras'], help=argparse.SUPPRESS)
  p.add_argument('--path', help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.only:  # One export in this (fresh) process; print its time.
    encoder = build(args)
    t = time.perf_counter()
    (export_ours if args.only == 'ours' else export_keras)(encoder, args.path)
    print(json.dumps({'seconds': time.perf_counter() - t}))
    return
  tmp = tempfile.mkdtemp()
  rows = {}
  try:
    for name, only in (('ours (writer.from_keras)', 'ours'),
                       ('Keras model.save()', 'keras')):
      path = os.path.join(tmp, only)
      out = subprocess.run(
          [sys.executable, __file__, f'--layers={args.layers}',
           f'--hidden={args.hidden}', f'--vocab={args.vocab}',
           f'--only={only}', f'--path={path}'],
          capture_output=True, text=True, check=True)
      seconds = json.loads(out.stdout.strip().splitlines()[-1])['seconds']
      pb = os.path.getsize(os.path.join(path, 'saved_model.pb'))
      out = subprocess.run([sys.executable, '-c', LOAD, path],
                           capture_output=True, text=True, check=True)
      load = json.loads(out.stdout.strip().splitlines()[-1])['load']
      rows[name] = (seconds, pb, load)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  print(f'BERT encoder L-{args.layers}/H-{args.hidden}, vocab {args.vocab}; '
        f'{os.cpu_count()} cores')
  print(f'{"":28s} {"export s":>9s} {"saved_model.pb":>15s} {"hub.load s":>11s}')
  for name, (s, pb, load) in rows.items():
    print(f'{name:28s} {s:9.1f} {pb / 1e6:12.2f} MB {load:11.2f}')
  (s0, pb0, l0), (s1, pb1, l1) = rows.values()
  print(f'{"ratio Keras / ours":28s} {s1 / s0:8.1f}x {pb1 / pb0:14.1f}x '
        f'{l1 / l0:10.1f}x')


if __name__ == '__main__':
  main()

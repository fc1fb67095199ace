r"""Consumer-side measurements of SavedModels, in a fresh process.

    python benchmarks/probe.py load|keraslayer SAVED_MODEL 'OPTS_JSON'
    python benchmarks/probe.py run '{"models": [...], "timing": {...}}'

Run by the benchmark scripts as a user's program would (nothing of this
repository is imported; run from a neutral directory). Modes:

  load        cold `hub.load` time (one process per measurement);
  keraslayer  cold `hub.KerasLayer(...)` construction time (trainable=True
              for models that are fine-tuned, else frozen);
  run         several SavedModels (ours and Model Garden's) in one process:
              loads each, raw parameter bytes (sum over `obj.variables`),
              outputs on fixed inputs (written to each model's npz for the
              cross-check), then inference latency (median of repeated calls
              at fixed sizes after 2 warm-up calls, the models' calls
              interleaved so that other jobs on the machine slow both alike),
              then one fine-tuning step through `hub.KerasLayer(trainable=True)`
              in a tf_keras model per model (the first step, which traces,
              then the median of further steps, interleaved: `steps` of
              them, more (up to 10) within `budget_s`). With
              "timing": {"keraslayer": true} (--quick) it also times a
              KerasLayer construction (not cold).

OPTS (per model): {"kind": "bert_encoder" | "bert_preprocessor" | "image",
"batch": 8, "seq_length": 128, "vocab_size": 30522, "image_size": 224,
"mean": [...], "std": [...] (inputs normalized by hand before the call, for
Model Garden's vision export), "finetune": true, "softmax": false (apply
softmax to the outputs written, to compare logits with a model that returns
probabilities), "endpoint": "serve" (an inference-only export, e.g. Keras
3's `model.export()`: call `obj.serve(x)`, and build KerasLayer from its
`serving_default` signature), "normalize_in_call": true (with "endpoint" and
"mean"/"std": normalize [0, 1] images inside the timed call)}. "timing": {"calls": 10, "budget_s": 20, "steps": 3}. Prints
one line `PROBE {json}`.
"""
import json
import os
import statistics
import sys
import time

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top
import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
import tf_keras  # pylint: disable=g-import-not-at-top

tf.get_logger().setLevel('ERROR')

WORDS = ('the quick brown fox jumps over lazy dog hello world a an is was of '
         'to and in it that for on with as at by this be are from').split()


def encoder_inputs(opts, vocab_size):
  rng = np.random.RandomState(0)
  b, s = opts['batch'], opts['seq_length']
  x = dict(input_word_ids=rng.randint(1, vocab_size, [b, s]).astype(np.int32),
           input_mask=np.ones([b, s], np.int32),
           input_type_ids=np.zeros([b, s], np.int32))
  x['input_mask'][1:, s * 3 // 4:] = 0  # Padded rows.
  x['input_type_ids'][:, s // 2:] = 1
  return x


def sentences(n):
  rng = np.random.RandomState(1)
  out = [' '.join(rng.choice(WORDS, rng.randint(3, 40))) for _ in range(n)]
  out[0] = 'The Quick, brown fox! Héllo wörld 日本 unknownword'
  if n > 2:
    out[1] = ''
  return tf.constant(out)


def images(opts):
  rng = np.random.RandomState(0)
  size = opts['image_size']
  x = rng.uniform(0, 1, [opts['batch'], size, size, 3]).astype(np.float32)
  if opts.get('mean'):
    x = (x - np.array(opts['mean'], np.float32)) / np.array(opts['std'],
                                                            np.float32)
  return x


def median_calls(fns, opts, warmup=2):
  """Median latency of each of `fns` ({name: fn}), calls interleaved.

  `warmup` calls each (first calls may trace or allocate), then rounds of
  one call per function, the order reversed every other round, so that load
  from other jobs on the machine hits every model alike. Stops after
  `calls` rounds, or after `budget_s` once `min_rounds` (3) rounds are done.
  Returns {name: (median seconds, number of calls)}.
  """
  names = list(fns)
  for n in names:
    for _ in range(warmup):
      fns[n]()
  times = {n: [] for n in names}
  start = time.perf_counter()
  rounds = 0
  while (rounds < opts.get('calls', 10) and
         (rounds < opts.get('min_rounds', 3) or
          time.perf_counter() - start < opts.get('budget_s', 20))):
    for n in (names if rounds % 2 == 0 else names[::-1]):
      t = time.perf_counter()
      fns[n]()
      times[n].append(time.perf_counter() - t)
    rounds += 1
  return {n: (statistics.median(v), len(v)) for n, v in times.items()}


def leaves(out, prefix=''):
  if isinstance(out, dict):
    for k in sorted(out):
      yield from leaves(out[k], f'{prefix}{k}' if not prefix else
                        f'{prefix}/{k}')
  elif isinstance(out, (list, tuple)):
    for i, v in enumerate(out):
      yield from leaves(v, f'{prefix}/{i}')
  else:
    yield prefix or 'output', np.asarray(out)


def inference(name, obj, opts, result, out_npz):
  """Outputs on fixed inputs (to OUT.npz); returns {metric: call} to time."""
  kind = opts['kind']
  result['raw_param_bytes'] = int(sum(
      v.shape.num_elements() * v.dtype.size for v in obj.variables))
  result['num_variables'] = len(obj.variables)
  outputs, calls = {}, {}
  if kind == 'bert_encoder':
    x = encoder_inputs(opts, int(opts['vocab_size']))
    calls['latency_s'] = lambda: obj(x, training=False)['pooled_output'].numpy()
    outputs.update(leaves(obj(x, training=False)))
    if hasattr(obj, 'mlm'):
      xm = dict(x, masked_lm_positions=np.tile(
          np.array([[1, 5, 9, 20]], np.int32) % opts['seq_length'],
          [opts['batch'], 1]))
      calls['mlm_latency_s'] = (
          lambda: obj.mlm(xm, training=False)['mlm_logits'].numpy())
      outputs['mlm_logits'] = obj.mlm(xm, training=False)['mlm_logits'].numpy()
  elif kind == 'bert_preprocessor':
    s = sentences(opts['batch'])
    calls['latency_s'] = lambda: obj(s)['input_word_ids'].numpy()
    outputs.update(leaves(obj(s)))
    pair = obj.bert_pack_inputs([obj.tokenize(s), obj.tokenize(s[::-1])],
                                seq_length=32)
    outputs.update(leaves(pair, 'pair'))
  else:
    x = images(opts)
    if opts.get('endpoint') and opts.get('normalize_in_call'):
      # An inference-only export (Keras 3 `serve`) without its
      # preprocessing: normalize [0, 1] images in the timed call, as its
      # user must (ours does it inside its graph).
      raw = tf.constant(images(dict(opts, mean=None)))
      mean = tf.constant(opts['mean'], tf.float32)
      std = tf.constant(opts['std'], tf.float32)
      call = lambda: getattr(obj, opts['endpoint'])((raw - mean) / std)
    elif opts.get('endpoint'):  # An inference-only export (Keras 3 `serve`).
      call = lambda: getattr(obj, opts['endpoint'])(x)
    else:
      call = lambda: obj(x, training=False)
    calls['latency_s'] = lambda: call().numpy()
    y = call().numpy()
    if opts.get('softmax'):
      y = tf.nn.softmax(y).numpy()
    outputs['output'] = y
  if out_npz:
    np.savez(out_npz, **{k.replace('/', '.'): v for k, v in outputs.items()})
  return {(name, k): fn for k, fn in calls.items()}


def finetune_model(path, opts, result):
  """A tf_keras model: hub.KerasLayer(trainable=True) + Dense, compiled with
  Adam; returns a function doing one train_on_batch step."""
  kind = opts['kind']
  tf_keras.utils.set_random_seed(0)
  layer = hub.KerasLayer(path, trainable=True)
  if kind == 'bert_encoder':
    x = encoder_inputs(opts, int(opts['vocab_size']))
    inputs = {k: tf_keras.Input([None], dtype=tf.int32, name=k) for k in x}
    features = layer(inputs)['pooled_output']
  else:
    x = images(opts)
    size = opts['image_size']
    inputs = tf_keras.Input([size, size, 3])
    features = layer(inputs)
  model = tf_keras.Model(inputs, tf_keras.layers.Dense(2)(features))
  model.compile(optimizer=tf_keras.optimizers.Adam(1e-5),
                loss=tf_keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True))
  y = np.arange(opts['batch']) % 2
  result['trainable_weights'] = len(layer.trainable_weights)
  return lambda: model.train_on_batch(x, y)


def run(models, timing_opts):
  """Measures several SavedModels in this one process, interleaved.

  models: [{"name", "path", "opts", "npz"}]. Loads each (its `load_s` is cold
  only for the first), writes its outputs, then times the inference calls of
  all models interleaved (`median_calls`), then builds each fine-tuning model
  (the first step, which traces, timed per model) and times the further
  steps interleaved. Returns {name: result}.
  """
  results, calls = {}, {}
  for m in models:
    r = results[m['name']] = {}
    t = time.perf_counter()
    obj = hub.load(m['path'])
    r['load_s'] = time.perf_counter() - t
    if timing_opts.get('keraslayer'):  # --quick: not cold.
      t = time.perf_counter()
      if m['opts'].get('endpoint'):
        hub.KerasLayer(m['path'], signature='serving_default',
                       signature_outputs_as_dict=True)
      else:
        hub.KerasLayer(m['path'], trainable=bool(m['opts'].get('finetune')))
      r['keraslayer_s'] = time.perf_counter() - t
    calls.update(inference(m['name'], obj, m['opts'], r, m.get('npz')))
  for (name, key), (median, n) in median_calls(calls, timing_opts).items():
    results[name][key] = median
    results[name][key.replace('_s', '_calls')] = n
  steps = {}
  for m in models:
    if m['opts'].get('finetune'):
      r = results[m['name']]
      step = finetune_model(m['path'], m['opts'], r)
      t = time.perf_counter()
      step()
      r['finetune_first_step_s'] = time.perf_counter() - t
      steps[(m['name'], 'finetune_step_s')] = step
  if steps:
    # At least `steps` rounds; more (up to 10) while within `budget_s`, so
    # that small models get enough steps for a stable median.
    opts = dict(calls=max(10, timing_opts.get('steps', 3)),
                min_rounds=timing_opts.get('steps', 3),
                budget_s=timing_opts.get('budget_s', 20))
    for (name, key), (median, n) in median_calls(steps, opts,
                                                 warmup=0).items():
      results[name][key] = median
      results[name]['finetune_steps'] = n
  return results


def main():
  mode = sys.argv[1]
  if mode == 'run':
    spec = json.loads(sys.argv[2])
    print('PROBE ' + json.dumps(run(spec['models'], spec['timing'])))
    return
  path, opts = sys.argv[2], json.loads(sys.argv[3])
  result = {}
  if mode == 'load':
    t = time.perf_counter()
    hub.load(path)
    result['load_s'] = time.perf_counter() - t
  elif mode == 'keraslayer':
    t = time.perf_counter()
    if opts.get('endpoint'):  # No __call__: only its serving signature.
      hub.KerasLayer(path, signature='serving_default',
                     signature_outputs_as_dict=True)
    else:
      hub.KerasLayer(path, trainable=bool(opts.get('finetune')))
    result['keraslayer_s'] = time.perf_counter() - t
  else:
    raise SystemExit(f'unknown mode {mode}')
  print('PROBE ' + json.dumps(result))


if __name__ == '__main__':
  main()

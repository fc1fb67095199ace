r"""TFLite variations of our verified exports: convert, verify, card, record.

    variations = tflite.write_variations(
        'OUT/encoder', builds=('float32', 'dynamic_range'))
    # OUT/encoder_tflite/float32/model.tflite, .../dynamic_range/model.tflite

Layout: the variations of the SavedModel `P` go to `P_tflite/` beside it, one
directory per build (a Kaggle Models `tfLite` variation each, packaged alone
with `package_export.py`):

    P_tflite/<build>/model.tflite
    P_tflite/<build>/assets.extra/README.md                    model card
    P_tflite/<build>/assets.extra/model-instance-metadata.json framework tfLite
    P_tflite/<build>/assets.extra/export_record.json           what, from which
                                                               SavedModel, how,
                                                               verification

Builds (`BUILDS`): `float32` (the SavedModel's `serving_default`, builtin ops
only), `dynamic_range` (weights stored int8, dequantized or computed in int8
per op at run time; `tf.lite.Optimize.DEFAULT`, no representative data) and
`float16` (weights stored float16, computed in float32 on CPU).

Shapes: TFLite plans its tensors ahead, so every dimension but the batch is
fixed at conversion: images at the recipe's `IMAGE_SIZE`, BERT/ALBERT
encoder inputs at its `SEQ_LENGTH` (both read from the export's
`operative_config.gin`; `input_size=` overrides). The batch stays dynamic
(`-1` in the signature): the interpreter's signature runner resizes it per
call. Verification runs batch 1 and a larger batch to prove it.

Verification (a failure fails the variation; nothing is written): inputs are
generated from the declared API at the fixed shape (`cases_for`), the
SavedModel's `serving_default` gives the reference outputs, and each build
runs in the LiteRT interpreter (`ai_edge_litert`) in a fresh, isolated
process, as a consumer runs it. Per output:

  * float32: max abs difference <= the declared tolerance x max(1, max |ref|)
    (TFLite's kernels sum in another order than TensorFlow's, so the error of
    large outputs scales with them);
  * dynamic_range, float16: the max abs difference is reported, and the
    minimum cosine similarity over the examples must be >= `MIN_COSINE`; for
    `logits` of an image classifier the top-1 class must also agree on at
    least `MIN_TOP1_AGREEMENT` of the examples.

Coverage: an export that needs more than builtin ops is refused with one
line (`Unsupported`) naming the TF Select (Flex) and custom ops the converter
reported: the BERT/ALBERT preprocessors and the text embedding, whose
tokenizers are TF string and TensorFlow Text ops. The LiteRT interpreter has
no Flex delegate to verify such a build with, so none is written; see the
README's "TFLite variations".
"""

import dataclasses
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from official.hub_export import cli
from official.hub_export import record as record_lib
from official.hub_export.spec import ExportError
from official.hub_export.spec import UsageError

BUILDS = ('float32', 'dynamic_range', 'float16')
DEFAULT_BUILDS = ('float32', 'dynamic_range')
SUFFIX = '_tflite'
MODEL = 'model.tflite'
CARD = 'README.md'
KAGGLE = 'model-instance-metadata.json'

# Thresholds of the quantized builds (dynamic_range, float16), per example.
MIN_COSINE = 0.99
MIN_TOP1_AGREEMENT = 0.9
# Batches of the generated verification cases: 1, and one large enough for a
# top-1 agreement to mean something.
CASE_BATCHES = (1, 16)


class Unsupported(ExportError):
  """The export cannot become a builtin-ops TFLite model (one line why)."""


def variation_dir(saved_model_dir: str) -> str:
  """Where the TFLite variations of `saved_model_dir` go: `P_tflite`."""
  return os.path.normpath(os.path.abspath(saved_model_dir)) + SUFFIX


def parse_builds(text: str) -> List[str]:
  builds = [b.strip() for b in text.split(',') if b.strip()]
  bad = [b for b in builds if b not in BUILDS]
  if bad or not builds:
    raise UsageError(f'unknown TFLite build(s) {bad or text!r}: choose from '
                     f'{",".join(BUILDS)} (comma-separated)')
  return list(dict.fromkeys(builds))


# ------------------------------------------------------------------ input


def saved_model_fingerprint(saved_model_dir: str) -> str:
  """One hash over the SavedModel's own files (graph, variables, assets)."""
  files = []
  for dirpath, _, names in os.walk(saved_model_dir):
    rel = os.path.relpath(dirpath, saved_model_dir)
    if rel.split(os.sep)[0] == record_lib.EXTRA:
      continue
    files += [os.path.join(dirpath, n) for n in names]
  return record_lib.fingerprint(files)


def read_export(saved_model_dir: str) -> dict:
  """The export record of a verified export of ours; ExportError otherwise.

  Also checks that the SavedModel's files are still the ones the record
  hashed (a modified export is not converted).
  """
  d = saved_model_dir
  if not os.path.isdir(d):
    raise ExportError(f'--export_dir {d} does not exist or is not a '
                      'directory: pass an exported SavedModel directory')
  if not os.path.isfile(os.path.join(d, 'saved_model.pb')):
    inner = sorted(n for n in os.listdir(d) if os.path.isfile(
        os.path.join(d, n, 'saved_model.pb')))
    hint = (f'; it holds SavedModels in {", ".join(n + "/" for n in inner)}: '
            f'pass one, e.g. --export_dir={os.path.join(d, inner[0])}'
            if inner else ': pass the directory that holds saved_model.pb')
    raise ExportError(f'{d} is not a SavedModel directory (no '
                      f'saved_model.pb){hint}')
  path = os.path.join(d, record_lib.EXTRA, record_lib.RECORD)
  if not os.path.isfile(path):
    raise ExportError(f'{d} has no {record_lib.EXTRA}/{record_lib.RECORD}: '
                      'only exports of this project\'s recipes can be '
                      'converted (re-export it with its recipe)')
  try:
    with open(path) as f:
      rec = json.load(f)
    rec['api']['inputs']['specs']  # pylint: disable=pointless-statement
  except (ValueError, KeyError, TypeError) as e:
    raise ExportError(f'{path} is not a valid export record ({e}): re-export '
                      'the model with its recipe') from None
  v = rec.get('verification')
  if not v or v.get('failed'):
    raise ExportError(f'{d} was not verified (exported with --noverify): '
                      're-export it without --noverify; only verified '
                      'exports are converted')
  changed = []
  for rel, info in (rec.get('files') or {}).items():
    if rel.split('/')[0] == record_lib.EXTRA:
      continue
    p = os.path.join(d, rel)
    if not os.path.isfile(p) or record_lib.sha256(p) != info['sha256']:
      changed.append(rel)
  if changed:
    raise ExportError(f'{d}: {", ".join(changed[:3])} differ(s) from the '
                      'export record: the SavedModel was modified after it '
                      'was verified; re-export it')
  return rec


def _operative_binding(saved_model_dir: str, names: Sequence[str]
                       ) -> Tuple[Optional[str], Optional[int]]:
  """(name, value) of the first of `names` the export's operative config
  sets to an integer, else (None, None)."""
  path = os.path.join(saved_model_dir, record_lib.EXTRA,
                      record_lib.OPERATIVE_CONFIG)
  if not os.path.isfile(path):
    return None, None
  with open(path) as f:
    text = f.read()
  for name in names:
    m = re.search(rf'^{re.escape(name)} = (\d+)\s*$', text, re.M)
    if m:
      return name, int(m.group(1))
  return None, None


@dataclasses.dataclass
class Plan:
  """What will be converted: the fixed input shapes (batch None)."""
  name: str                      # The export's name, for messages.
  inputs: Dict[str, dict]        # name -> {'dtype', 'shape'}
  input_size: Optional[int]      # The fixed size, where one was needed.
  size_from: str                 # 'operative_config.gin NAME', 'input_size='
  vocab_size: Optional[int]      # For sampling integer ids.


def plan(saved_model_dir: str, rec: dict, input_size: Optional[int] = None
         ) -> Plan:
  """Fixed input shapes for TFLite; UsageError if a size is unknown."""
  api = rec['api']
  name = rec.get('export') or os.path.basename(saved_model_dir)
  specs = api['inputs']['specs']
  image = api['task'].startswith('image')
  needs = any(d is None for s in specs for d in (s['shape'] or [None])[1:])
  size_from = ''
  if needs and input_size is None:
    # Exports of earlier versions name the macro in lower case; the Keras 3
    # recipe binds its option directly.
    macro = (('IMAGE_SIZE',) if image else
             ('SEQ_LENGTH', 'seq_length', 'keras.seq_length'))
    found, input_size = _operative_binding(saved_model_dir, macro)
    if input_size is None:
      raise UsageError(f'{name}: its inputs have dynamic sizes and its '
                       f'operative_config.gin sets no {macro[0]}: pass '
                       '--input_size=N (TFLite fixes every dimension but the '
                       'batch)')
    size_from = f'{record_lib.OPERATIVE_CONFIG} {found}'
  elif needs:
    size_from = '--input_size'
  inputs = {}
  for s in specs:
    shape = s['shape'] if s['shape'] is not None else [None]
    fixed = [None] + [input_size if d is None else d for d in shape[1:]]
    inputs[s['name']] = {'dtype': s['dtype'], 'shape': fixed}
  return Plan(name, inputs, input_size if needs else None, size_from,
              _operative_binding(saved_model_dir,
                                 ('VOCAB_SIZE', 'vocab_size'))[1])


def cases_for(p: Plan, batches: Sequence[int] = CASE_BATCHES, seed: int = 0
              ) -> List[Dict[str, np.ndarray]]:
  """Sample inputs at the fixed shapes: images uniform in [0, 1], word ids
  over the vocabulary with padding (mask 0) at the end of some rows, type ids
  0 then 1, other floats uniform in [-1, 1]."""
  rng = np.random.RandomState(seed)
  cases = []
  for batch in batches:
    case = {}
    for name, s in p.inputs.items():
      shape = [batch] + s['shape'][1:]
      dtype = np.dtype(s['dtype'])
      if dtype.kind == 'f':
        lo = 0. if len(shape) == 4 else -1.
        case[name] = rng.uniform(lo, 1., shape).astype(dtype)
      elif dtype.kind in 'iu':
        if len(shape) == 2 and 'mask' in name:
          a = np.ones(shape)
          for i in range(1, batch):
            a[i, shape[1] - rng.randint(1, max(2, shape[1] // 2)):] = 0
        elif len(shape) == 2 and 'type' in name:
          a = np.zeros(shape)
          a[:, shape[1] // 2:] = 1
        else:
          a = rng.randint(1, p.vocab_size or 5, size=shape)
        case[name] = a.astype(dtype)
      elif dtype == bool:
        case[name] = np.ones(shape, bool)
      else:
        raise Unsupported(f'input {name} has dtype {s["dtype"]}: no TFLite '
                          'variation')
    cases.append(case)
  # Padding consistent with the mask: padded word ids are 0.
  for case in cases:
    masks = [k for k in case if 'mask' in k]
    for k in case:
      if masks and 'word' in k:
        case[k] = np.where(case[masks[0]] == 0, 0, case[k]).astype(
            case[k].dtype)
  return cases


# -------------------------------------------------------------- converting


def _converter(saved_model_dir: str, p: Plan, build: str):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  try:  # Registers the ops of text preprocessors, to load (and refuse) them.
    import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    pass
  obj = tf.saved_model.load(saved_model_dir)
  sig = obj.signatures['serving_default']
  specs = {k: tf.TensorSpec(s['shape'], tf.as_dtype(s['dtype']), name=k)
           for k, s in p.inputs.items()}
  fn = tf.function(lambda **kw: sig(**kw), autograph=False)
  concrete = fn.get_concrete_function(**specs)
  conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete], obj)
  conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
  if build in ('dynamic_range', 'float16'):
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
  if build == 'float16':
    conv.target_spec.supported_types = [tf.float16]
  settings = {
      'api': 'tf.lite.TFLiteConverter.from_concrete_functions',
      'function': 'serving_default',
      'supported_ops': ['TFLITE_BUILTINS'],
      'optimizations': ['DEFAULT'] if conv.optimizations else [],
      'supported_types': ['float16'] if build == 'float16' else [],
      'representative_dataset': None,
      'inputs': {k: s['shape'] for k, s in p.inputs.items()},
  }
  return obj, sig, conv, settings


_BLOCKING = (('TF Select ops: ', 'TF Select (Flex) ops'),
             ('Custom ops: ', 'custom ops'))


class _quiet_stderr:  # pylint: disable=invalid-name
  """Captures file descriptor 2: the MLIR converter logs through C++ (absl)
  whatever TF_CPP_MIN_LOG_LEVEL says; kept for the error message."""

  def __enter__(self):
    sys.stderr.flush()
    self._file = tempfile.TemporaryFile(mode='w+b')
    self._saved = os.dup(2)
    os.dup2(self._file.fileno(), 2)
    self._text = None
    return self

  def __exit__(self, *exc):
    sys.stderr.flush()
    os.dup2(self._saved, 2)
    os.close(self._saved)
    self._file.seek(0)
    self._text = self._file.read().decode(errors='replace')
    self._file.close()
    return False

  def text(self) -> str:
    return self._text or ''


def convert(saved_model_dir: str, p: Plan, build: str):
  """(flatbuffer bytes, converter settings); Unsupported names the ops."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  _, _, conv, settings = _converter(saved_model_dir, p, build)
  log = _quiet_stderr()
  try:
    with log:
      flat = conv.convert()
    return flat, settings
  except Exception as e:  # pylint: disable=broad-except
    # The converter's error names the TF ops it has no builtin for.
    text = str(e) + '\n' + log.text()
    blocking = []
    for prefix, what in _BLOCKING:
      ops = sorted({op.strip() for line in text.splitlines()
                    if line.startswith(prefix)
                    for op in line[len(prefix):].split(',') if op.strip()})
      if ops:
        blocking.append(f'{what} {", ".join(ops)}')
    if blocking or isinstance(e, tf.lite.ConverterError):
      first = [l for l in text.splitlines() if l.startswith('error:')]
      raise Unsupported(
          f'{p.name}: no TFLite variation: not convertible with TFLite '
          'builtin ops only; it needs '
          + ('; '.join(blocking) if blocking else
             (first[0] if first else text.strip().splitlines()[0])[:300])
          + ' (the LiteRT interpreter has no Flex delegate or custom ops to '
          'verify such a build with; see the README, "TFLite '
          'variations")') from None
    raise


def reference_outputs(saved_model_dir: str, cases) -> List[dict]:
  """The SavedModel's `serving_default` on each case (numpy)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  sig = tf.saved_model.load(saved_model_dir).signatures['serving_default']
  return [{k: v.numpy() for k, v in sig(**{
      n: tf.constant(a) for n, a in case.items()}).items()} for case in cases]


# Runs in a fresh isolated consumer process (`python -I`): the interpreter
# only, as on a device. argv: request.json. Writes outputs npz + info json.
_RUN = r'''
import json, sys, time
import numpy as np
req = json.load(open(sys.argv[1]))
try:
  from ai_edge_litert.interpreter import Interpreter
  runtime = 'ai_edge_litert'
except ImportError:
  import tensorflow as tf
  Interpreter, runtime = tf.lite.Interpreter, 'tf.lite'
def ops(path):
  # The model's own operators: without the default (XNNPACK) delegate, which
  # would show the ops it took over as one DELEGATE node.
  try:
    from ai_edge_litert.interpreter import OpResolverType
    plain = Interpreter(model_path=path, experimental_op_resolver_type=
                        OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
  except ImportError:
    plain = tf.lite.Interpreter(
        model_path=path, experimental_op_resolver_type=
        tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
  return sorted({o['op_name'] for o in plain._get_ops_details()})
cases = np.load(req['cases'])
n = req['n_cases']
info = {}
for build, path in req['models'].items():
  it = Interpreter(model_path=path, num_threads=req.get('threads', 1))
  sigs = it.get_signature_list()
  runner = it.get_signature_runner('serving_default')
  out, latency = {}, []
  for i in range(n):
    inputs = {k[len(f'c{i}/'):]: cases[k] for k in cases.files
              if k.startswith(f'c{i}/')}
    t = time.perf_counter()
    got = runner(**inputs)
    latency.append(time.perf_counter() - t)
    for k, v in got.items():
      out[f'c{i}/{k}'] = v
  np.savez(req['outputs'][build], **out)
  details = runner.get_input_details()
  info[build] = {
      'runtime': runtime,
      'signatures': sigs,
      'inputs': {k: {'dtype': np.dtype(d['dtype']).name,
                     'shape_signature': [int(x) for x in d['shape_signature']]}
                 for k, d in details.items()},
      'outputs': {k: {'dtype': np.dtype(d['dtype']).name,
                      'shape_signature': [int(x) for x in d['shape_signature']]}
                  for k, d in runner.get_output_details().items()},
      'ops': ops(path),
      'seconds_per_case': latency,
  }
print(json.dumps(info))
'''


def run_interpreter(models: Dict[str, str], cases, workdir: str,
                    threads: int = 1):
  """Runs each `build -> model.tflite` on `cases` in a fresh isolated process
  (the LiteRT interpreter); returns ({build: [outputs per case]}, info)."""
  from official.hub_export import verify  # pylint: disable=g-import-not-at-top
  arrays = {f'c{i}/{k}': v for i, c in enumerate(cases) for k, v in c.items()}
  cases_path = os.path.join(workdir, 'tflite_cases.npz')
  np.savez(cases_path, **arrays)
  outputs = {b: os.path.join(workdir, f'tflite_out_{b}.npz') for b in models}
  req = os.path.join(workdir, 'tflite_request.json')
  with open(req, 'w') as f:
    json.dump({'cases': cases_path, 'n_cases': len(cases), 'threads': threads,
               'models': models, 'outputs': outputs}, f)
  proc = subprocess.run([sys.executable, '-I', '-c', _RUN, req], cwd=workdir,
                        env=verify.consumer_env(), capture_output=True,
                        text=True, check=False)
  lines = proc.stdout.strip().splitlines()
  if proc.returncode != 0 or not lines:
    errors = [l for l in proc.stderr.strip().splitlines() if l.strip()]
    raise ExportError('the TFLite interpreter could not run the model ('
                      + (errors[-1].strip() if errors else
                         f'exit {proc.returncode}') + ')')
  info = json.loads(lines[-1])
  result = {}
  for b, path in outputs.items():
    with np.load(path) as z:
      result[b] = [{k[len(f'c{i}/'):]: z[k] for k in z.files
                    if k.startswith(f'c{i}/')} for i in range(len(cases))]
  return result, info


_LOAD = r'''
import json, sys
from ai_edge_litert.interpreter import Interpreter, OpResolverType
it = Interpreter(model_path=sys.argv[1], experimental_op_resolver_type=
                 OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
it.allocate_tensors()
print(json.dumps({'signatures': sorted(it.get_signature_list()),
                  'tflite_ops': sorted({o['op_name']
                                        for o in it._get_ops_details()})}))
'''


def load_info(model_path: str) -> dict:
  """Loads a model.tflite with the LiteRT interpreter in a fresh isolated
  process: its signatures and operators; ExportError if it does not load."""
  from official.hub_export import verify  # pylint: disable=g-import-not-at-top
  proc = subprocess.run([sys.executable, '-I', '-c', _LOAD,
                         os.path.abspath(model_path)],
                        cwd=os.path.dirname(os.path.abspath(model_path)),
                        env=verify.consumer_env(), capture_output=True,
                        text=True, check=False)
  lines = proc.stdout.strip().splitlines()
  if proc.returncode != 0 or not lines:
    errors = [l for l in proc.stderr.strip().splitlines() if l.strip()]
    raise ExportError(f'{MODEL} does not load in the LiteRT interpreter ('
                      + (errors[-1].strip() if errors else
                         f'exit {proc.returncode}') + '): re-create it with '
                      'export_scripts/tflite_export.py')
  return json.loads(lines[-1])


# --------------------------------------------------------------- comparing


def _output_spec(api: dict, key: str) -> dict:
  outs = api['outputs']
  if key in outs:
    return outs[key]
  base = key.rsplit('_', 1)[0]
  if base in outs:
    return outs[base]
  if len(outs) == 1:  # A single-tensor model: its signature output name.
    return next(iter(outs.values()))
  return {'kind': 'any', 'tolerance': 1e-5}


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  a = a.reshape(a.shape[0], -1).astype(np.float64) if a.ndim else a.reshape(
      1, 1)
  b = b.reshape(b.shape[0], -1).astype(np.float64) if b.ndim else b.reshape(
      1, 1)
  na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
  both_zero = (na == 0) & (nb == 0)
  cos = (a * b).sum(axis=1) / np.maximum(na * nb, 1e-30)
  return np.where(both_zero, 1.0, cos)


def compare(build: str, api: dict, expected: List[dict], got: List[dict]
            ) -> dict:
  """Per-output comparison of one build with the SavedModel (see module
  docstring for the rules). Returns {'outputs': {...}, 'failures': [...]}."""
  quantized = build != 'float32'
  classifier = api['task'] == 'image-classification'
  outputs, failures = {}, []
  for key in expected[0]:
    spec = _output_spec(api, key)
    diffs, cos, agree, n = [], [], 0, 0
    scale = 1.0
    for e, g in zip(expected, got):
      if key not in g:
        failures.append(f'output {key} missing from the TFLite model')
        break
      ev, gv = np.asarray(e[key]), np.asarray(g[key])
      if ev.shape != gv.shape:
        failures.append(f'{key}: shape {list(gv.shape)}, SavedModel '
                        f'{list(ev.shape)}')
        break
      diffs.append(float(np.max(np.abs(ev.astype(np.float64) - gv))))
      scale = max(scale, float(np.max(np.abs(ev))) if ev.size else 0.)
      cos.extend(_cosines(ev, gv).tolist())
      if spec.get('kind') == 'logits' and ev.ndim == 2:
        agree += int((ev.argmax(-1) == gv.argmax(-1)).sum())
        n += ev.shape[0]
    else:
      row = {'max_abs_diff': max(diffs), 'min_cosine': min(cos),
             'kind': spec.get('kind')}
      if not quantized:
        limit = spec.get('tolerance', 1e-5) * scale
        row.update(tolerance=spec.get('tolerance'), scale=scale, limit=limit,
                   passed=row['max_abs_diff'] <= limit)
        if not row['passed']:
          failures.append(f'{key}: max abs diff {row["max_abs_diff"]:.3g} > '
                          f'{limit:.3g} (tolerance {spec.get("tolerance")} x '
                          f'{scale:.3g})')
      else:
        row['passed'] = row['min_cosine'] >= MIN_COSINE
        row['min_cosine_threshold'] = MIN_COSINE
        if not row['passed']:
          failures.append(f'{key}: cosine similarity {row["min_cosine"]:.4f} '
                          f'< {MIN_COSINE}')
        if classifier and n:
          row['top1_agreement'] = agree / n
          row['top1_examples'] = n
          row['top1_agreement_threshold'] = MIN_TOP1_AGREEMENT
          if row['top1_agreement'] < MIN_TOP1_AGREEMENT:
            row['passed'] = False
            failures.append(f'{key}: top-1 agreement {agree}/{n} < '
                            f'{MIN_TOP1_AGREEMENT:.0%}')
      outputs[key] = row
  return {'outputs': outputs, 'failures': failures,
          'passed': not failures}


def verify_builds(api: dict, models: Dict[str, str], cases, expected,
                  workdir: str) -> Dict[str, dict]:
  """Runs and compares every build; ExportError listing what failed."""
  got, info = run_interpreter(models, cases, workdir)
  results, failed = {}, []
  for build in models:
    r = compare(build, api, expected, got[build])
    r['interpreter'] = info[build]
    batch_dims = [s['shape_signature'][0] for s in
                  info[build]['inputs'].values()]
    r['batch_dynamic'] = all(d == -1 for d in batch_dims)
    r['cases'] = [{k: list(v.shape) for k, v in c.items()} for c in cases]
    results[build] = r
    failed += [f'{build}: {f}' for f in r['failures']]
  if failed:
    raise ExportError('\n'.join(
        [f'TFLite verification failed: {len(failed)} problem(s); no '
         'variation was written:'] + ['  ' + f for f in failed]))
  return results


# ------------------------------------------------------------ card, record


def _parent_card_name(saved_model_dir: str, rec: dict):
  """(publisher, name, version) from the SavedModel's own model card."""
  path = os.path.join(saved_model_dir, record_lib.EXTRA, CARD)
  try:
    with open(path) as f:
      m = re.match(r'# Module (\S+?)/(\S+)/(\d+)', f.readline())
    if m:
      return m.group(1), m.group(2), int(m.group(3))
  except OSError:
    pass
  return 'publisher', rec.get('export') or 'model', 1


def usage_snippet(io: dict, runtime_note: bool = True) -> str:
  """The consumer snippet: the LiteRT interpreter on `model.tflite`."""
  lines = ['import numpy as np',
           'from ai_edge_litert.interpreter import Interpreter'
           + ('  # pip install ai-edge-litert (or tf.lite.Interpreter)'
              if runtime_note else ''),
           '',
           'interpreter = Interpreter(model_path="model.tflite", '
           'num_threads=2)',
           'runner = interpreter.get_signature_runner("serving_default")',
           'batch = 2  # any batch: the runner resizes the inputs']
  args = []
  for name, s in io['inputs'].items():
    dims = ', '.join(['batch'] + [str(d) for d in s['shape_signature'][1:]])
    dtype = s['dtype']
    if dtype.startswith('float'):
      value = f'np.random.uniform(0, 1, [{dims}]).astype(np.{dtype})'
    elif 'mask' in name:
      value = f'np.ones([{dims}], np.{dtype})'
    elif 'type' in name:
      value = f'np.zeros([{dims}], np.{dtype})'
    else:
      value = f'np.ones([{dims}], np.{dtype})  # your ids'
    lines.append(f'{name} = {value}')
    args.append(f'{name}={name}')
  lines.append(f'outputs = runner({", ".join(args)})')
  for name, s in io['outputs'].items():
    dims = ', '.join(['batch'] + [str(d) for d in s['shape_signature'][1:]])
    lines.append(f'print("{name}", outputs["{name}"].shape)  # [{dims}]')
  return '\n'.join(lines)


def _shape(sig):
  return '[' + ', '.join('batch' if i == 0 and d == -1 else str(d)
                         for i, d in enumerate(sig)) + ']'


def render_card(rec: dict, parent: tuple, build: str) -> str:
  publisher, name, version = parent
  v = rec['verification']
  io = v['interpreter']
  api = rec['source_saved_model']['api']
  desc = {k: o.get('description', '') for k, o in api['outputs'].items()}
  lines = [f'# Lite {publisher}/{name}/{build}/{version}',
           f'TFLite ({build}) build of `{name}`, converted from its verified '
           'TF2 SavedModel and verified against it.', '',
           f'<!-- parent-model: {publisher}/{name}/{version} -->',
           f'<!-- asset-path: {name}_{build}.tar.gz -->',
           f'<!-- task: {api["task"]} -->',
           '<!-- fine-tunable: false -->',
           '<!-- format: tflite -->', '',
           '## Overview', '',
           {'float32': 'Float32 weights and compute: the SavedModel\'s '
                       '`serving_default` with TFLite builtin ops only.',
            'dynamic_range': 'Dynamic-range quantization: weights stored as '
                             'int8 (about 4x smaller), activations float; '
                             'outputs differ slightly from the SavedModel '
                             '(see Verification).',
            'float16': 'Float16 weights (about 2x smaller), computed in '
                       'float32 on CPU; outputs differ slightly from the '
                       'SavedModel (see Verification).'}[build],
           'Not fine-tunable: for fine-tuning use the SavedModel.', '',
           '## Inputs and outputs', '',
           'Signature `serving_default` (TFLite builtin ops only: '
           + ', '.join(f'`{o}`' for o in io['ops']) + '). '
           + ('The batch dimension is dynamic (the signature runner resizes '
              'it); every other dimension is fixed'
              if v['batch_dynamic'] else 'Every dimension is fixed')
           + (f' (size {rec["conversion"]["input_size"]}, from '
              f'{rec["conversion"]["input_size_from"]})'
              if rec['conversion']['input_size'] else '') + '.', '',
           '| | name | dtype | shape | notes |',
           '| --- | --- | --- | --- | --- |']
  lines += [f'| input | `{k}` | {s["dtype"]} | {_shape(s["shape_signature"])}'
            ' | |' for k, s in io['inputs'].items()]
  for k, s in io['outputs'].items():
    note = desc.get(k) or desc.get(k.rsplit('_', 1)[0], '')
    if _output_spec(api, k).get('kind') == 'logits':
      note = (note + ' ' if note else '') + 'logits (apply softmax for ' \
             'probabilities)'
    lines.append(f'| output | `{k}` | {s["dtype"]} | '
                 f'{_shape(s["shape_signature"])} | {note} |')
  lines += ['', '## Usage', '', '```python', rec['usage'], '```', '']
  lines += ['## Verification', '',
            f'Run with the LiteRT interpreter (`{io["runtime"]}`) in a fresh '
            'process on generated inputs ('
            + ', '.join('batch ' + str(list(c.values())[0][0])
                        for c in v['cases'])
            + f') and compared with the SavedModel\'s `serving_default`:', '']
  for k, o in v['outputs'].items():
    parts = [f'max abs diff {o["max_abs_diff"]:.3g}']
    if build == 'float32':
      parts.append(f'allowed {o["limit"]:.3g}')
    parts.append(f'min cosine similarity {o["min_cosine"]:.6f}')
    if 'top1_agreement' in o:
      parts.append(f'top-1 agreement {o["top1_agreement"]:.0%} of '
                   f'{o["top1_examples"]}')
    lines.append(f'- `{k}`: ' + ', '.join(parts))
  sm = rec['source_saved_model']
  s = rec['sizes']
  lines += ['', '## Source', '',
            f'- SavedModel `{os.path.basename(sm["path"])}` (recipe '
            f'`{sm["recipe"]}`, fingerprint `{sm["fingerprint_sha256"][:16]}'
            f'...`, variables {record_lib.human_size(sm["variables_bytes"])})',
            f'- `{MODEL}`: {record_lib.human_size(s["model_tflite"])}',
            '- converted with: ' + ', '.join(
                f'{k} {x}' for k, x in rec['versions'].items() if x),
            f'- revision `{rec["git_revision"] or "unknown"}`']
  return '\n'.join(lines).rstrip() + '\n'


def kaggle_metadata(rec: dict, parent: tuple, build: str, card: str) -> dict:
  _, name, _ = parent
  usage = card[card.index('## Usage'):card.index('## Verification')].strip()
  return {
      'framework': 'tfLite',
      'instanceSlug': f'{name}-{build}'.lower().replace('_', '-'),
      'overview': card.splitlines()[1],
      'usage': usage,
      'licenseName': rec.get('license_name') or 'Apache 2.0',
      'fineTunable': False,
      'trainingData': [],
  }


def _license_name(saved_model_dir: str) -> Optional[str]:
  try:
    with open(os.path.join(saved_model_dir, record_lib.EXTRA,
                           'model-instance-metadata.json')) as f:
      return json.load(f).get('licenseName')
  except (OSError, ValueError):
    return None


def _versions() -> dict:
  v = record_lib.versions()
  try:
    v['ai-edge-litert'] = importlib.metadata.version('ai-edge-litert')
  except importlib.metadata.PackageNotFoundError:
    v['ai-edge-litert'] = None
  return v


def _files(build_dir: str) -> dict:
  table = {}
  for dirpath, _, names in os.walk(build_dir):
    for n in sorted(names):
      p = os.path.join(dirpath, n)
      rel = os.path.relpath(p, build_dir).replace(os.sep, '/')
      if rel != f'{record_lib.EXTRA}/{record_lib.RECORD}':
        table[rel] = {'bytes': os.path.getsize(p),
                      'sha256': record_lib.sha256(p)}
  return dict(sorted(table.items()))


# -------------------------------------------------------------- the writer


@dataclasses.dataclass
class Variation:
  build: str
  path: str            # Final directory of this build.
  record: dict


def check_destination(output_dir: str, overwrite: bool) -> None:
  if os.path.isfile(output_dir):
    raise ExportError(f'{output_dir} is a file: remove it or choose another '
                      '--output_dir')
  if os.path.isdir(output_dir) and os.listdir(output_dir) and not overwrite:
    raise ExportError(f'{output_dir} already exists and is not empty: pass '
                      '--overwrite to replace it, or choose another '
                      '--output_dir')


def move_into_place(tmp: str, output_dir: str, overwrite: bool) -> None:
  """Renames `tmp` to `output_dir`, replacing it only with `overwrite`."""
  check_destination(output_dir, overwrite)
  cli.replace_dir(tmp, output_dir)


def build_into(saved_model_dir: str, into: str, builds: Sequence[str],
               input_size: Optional[int] = None,
               shown_path: Optional[str] = None) -> List[Variation]:
  """Converts, verifies and documents every build into `into/<build>/`.

  `shown_path` is the SavedModel's final path when it is still being written
  (the recipe driver). Raises ExportError (`Unsupported` for exports that
  cannot be converted) and leaves `into` to the caller to remove.
  """
  rec = read_export(saved_model_dir)
  p = plan(saved_model_dir, rec, input_size)
  api = rec['api']
  models, settings, seconds = {}, {}, {}
  for build in builds:
    t0 = time.perf_counter()
    flat, settings[build] = convert(saved_model_dir, p, build)
    seconds[build] = time.perf_counter() - t0
    d = os.path.join(into, build)
    os.makedirs(os.path.join(d, record_lib.EXTRA))
    with open(os.path.join(d, MODEL), 'wb') as f:
      f.write(flat)
    models[build] = os.path.join(d, MODEL)
  cases = cases_for(p)
  expected = reference_outputs(saved_model_dir, cases)
  with tempfile.TemporaryDirectory(prefix='hub_export_tflite_') as work:
    results = verify_builds(api, models, cases, expected, work)
  shown = os.path.abspath(shown_path or saved_model_dir)
  parent = _parent_card_name(saved_model_dir, rec)
  source = {
      'path': shown, 'recipe': rec.get('recipe'), 'export': rec.get('export'),
      'fingerprint_sha256': saved_model_fingerprint(saved_model_dir),
      'export_record_sha256': record_lib.sha256(os.path.join(
          saved_model_dir, record_lib.EXTRA, record_lib.RECORD)),
      'git_revision': rec.get('git_revision'),
      'variables_bytes': (rec.get('sizes') or {}).get('variables', 0),
      'api': api,
  }
  out = []
  for build in builds:
    d = os.path.join(into, build)
    r = results[build]
    vrec = {
        'variation': 'tflite', 'build': build,
        'command': record_lib.command_line(),
        'source_saved_model': source,
        'conversion': {**settings[build], 'seconds': seconds[build],
                       'input_size': p.input_size,
                       'input_size_from': p.size_from},
        'versions': _versions(),
        'git_revision': record_lib.git_revision(),
        'thresholds': {'float32': 'max abs diff <= tolerance x max(1, max '
                                  '|SavedModel output|)',
                       'min_cosine': MIN_COSINE,
                       'min_top1_agreement': MIN_TOP1_AGREEMENT},
        'verification': {k: r[k] for k in ('passed', 'outputs', 'cases',
                                            'batch_dynamic', 'interpreter')},
        'license_name': _license_name(saved_model_dir),
    }
    vrec['verification']['interpreter'] = dict(r['interpreter'])
    vrec['verification']['interpreter'].pop('seconds_per_case', None)
    vrec['usage'] = usage_snippet(r['interpreter'])
    vrec['sizes'] = {'model_tflite': os.path.getsize(models[build]),
                     'saved_model_variables': source['variables_bytes']}
    card = render_card(vrec, parent, build)
    extra = os.path.join(d, record_lib.EXTRA)
    with open(os.path.join(extra, CARD), 'w') as f:
      f.write(card)
    with open(os.path.join(extra, KAGGLE), 'w') as f:
      json.dump(kaggle_metadata(vrec, parent, build, card), f, indent=1)
      f.write('\n')
    vrec['files'] = _files(d)
    with open(os.path.join(extra, record_lib.RECORD), 'w') as f:
      json.dump(vrec, f, indent=1)
      f.write('\n')
    out.append(Variation(build, d, vrec))
  return out


def write_variations(saved_model_dir: str, builds: Sequence[str] =
                     DEFAULT_BUILDS, output_dir: Optional[str] = None,
                     overwrite: bool = False,
                     input_size: Optional[int] = None) -> List[Variation]:
  """Writes `output_dir/<build>/` (default `variation_dir(...)`) atomically:
  every build converted and verified in a temporary directory beside it,
  renamed into place only when all passed (replacing an existing one only
  with `overwrite`). Raises ExportError; nothing is left on failure."""
  saved_model_dir = os.path.abspath(os.path.expanduser(saved_model_dir))
  output_dir = os.path.abspath(os.path.expanduser(
      output_dir or variation_dir(saved_model_dir)))
  if output_dir == saved_model_dir or output_dir.startswith(
      saved_model_dir + os.sep):
    raise UsageError(f'--output_dir {output_dir} is inside the SavedModel: '
                     'write the variations beside it (the default)')
  check_destination(output_dir, overwrite)
  read_export(saved_model_dir)  # Fail fast, before creating anything.
  parent = os.path.dirname(output_dir)
  created = []
  p = parent
  while not os.path.exists(p):
    created.append(p)
    p = os.path.dirname(p)
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=f'.{os.path.basename(output_dir)}.tmp-',
                         dir=parent)
  try:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    variations = build_into(saved_model_dir, tmp, builds, input_size)
    move_into_place(tmp, output_dir, overwrite)
    tmp = None
    created = []
  finally:
    if tmp:
      shutil.rmtree(tmp, ignore_errors=True)
    for d in created:
      try:
        os.rmdir(d)
      except OSError:
        break
  for v in variations:
    v.path = os.path.join(output_dir, v.build)
  return variations


def summary_lines(variations: Sequence[Variation]) -> List[str]:
  lines = []
  for v in variations:
    r = v.record
    ver = r['verification']
    worst = max(o['max_abs_diff'] for o in ver['outputs'].values())
    cos = min(o['min_cosine'] for o in ver['outputs'].values())
    top1 = [o['top1_agreement'] for o in ver['outputs'].values()
            if 'top1_agreement' in o]
    lines.append(
        f'  {v.path}: {MODEL} {record_lib.human_size(r["sizes"]["model_tflite"])}'
        f' (SavedModel variables '
        f'{record_lib.human_size(r["sizes"]["saved_model_variables"])}); '
        f'verified: max abs diff {worst:.2g}, min cosine {cos:.5f}'
        + (f', top-1 agreement {min(top1):.0%}' if top1 else '')
        + ('; batch dynamic' if ver['batch_dynamic'] else '; fixed batch'))
  return lines


# ------------------------------------------------------- the recipe option


def for_recipe(exports, builds: Sequence[str], shown: Dict[str, str]):
  """The driver's `--tflite`: variations of each export just verified.

  `exports` are (name, temporary SavedModel path) pairs. A variation of a
  subdirectory export is written inside the temporary export directory (it
  moves into place with it); one of a root export goes to a temporary
  sibling, returned for the caller to move beside the export. Exports that
  cannot be converted are skipped with their one-line reason, unless none
  can (then `Unsupported`). Returns (variations, notes, sibling tmp or None).
  """
  done, notes, sibling = [], [], None
  unsupported = []
  for name, path in exports:
    if name:
      into = path + SUFFIX
      os.makedirs(into)
    else:
      sibling = tempfile.mkdtemp(prefix=f'.{os.path.basename(path)}{SUFFIX}-',
                                 dir=os.path.dirname(path))
      into = sibling
    try:
      vs = build_into(path, into, builds, shown_path=shown[name])
    except Unsupported as e:
      shutil.rmtree(into, ignore_errors=True)
      if into == sibling:
        sibling = None
      unsupported.append(str(e))
      notes.append(f'  {shown[name]}: ' + str(e).split(': ', 1)[-1])
      continue
    for v in vs:
      v.path = os.path.join(variation_dir(shown[name]), v.build)
    done += vs
  if not done and unsupported:
    raise Unsupported(unsupported[0])
  return done, notes, sibling


def verify_variation(build_dir: str, saved_model_dir: Optional[str] = None
                     ) -> dict:
  """Re-checks a written variation: its files are those its record hashed,
  and `model.tflite` still agrees with the SavedModel it was converted from
  (by default the record's path), by the rules it was written under.
  Returns the comparison; raises ExportError naming what is wrong."""
  build_dir = os.path.abspath(os.path.expanduser(build_dir))
  path = os.path.join(build_dir, record_lib.EXTRA, record_lib.RECORD)
  if not os.path.isfile(os.path.join(build_dir, MODEL)) or not os.path.isfile(
      path):
    raise ExportError(f'{build_dir} is not a TFLite variation (no {MODEL} '
                      f'and {record_lib.EXTRA}/{record_lib.RECORD}): pass '
                      'e.g. OUT/encoder_tflite/float32')
  with open(path) as f:
    vrec = json.load(f)
  changed = [rel for rel, info in vrec['files'].items()
             if not os.path.isfile(os.path.join(build_dir, rel)) or
             record_lib.sha256(os.path.join(build_dir, rel)) != info['sha256']]
  if changed:
    raise ExportError(f'{build_dir}: {", ".join(changed)} differ(s) from its '
                      'export record: the variation was modified after it was '
                      'verified; re-create it with '
                      'export_scripts/tflite_export.py')
  src = vrec['source_saved_model']
  saved_model_dir = saved_model_dir or src['path']
  rec = read_export(saved_model_dir)
  if saved_model_fingerprint(saved_model_dir) != src['fingerprint_sha256']:
    raise ExportError(f'{saved_model_dir} is not the SavedModel {build_dir} '
                      'was converted from (fingerprints differ)')
  conv = vrec['conversion']
  p = plan(saved_model_dir, rec, conv.get('input_size'))
  cases = cases_for(p, seed=1)
  expected = reference_outputs(saved_model_dir, cases)
  with tempfile.TemporaryDirectory(prefix='hub_export_tflite_') as work:
    return verify_builds(rec['api'], {vrec['build']: os.path.join(
        build_dir, MODEL)}, cases, expected, work)[vrec['build']]

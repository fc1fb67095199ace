"""Verification after every export, as a consumer would see the SavedModel.

`verify(saved_model_dir, spec, cases, reference)` computes the in-memory
source model's outputs on the sample inputs (`cases`, a small shape sweep),
then runs the checker package (`checker/`) in fresh Python processes (`-I`:
this repository is not importable there) that reload the export as consumers
do and compare: one with tf_keras (`hub.load`, `hub.KerasLayer`), and beside
it one with Keras 3 (`keras.layers.TFSMLayer`). Any FAIL raises
`ExportError`; an internal error of the checker raises `CheckerError`.
Before any process loads the export, the op scan (`checker/opscan.py`) reads
its graphs.
"""

import json
import os
import subprocess
import sys
import tempfile
from typing import Any, Callable, Optional, Sequence

import numpy as np
import tensorflow as tf

from official.hub_export.checker import cases as cases_lib
from official.hub_export.spec import Case, ExportError, ExportSpec

# The checker package's folder: `python -I CHECKER` runs its __main__.py.
CHECKER = os.path.dirname(os.path.abspath(cases_lib.__file__))


def _numpy(x):
  """Tensors -> numpy; ragged tensors stay (cases_lib.flatten splits them)."""
  def conv(t):
    if isinstance(t, tf.RaggedTensor):
      return t
    return t.numpy() if hasattr(t, 'numpy') else np.asarray(t)
  return tf.nest.map_structure(conv, x)


def write_cases(path: str, cases: Sequence[Case],
                reference: Callable[[Case], Any]) -> None:
  """Writes sample inputs and the source model's outputs for them."""
  arrays, meta = {}, []
  for i, case in enumerate(cases):
    inputs = tf.nest.map_structure(
        lambda t: t if isinstance(t, tf.RaggedTensor) else
        tf.convert_to_tensor(t), case.inputs)
    expected = _numpy(reference(Case(inputs, case.target, case.kwargs)))
    s_in, a_in = cases_lib.flatten(_numpy(inputs), f'c{i}/in')
    s_out, a_out = cases_lib.flatten(expected, f'c{i}/out')
    arrays.update(a_in)
    arrays.update(a_out)
    meta.append({'target': case.target, 'kwargs': case.kwargs,
                 'inputs': s_in, 'expected': s_out})
  arrays['__meta__'] = np.array(json.dumps(meta))
  np.savez(path, **arrays)


def consumer_env(keras3=False):
  """Environment of a consumer process: no PYTHONPATH, quiet TensorFlow;
  tf_keras as Keras, or (`keras3`) Keras 3."""
  env = {k: v for k, v in os.environ.items()
         if k not in ('PYTHONPATH', 'PYTHONHOME', 'PYTHONSTARTUP')}
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  if keras3:
    env.pop('TF_USE_LEGACY_KERAS', None)
  else:
    env['TF_USE_LEGACY_KERAS'] = '1'
  return env


class CheckerError(ExportError):
  """The checker could not finish (an internal error of the checker, not a
  finding about the model)."""


def refused_by_op_scan(saved_model_dir: str,
                       allow_ops: Sequence[str] = ()) -> Optional[dict]:
  """The op scan, in this process (saved_model.pb is only read): the
  checker's result refusing the model if an op acts on the machine, else
  None. The checker process scans again before it loads anything."""
  from official.hub_export.checker import report as report_lib  # pylint: disable=g-import-not-at-top
  from official.hub_export.checker import suite  # pylint: disable=g-import-not-at-top
  r, info = report_lib.Report(), {}
  if suite.check_ops(r, info, saved_model_dir, allow_ops, libraries=False):
    return None
  result = r.result(info)
  result['report'] = list(r.lines()) + [
      f"verdict: {result['verdict']}: {result['reason']}"]
  return result


def consumer_checks(saved_model_dir: str, spec: Optional[dict] = None,
                    cases_npz: Optional[str] = None,
                    task: Optional[str] = None,
                    allow_ops: Sequence[str] = (),
                    keras3: bool = True) -> dict:
  """Runs the checker on a SavedModel in fresh, isolated consumer processes.

  The tf_keras consumer (hub.load, hub.KerasLayer) and, with `keras3`, the
  Keras 3 consumer (TFSMLayer; `checker/keras3.py`) run at the same time in
  processes of their own (Keras 3 and tf_keras cannot share one); their
  results are merged. Returns the result dict (`checks`, `info`, `passed`,
  `failed`, `errors`, `verdict`, `reason`; the Keras 3 process's info under
  `info['keras3']`) plus `report`, the PASS/WARN/FAIL/ERROR lines and the
  verdict line. Without `spec`/`cases_npz` the API is read off the
  SavedModel and sample inputs are generated for `task`. A model whose ops
  act on the machine (the op scan; `allow_ops` lets named ops through) is
  refused before any process loads it. CheckerError if a checker crashed.
  """
  refused = refused_by_op_scan(saved_model_dir, allow_ops)
  if refused is not None:
    return refused
  with tempfile.TemporaryDirectory(prefix='hub_export_verify_') as tmp:
    args = [f'--saved_model={os.path.abspath(saved_model_dir)}']
    if spec is not None:
      spec_path = os.path.join(tmp, 'spec.json')
      with open(spec_path, 'w') as f:
        json.dump(spec, f)
      args.append(f'--spec={spec_path}')
    if cases_npz:
      args.append(f'--cases={os.path.abspath(cases_npz)}')
    if task:
      args.append(f'--task={task}')
    if allow_ops:
      args.append(f"--allow_ops={','.join(allow_ops)}")
    runs = {'tf_keras': ([], consumer_env())}
    if keras3:
      runs['keras3'] = (['--keras3'], consumer_env(keras3=True))
    procs = {}
    for name, (flag, env) in runs.items():
      out_path = os.path.join(tmp, f'{name}.json')
      # Files, not pipes: neither process can block on a full pipe while
      # the other is waited for.
      logs = [open(os.path.join(tmp, f'{name}.{s}'), 'w+')
              for s in ('out', 'err')]
      procs[name] = (out_path, logs, subprocess.Popen(
          [sys.executable, '-I', CHECKER] + flag + args +
          [f'--output={out_path}'], cwd=tmp, env=env,
          stdout=logs[0], stderr=logs[1], text=True))
    results = {}
    try:
      for name, (out_path, logs, proc) in procs.items():
        proc.wait()
        stdout, stderr = [(f.seek(0), f.read(), f.close())[1] for f in logs]
        if not os.path.exists(out_path):
          tail = '\n'.join((stderr or stdout).strip().splitlines()[-15:])
          what = ' (Keras 3 consumer)' if name == 'keras3' else ''
          raise CheckerError(f'internal error of the checker: checking '
                             f'{saved_model_dir}{what} crashed (exit '
                             f'{proc.returncode}); output:\n{tail}')
        with open(out_path) as f:
          results[name] = json.load(f)
        results[name]['report'] = stdout.strip().splitlines()
    finally:  # On a crash or an interrupt, stop the other process too.
      for _, logs, proc in procs.values():
        if proc.poll() is None:
          proc.kill()
          proc.wait()
        for f in logs:
          f.close()
  return _merge(results)


def _merge(results: dict) -> dict:
  """One result of the tf_keras and Keras 3 consumer processes: all their
  checks, and the verdict of them together."""
  from official.hub_export.checker import report as report_lib  # pylint: disable=g-import-not-at-top
  result = results['tf_keras']
  k3 = results.get('keras3')
  if not k3:
    return result
  lines = [l for l in result['report'] if not l.startswith('verdict: ')]
  r = report_lib.Report()
  r.checks = result['checks'] + k3['checks']
  if result.get('verdict') == report_lib.NOT_REUSABLE:
    r.not_reusable = result['reason'].split(': ', 1)[-1]
  info = dict(result['info'], keras3=k3['info'])
  merged = r.result(info)
  merged['report'] = lines + k3['report'] + [
      f"verdict: {merged['verdict']}: {merged['reason']}"]
  return merged


def verify(saved_model_dir: str, spec: ExportSpec, cases: Sequence[Case],
           reference: Callable[[Case], Any]) -> dict:
  """Verifies an export; returns the result dict, raises ExportError on FAIL.

  Args:
    saved_model_dir: the written SavedModel.
    spec: its declared API.
    cases: sample calls (include batch 1, an odd batch and two sizes).
    reference: `reference(case)` runs the in-memory source model and returns
      the outputs the export must reproduce (dict/list/tensor, same structure
      as the export's outputs).
  """
  with tempfile.TemporaryDirectory(prefix='hub_export_cases_') as tmp:
    cases_path = os.path.join(tmp, 'cases.npz')
    write_cases(cases_path, cases, reference)
    result = consumer_checks(saved_model_dir, spec.to_json(), cases_path)
  if result['failed']:
    failed = [l for l in result['report'] if l.startswith('FAIL')]
    raise ExportError('\n'.join(
        [f'verification failed for {saved_model_dir}: {len(failed)} check(s) '
         'failed; the export was not written (run with --verbosity=1 for '
         'details):'] + ['  ' + l for l in failed]))
  if result.get('errors'):
    errors = [l for l in result['report'] if l.startswith('ERROR')]
    raise CheckerError('\n'.join(
        [f'verification of {saved_model_dir} could not finish: internal '
         f'error of the checker in {len(errors)} check(s) (a bug of this '
         'tool, not a finding about the export); the export was not '
         'written:'] + ['  ' + l for l in errors]))
  return result

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

The driver verifies all the exports of a run at once (`verify_many`): the
consumer processes are started with the export (`WarmProcesses`: their
imports overlap it), the source model is let go once its outputs are
written, and `_Scheduler` runs the processes two at a time where the cores
and the memory they are estimated to need allow. What each step costs:
docs/measurements/benchmarks.md, "Verification cost".
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, List, Optional, Sequence

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
  Keras 3 consumer (TFSMLayer; `checker/keras3.py`) run in processes of
  their own (Keras 3 and tf_keras cannot share one), side by side where
  the machine has the cores and memory (`_Scheduler`); their results are
  merged. Returns the result dict (`checks`, `info`, `passed`, `failed`,
  `errors`, `verdict`, `reason`; the Keras 3 process's info under
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
    job = _Job(saved_model_dir, tmp, spec, cases_npz, task, allow_ops, keras3)
    with _Scheduler() as scheduler:
      return scheduler.run([job])[0]


class _Job:
  """The consumer processes of one SavedModel, and their merged result."""

  def __init__(self, saved_model_dir, tmp, spec=None, cases_npz=None,
               task=None, allow_ops=(), keras3=True):
    self.saved_model_dir = saved_model_dir
    self.tmp = tmp
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
    # Beside a Keras 3 process, the sub-objects' numerical checks (BERT's
    # `.mlm`: calls, shape sweep, gradients) run there, not in the tf_keras
    # one: the two processes then take about as long as each other
    # (docs/measurements/benchmarks.md, "Verification cost").
    split = bool(keras3 and spec and spec.get('subobjects'))
    self.args = args + (['--split_subobjects'] if split else [])
    self.consumers = ['tf_keras'] + (['keras3'] if keras3 else [])
    self.results = {}
    # What one consumer process holds at its peak, for the scheduler:
    # the TensorFlow runtime, and the weights several times over (the
    # loaded object, gradients, activations of the checks); the factors
    # fit the peaks measured at BERT-base and BERT-large
    # (docs/measurements/benchmarks.md, "Verification cost").
    self.size = size = sum(os.path.getsize(os.path.join(d, f))
                           for d, _, fs in os.walk(saved_model_dir)
                           for f in fs)
    # (Split: the Keras 3 process also holds `.mlm`'s gradients.)
    self.memory = {'tf_keras': 1.0e9 + 6.5 * size,
                   'keras3': 1.0e9 + (4.8 if split else 3.5) * size}

  def arguments(self, consumer):
    """(the checker's arguments, the JSON result file) for `consumer`."""
    out = os.path.join(self.tmp, f'{consumer}.json')
    return self.args + [f'--output={out}'], out

  def collect(self, consumer, out_path, stdout, stderr, returncode):
    if not os.path.exists(out_path):
      tail = '\n'.join((stderr or stdout).strip().splitlines()[-15:])
      what = ' (Keras 3 consumer)' if consumer == 'keras3' else ''
      raise CheckerError(f'internal error of the checker: checking '
                         f'{self.saved_model_dir}{what} crashed (exit '
                         f'{returncode}); output:\n{tail}')
    with open(out_path) as f:
      self.results[consumer] = json.load(f)
    self.results[consumer]['report'] = stdout.strip().splitlines()

  @property
  def done(self):
    return len(self.results) == len(self.consumers)

  def result(self):
    return _merge(self.results)


def _available_memory():
  """Bytes the machine can still give (MemAvailable), or None."""
  try:
    with open('/proc/meminfo') as f:
      for line in f:
        if line.startswith('MemAvailable:'):
          return int(line.split()[1]) * 1024
  except (OSError, ValueError, IndexError):
    pass
  return None


def _spawn(consumer, args, folder, stdin):
  """Starts a `consumer` checker process with `args`, its output in files
  under `folder` (files, not pipes: no process can block on a full pipe
  while another is waited for); returns (logs, process)."""
  logs = [open(os.path.join(folder, f'{consumer}.{s}'), 'w+')
          for s in ('out', 'err')]
  proc = subprocess.Popen(
      [sys.executable, '-I', CHECKER] +
      (['--keras3'] if consumer == 'keras3' else []) + args, cwd=folder,
      env=consumer_env(keras3=consumer == 'keras3'), stdin=stdin,
      stdout=logs[0], stderr=logs[1], text=True)
  return logs, proc


def _stop(logs, proc):
  """Ends a checker process if it still runs, and closes its files."""
  if proc.poll() is None:
    proc.kill()
    proc.wait()
  for f in logs:
    f.close()


class WarmProcesses:
  """Consumer processes started before their SavedModels exist.

  One of each kind (tf_keras, Keras 3) imports TensorFlow and its Keras
  while the export is being written, then waits for its arguments on stdin
  (`checker/__main__.py --args_from_stdin`): the seconds of start-up leave
  the critical path (the export's tracing keeps one core of two busy, the
  imports get the other). Nothing is loaded before the arguments come, so
  the op scan still runs first. `verify_many` hands them their first
  SavedModels; `close()` ends any not used.
  """

  def __init__(self):
    self.tmp = tempfile.mkdtemp(prefix='hub_export_warm_')
    self.procs = {}
    for consumer in ('tf_keras', 'keras3'):
      self.procs[consumer] = _spawn(consumer, ['--args_from_stdin'],
                                    self.tmp, subprocess.PIPE)

  def take(self, consumer):
    """(logs, process) waiting for `consumer` arguments, or None."""
    return self.procs.pop(consumer, None)

  def close(self):
    for logs, proc in self.procs.values():
      _stop(logs, proc)
    self.procs = {}
    shutil.rmtree(self.tmp, ignore_errors=True)


class _Scheduler:
  """Runs consumer processes, several at once where the machine allows.

  A process starts when fewer than `slots` (one per core, at most 2) run
  and, besides the first, when its estimated peak memory fits in what the
  machine has available beside the ones running. The longest first: the
  biggest SavedModel's two processes (which take about as long as each
  other: the sub-objects' numerical checks run in the Keras 3 one), then
  the next's. On a failed SavedModel the remaining processes are stopped
  (`fail_fast`).
  """

  def __init__(self, slots=None, warm=None):
    self.slots = slots or max(1, min(2, os.cpu_count() or 1))
    self.budget = _available_memory()
    self.warm = warm
    self.running = []  # (job, consumer, out_path, logs, proc)

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    for *_, logs, proc in self.running:  # On a crash or an interrupt.
      _stop(logs, proc)
    self.running = []

  def _start(self, job, consumer):
    args, out = job.arguments(consumer)
    warm = self.warm.take(consumer) if self.warm else None
    if warm is not None and warm[1].poll() is None:
      logs, proc = warm
      try:
        proc.stdin.write(json.dumps(args) + '\n')
        proc.stdin.close()
      except OSError:  # It died waiting: its logs say why (collect).
        pass
    else:
      logs, proc = _spawn(consumer, args, job.tmp, subprocess.DEVNULL)
    self.running.append((job, consumer, out, logs, proc))

  def _fits(self, job, consumer):
    if not self.running:
      return True
    if len(self.running) >= self.slots:
      return False
    need = job.memory[consumer] + sum(j.memory[c] for j, c, *_ in
                                      self.running)
    return self.budget is None or need <= self.budget

  def run(self, jobs, fail_fast=None):
    """Runs every job's consumers; returns their merged results in order.
    `fail_fast(job)` (called as each job completes) may raise to stop."""
    queue = [(j, c) for j in sorted(jobs, key=lambda j: -j.size)
             for c in j.consumers]
    while queue or self.running:
      while queue and self._fits(*queue[0]):
        self._start(*queue.pop(0))
      time.sleep(0.05)
      for entry in list(self.running):
        job, consumer, out, logs, proc = entry
        if proc.poll() is None:
          continue
        self.running.remove(entry)
        stdout, stderr = [(f.seek(0), f.read(), f.close())[1] for f in logs]
        job.collect(consumer, out, stdout, stderr, proc.returncode)
        if job.done and fail_fast is not None:
          fail_fast(job)
    return [j.result() for j in jobs]


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
  r.seconds = result['info'].get('seconds', {})
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
  return verify_many([(saved_model_dir, spec, cases, reference)])[0]


def verify_many(exports: List[tuple],
                release: Optional[Callable[[], None]] = None,
                warm: Optional[WarmProcesses] = None) -> list:
  """Verifies several exports of one run; `verify` for each, faster.

  `exports` is a list of (saved_model_dir, spec, cases, reference) as
  `verify` takes them; it is emptied as the source model's outputs for
  every export are computed. Then `release()` lets the caller drop the
  source model (its own references to it), so that
  its memory is free before any consumer process loads an export; then
  the consumer processes of all the exports share the machine (`_Scheduler`:
  the encoder's tf_keras checks beside its Keras 3 ones and the
  preprocessor's), the first of each kind in `warm`'s processes if given
  (closed at the end). The first export that fails stops the rest.
  """
  try:
    return _verify_many(exports, release, warm)
  finally:
    if warm is not None:
      warm.close()


def _verify_many(exports, release, warm):
  with tempfile.TemporaryDirectory(prefix='hub_export_verify_') as tmp:
    jobs = []
    while exports:  # Emptied: nothing here keeps the source model alive.
      path, spec, cases, reference = exports.pop(0)
      work = os.path.join(tmp, str(len(jobs)))
      os.makedirs(work)
      cases_path = os.path.join(work, 'cases.npz')
      write_cases(cases_path, cases, reference)
      jobs.append((path, work, spec.to_json(), cases_path))
      del reference
    if release is not None:
      release()
    for path, *_ in jobs:
      refused = refused_by_op_scan(path)
      if refused is not None:
        _raise_on_failure(path, refused)
    jobs = [_Job(path, work, spec, cases_path)
            for path, work, spec, cases_path in jobs]
    with _Scheduler(warm=warm) as scheduler:
      results = scheduler.run(jobs, fail_fast=lambda job: _raise_on_failure(
          job.saved_model_dir, job.result()))
  for job, result in zip(jobs, results):
    _raise_on_failure(job.saved_model_dir, result)
  return results


def _raise_on_failure(saved_model_dir, result):
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

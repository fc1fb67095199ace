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

The driver verifies each export of a run as soon as it is written
(`Verifier`): checker processes of both kinds start with the export (their
imports overlap it) and each checks one SavedModel after another; an
export's checks run while the recipe writes the next export, two at a time
where the cores and the memory they are estimated to need allow; the
source model is let go once the last export's outputs are written. What
each step costs: docs/measurements/benchmarks.md, "Verification cost".
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
  the machine has the cores and memory (`Verifier`); their results are
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
  # (A failed model gets its report here, not an ExportError.)
  verifier = Verifier(warm=False, fail_fast=False)
  try:
    verifier.submit(_Job(saved_model_dir, verifier.tmp, spec, cases_npz,
                         task, allow_ops, keras3))
    return verifier.finish()[0]
  finally:
    verifier.close()


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
    # `.mlm`: calls, shape sweep, gradients) and the re-save round trip run
    # there, not in the tf_keras one: the two processes then take about as
    # long as each other (docs/measurements/benchmarks.md, "Verification
    # cost").
    split = bool(keras3 and spec)
    self.args = args + (['--split'] if split else [])
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
    subobjects = split and spec.get('subobjects')
    self.memory = {'tf_keras': 1.0e9 + 6.5 * size,
                   'keras3': 1.0e9 + (4.8 if subobjects else 3.5) * size}

  def arguments(self, consumer):
    """(the checker's arguments, the JSON result file) for `consumer`."""
    out = os.path.join(self.tmp, f'{consumer}.json')
    return self.args + [f'--output={out}'], out

  def collect(self, consumer, out_path, log, returncode):
    """Reads `consumer`'s result file; CheckerError if its process ended
    (exit status `returncode`) without writing it: a crash."""
    if not os.path.exists(out_path):
      tail = '\n'.join(log.strip().splitlines()[-15:])
      what = ' (Keras 3 consumer)' if consumer == 'keras3' else ''
      raise CheckerError(f'internal error of the checker: checking '
                         f'{self.saved_model_dir}{what} crashed (exit '
                         f'{returncode}); output:\n{tail}')
    with open(out_path) as f:
      self.results[consumer] = json.load(f)

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


def _rss(pid):
  """Resident bytes of process `pid`, or 0."""
  try:
    with open(f'/proc/{pid}/status') as f:
      for line in f:
        if line.startswith('VmRSS:'):
          return int(line.split()[1]) * 1024
  except (OSError, ValueError, IndexError):
    pass
  return 0


class _Worker:
  """One checker process (`checker/__main__.py --jobs_from_stdin`).

  It imports TensorFlow and its Keras as soon as it starts, then checks one
  SavedModel per line of arguments it reads (a JSON list), writing each
  result file whole (renamed into place) before it reads the next line;
  end of input ends it. Its log goes to files, not pipes: no process can
  block on a full pipe while another is waited for.
  """

  def __init__(self, consumer, folder, number):
    self.consumer = consumer
    self.logs = [open(os.path.join(folder, f'{consumer}.{number}.{s}'), 'w+')
                 for s in ('out', 'err')]
    self.proc = subprocess.Popen(
        [sys.executable, '-I', CHECKER] +
        (['--keras3'] if consumer == 'keras3' else []) + ['--jobs_from_stdin'],
        cwd=folder, env=consumer_env(keras3=consumer == 'keras3'),
        stdin=subprocess.PIPE, stdout=self.logs[0], stderr=self.logs[1],
        text=True)
    self.task = None  # (job, result file) being checked

  def give(self, job):
    args, out = job.arguments(self.consumer)
    self.task = (job, out)
    try:
      self.proc.stdin.write(json.dumps(args) + '\n')
      self.proc.stdin.flush()
    except OSError:  # It died waiting: `finished` reports it.
      pass

  def finished(self):
    """True once the task's result is written, or the process ended (the
    job's `collect` then finds no result: a crash)."""
    return bool(self.task) and (os.path.exists(self.task[1]) or
                                self.proc.poll() is not None)

  def output(self):
    """The process's log so far (stderr, else stdout)."""
    texts = []
    for f in self.logs:
      f.flush()
      f.seek(0)
      texts.append(f.read())
    return texts[1] if texts[1].strip() else texts[0]

  def end_input(self):
    """No more jobs: the process exits once it is done."""
    try:
      self.proc.stdin.close()
    except OSError:
      pass

  def stop(self):
    """Ends the process (it may be cleaning up after its last job)."""
    self.end_input()
    if self.proc.poll() is None:
      self.proc.kill()
      self.proc.wait()
    for f in self.logs:
      f.close()


class Verifier:
  """Verifies the SavedModels of a run as they are written.

  Checker processes (`_Worker`) of both kinds, tf_keras and Keras 3, start
  at once: their imports overlap the export. `add` writes an export's
  sample outputs (the source model's) and starts its checks in free
  processes while the recipe goes on to the next export: a BERT recipe's
  preprocessor is checked while its encoder is traced. A process that
  finished one SavedModel takes the next of its kind (no second start-up).
  At most `slots` (one per core, at most 2) check at once, and, besides the
  first, only where their estimated peak memory fits in what the machine
  has; the biggest SavedModel waiting goes first. With `fail_fast`, the
  first failed SavedModel raises ExportError (from `add` or `finish`).
  """

  def __init__(self, slots=None, warm=True, fail_fast=True):
    self.tmp = tempfile.mkdtemp(prefix='hub_export_verify_')
    self.slots = slots or max(1, min(2, os.cpu_count() or 1))
    self.workers: List[_Worker] = []
    self.queue = []  # (job, consumer) waiting for a process
    self.jobs = []
    self.finishing = False
    self.fail_fast = fail_fast
    self._started = 0
    if warm:
      for consumer in ('tf_keras', 'keras3'):
        self._worker(consumer)

  def _worker(self, consumer):
    self._started += 1
    w = _Worker(consumer, self.tmp, self._started)
    self.workers.append(w)
    return w

  def add(self, saved_model_dir: str, spec: ExportSpec, cases: Sequence[Case],
          reference: Callable[[Case], Any]) -> None:
    """Writes the source model's outputs on `cases`, scans the export's ops
    and starts its checks (what the machine allows now; the rest later)."""
    work = os.path.join(self.tmp, f'job{len(self.jobs)}')
    os.makedirs(work)
    cases_path = os.path.join(work, 'cases.npz')
    write_cases(cases_path, cases, reference)
    refused = refused_by_op_scan(saved_model_dir)
    if refused is not None:
      _raise_on_failure(saved_model_dir, refused)
    self.submit(_Job(saved_model_dir, work, spec.to_json(), cases_path))

  def submit(self, job: '_Job') -> None:
    self.jobs.append(job)
    self.queue += [(job, c) for c in job.consumers]
    self.queue.sort(key=lambda t: -t[0].size)  # (Stable: tf_keras first.)
    self.poll()

  def poll(self) -> None:
    """Collects finished checks (raising on a failed SavedModel) and starts
    waiting ones where a process and the machine allow."""
    for w in list(self.workers):
      if w.finished():
        job, out = w.task
        w.task = None
        running = w.proc.poll() is None
        job.collect(w.consumer, out, w.output(),
                    None if running else w.proc.returncode)
        if not running:
          self.workers.remove(w)
          w.stop()
        if job.done and self.fail_fast:
          _raise_on_failure(job.saved_model_dir, job.result())
    for w in [w for w in self.workers if not w.task and
              w.proc.poll() is not None]:  # Ended between jobs.
      self.workers.remove(w)
      w.stop()
    while self.queue and self._fits(*self.queue[0]):
      job, consumer = self.queue.pop(0)
      idle = [w for w in self.workers
              if w.consumer == consumer and not w.task]
      (idle[0] if idle else self._worker(consumer)).give(job)
    if self.finishing:  # Idle processes no queued job needs exit.
      kinds = {c for _, c in self.queue}
      for w in self.workers:
        if not w.task and w.consumer not in kinds:
          w.end_input()

  def _fits(self, job, consumer):
    busy = [w for w in self.workers if w.task]
    if not busy:
      return True
    if len(busy) >= self.slots:
      return False
    available = _available_memory()
    if available is None:
      return True
    # What the running checks still take: their estimated peaks, less what
    # they hold already (counted as used in `available`).
    need = job.memory[consumer] + sum(
        max(0, w.task[0].memory[w.consumer] - _rss(w.proc.pid)) for w in busy)
    return need <= available

  def finish(self) -> list:
    """Waits for every SavedModel's checks; their merged results in order."""
    self.finishing = True
    self.poll()
    while any(w.task for w in self.workers) or self.queue:
      time.sleep(0.05)
      self.poll()
    return [j.result() for j in self.jobs]

  def close(self) -> None:
    """Ends every process (any still checking, after a failure) and removes
    the working files."""
    for w in self.workers:
      w.stop()
    self.workers = []
    shutil.rmtree(self.tmp, ignore_errors=True)


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
  verifier = Verifier(warm=False)
  try:
    verifier.add(saved_model_dir, spec, cases, reference)
    return verifier.finish()[0]
  finally:
    verifier.close()


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

"""Shared pieces of the benchmark scripts (no TensorFlow import here).

Every export and every consumer-side measurement runs in its own process, as
a user runs it: `timed()` reports its wall time and peak memory: of the
process and every process it started, together, as the machine sees them
(the sum of their proportional set sizes, PSS, sampled every 0.2 s; shared
library pages are split between the processes, not counted once per
process), and `ru_maxrss`, the largest single process; `consumers()` runs
`benchmarks/probe.py` for ours and theirs, interleaved (cold `hub.load`,
`hub.KerasLayer` construction, inference latency, a fine-tuning step,
outputs).
"""
import dataclasses
import importlib.metadata
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from typing import List, Optional

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(ROOT, 'benchmarks')
PY = sys.executable
MB = 2**20


def env():
  e = dict(os.environ)
  e.pop('PYTHONPATH', None)
  e.update(TF_CPP_MIN_LOG_LEVEL='3', TF_USE_LEGACY_KERAS='1')
  return e


@dataclasses.dataclass
class Timed:
  wall_s: float
  peak_rss_bytes: int  # the largest single process (ru_maxrss)
  returncode: int
  log: str  # stdout + stderr file
  stdout: str
  # The process and its descendants together (sum of PSS), sampled; None
  # where /proc has no smaps_rollup.
  peak_tree_bytes: Optional[int] = None

  @property
  def peak_memory_bytes(self) -> int:
    """All processes together where measured, else the largest one."""
    return self.peak_tree_bytes or self.peak_rss_bytes


def _descendants(pid: int) -> List[int]:
  """pid and every process under it (from /proc/*/stat)."""
  children = {}
  for name in os.listdir('/proc'):
    if not name.isdigit():
      continue
    try:
      with open(f'/proc/{name}/stat') as f:
        ppid = int(f.read().rsplit(')', 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
      continue
    children.setdefault(ppid, []).append(int(name))
  out, todo = [], [pid]
  while todo:
    p = todo.pop()
    out.append(p)
    todo.extend(children.get(p, []))
  return out


def tree_pss(pid: int) -> Optional[int]:
  """Sum of the proportional set sizes of pid and its descendants, bytes
  (None without /proc/PID/smaps_rollup)."""
  total, seen = 0, False
  for p in _descendants(pid):
    try:
      with open(f'/proc/{p}/smaps_rollup') as f:
        for line in f:
          if line.startswith('Pss:'):
            total += int(line.split()[1]) * 1024
            seen = True
            break
    except (OSError, ValueError, IndexError):
      continue
  return total if seen else None


def timed(cmd: List[str], log: str, cwd: str = ROOT, check: bool = True,
          timeout: Optional[float] = None,
          environ: Optional[dict] = None) -> Timed:
  """Runs `cmd` in a new process (environment `environ`, default `env()`);
  its wall time and peak memory (see the module docstring)."""
  tree_peak, next_sample = None, 0.0
  with open(log, 'w') as f:
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=environ or env(), stdout=f,
                            stderr=subprocess.STDOUT)
    deadline = time.time() + timeout if timeout else None
    while True:
      if time.perf_counter() >= next_sample:
        now = tree_pss(proc.pid)
        if now is not None:
          tree_peak = max(tree_peak or 0, now)
        next_sample = time.perf_counter() + 0.2
      pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
      if pid:
        break
      if deadline and time.time() > deadline:
        proc.kill()
        pid, status, usage = os.wait4(proc.pid, 0)
        break
      time.sleep(0.05)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
  with open(log) as f:
    out = f.read()
  rss = usage.ru_maxrss * (1 if sys.platform == 'darwin' else 1024)
  if check and proc.returncode:
    raise RuntimeError(f'{" ".join(cmd)} failed (exit {proc.returncode}); '
                       f'log {log}:\n{out[-3000:]}')
  return Timed(wall, rss, proc.returncode, log, out, tree_peak)


def probe(args: List[str], log: str, cwd: str) -> dict:
  """One consumer-side measurement in a fresh process (see probe.py)."""
  r = timed([PY, os.path.join(HERE, 'probe.py')] + args, log, cwd=cwd)
  m = re.search(r'^PROBE (.*)$', r.stdout, re.M)
  if not m:
    raise RuntimeError(f'probe {args[0]}: no result; log {log}')
  return json.loads(m.group(1))


TIMING = ('calls', 'budget_s', 'steps')


def consumers(models, workdir: str, repeats: int, quick: bool) -> dict:
  """Consumer-side measurements of ours and theirs, interleaved.

  models: [(name, path, opts)] (see probe.py for opts; the timing options
  `calls`, `budget_s`, `steps` are taken from the first). One `probe.py run`
  process measures all of them (latency and fine-tuning steps interleaved
  call by call); then each cold-process measurement (hub.load, then
  hub.KerasLayer) runs once per model in turn, `repeats` times, the order
  reversed every other round, so that load from other jobs on the machine
  hits every model alike. With `quick`, only the `run` process (its load
  times are cold only for the first model). Returns {name: result}.
  """
  logs = os.path.join(workdir, 'logs')
  os.makedirs(logs, exist_ok=True)
  names = [n for n, _, _ in models]
  spec = dict(
      models=[dict(name=n, path=p, opts=o, npz=os.path.join(workdir, f'{n}.npz'))
              for n, p, o in models],
      timing=dict({k: models[0][2][k] for k in TIMING if k in models[0][2]},
                  keraslayer=quick))
  # From a neutral directory, as a consumer (this repository not importable).
  cwd = os.path.dirname(models[0][1])
  res = probe(['run', json.dumps(spec)],
              os.path.join(logs, f'{"+".join(names)}.run.log'), cwd)
  for m in spec['models']:
    res[m['name']]['npz'] = m['npz']
  if quick:
    for r in res.values():
      r['load_runs'], r['keraslayer_runs'] = [r['load_s']], [r['keraslayer_s']]
  else:
    for r in res.values():
      r['load_runs'], r['keraslayer_runs'] = [], []
    for i in range(repeats):
      order = models if i % 2 == 0 else models[::-1]
      for mode in ('load', 'keraslayer'):
        for name, path, opts in order:
          res[name][f'{mode}_runs'].append(probe(
              [mode, path, json.dumps(opts)],
              os.path.join(logs, f'{name}.{mode}{i}.log'),
              os.path.dirname(path))[f'{mode}_s'])
    for r in res.values():
      r['load_s'] = statistics.median(r['load_runs'])
      r['keraslayer_s'] = statistics.median(r['keraslayer_runs'])
  for (name, path, _) in models:
    res[name].update(sizes(path))
    res[name]['overhead_bytes'] = (res[name]['total_bytes']
                                   - res[name]['raw_param_bytes'])
  return res


def interleaved(runs: dict, rounds: int) -> dict:
  """Runs each `runs[name]()` (a callable(round) -> Timed) `rounds` times,
  the order reversed every other round (contention from other jobs hits all
  alike). Returns {name: [Timed per round]}."""
  names = list(runs)
  out = {n: [] for n in names}
  for i in range(rounds):
    for n in (names if i % 2 == 0 else names[::-1]):
      out[n].append(runs[n](i))
  return out


def sizes(path: str) -> dict:
  """saved_model.pb, variables/ and total (without assets.extra/, which only
  ours has: model card, export record, operative config)."""
  total = 0
  for d, dirs, files in os.walk(path):
    if os.path.relpath(d, path).split(os.sep)[0] == 'assets.extra':
      continue
    total += sum(os.path.getsize(os.path.join(d, f)) for f in files)
  var = os.path.join(path, 'variables')
  return dict(
      pb_bytes=os.path.getsize(os.path.join(path, 'saved_model.pb')),
      variables_bytes=sum(os.path.getsize(os.path.join(var, f))
                          for f in os.listdir(var)),
      total_bytes=total)


def max_abs_diff(npz_a: str, npz_b: str, keys=None) -> dict:
  """Max abs difference per common output (float64)."""
  a, b = np.load(npz_a), np.load(npz_b)
  out = {}
  for k in sorted(set(a.files) & set(b.files)):
    if keys and k not in keys:
      continue
    x, y = a[k], b[k]
    if x.shape != y.shape:
      out[k] = float('inf')
      continue
    out[k] = float(np.abs(x.astype(np.float64) - y.astype(np.float64)).max()
                   ) if x.size else 0.0
  return out


def driver_split(stdout: str) -> Optional[tuple]:
  """(export s, verification s) from our driver's summary line."""
  m = re.search(r'in ([\d.]+) s \(export ([\d.]+) s, verification ([\d.]+) s\)',
                stdout)
  return (float(m.group(2)), float(m.group(3))) if m else None


def machine() -> dict:
  mem = ''
  try:
    with open('/proc/meminfo') as f:
      kb = int(re.search(r'MemTotal:\s+(\d+)', f.read()).group(1))
    mem = f'{kb / 2**20:.1f} GiB'
  except (OSError, AttributeError):
    pass
  cpu = platform.processor()
  try:
    with open('/proc/cpuinfo') as f:
      cpu = re.search(r'model name\s*:\s*(.*)', f.read()).group(1).strip()
  except (OSError, AttributeError):
    pass
  versions = {}
  for pkg in ('tensorflow', 'tf-keras', 'tf-models-official',
              'tensorflow-hub', 'tensorflow-text'):
    try:
      versions[pkg] = importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
      versions[pkg] = 'not installed'
  return dict(cores=os.cpu_count(), memory=mem, cpu=cpu,
              python=platform.python_version(), platform=platform.platform(),
              versions=versions, loadavg=os.getloadavg())


# --- Result rows -------------------------------------------------------------

@dataclasses.dataclass
class Row:
  """One line of a case's table: ours vs theirs (lower is better)."""
  metric: str
  ours: Optional[float]
  theirs: Optional[float]
  unit: str = ''
  target: Optional[float] = None   # ratio ours/theirs must be <= target
  note: str = ''
  absolute_target: Optional[float] = None  # ours (a diff) must be <= this
  fmt: str = '{:.2f}'

  @property
  def ratio(self) -> Optional[float]:
    if self.ours is None or self.theirs in (None, 0):
      return None
    return self.ours / self.theirs

  @property
  def verdict(self) -> str:
    if self.absolute_target is not None:
      if self.ours is None:
        return ''
      ok = self.ours <= self.absolute_target
      return f'{"met" if ok else "MISSED"} (<= {self.absolute_target:g})'
    if self.target is None or self.ratio is None:
      return ''
    ok = self.ratio <= self.target
    return f'{"met" if ok else "MISSED"} (<= {self.target:g}x)'

  def cells(self) -> List[str]:
    f = lambda v: '—' if v is None else self.fmt.format(v)
    ratio = '' if self.ratio is None else f'{self.ratio:.2f}x'
    return [self.metric + (f' ({self.unit})' if self.unit else ''),
            f(self.ours), f(self.theirs), ratio, self.verdict, self.note]


def table(rows: List[Row], theirs: str = 'Model Garden') -> str:
  head = ['metric', 'ours', theirs, 'ours / theirs', 'target', 'notes']
  lines = ['| ' + ' | '.join(head) + ' |', '|' + ' --- |' * len(head)]
  for r in rows:
    lines.append('| ' + ' | '.join(c.replace('|', '/') for c in r.cells())
                 + ' |')
  return '\n'.join(lines)

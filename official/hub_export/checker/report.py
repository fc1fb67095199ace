"""Check results: one `PASS|WARN|FAIL|ERROR name: value (detail)` line each.

FAIL is a finding about the model; ERROR is an internal error of the checker
(a check that raised where the model gave it no reason to): the model is not
judged by it, and the tools exit with their own status for it.
"""

import contextlib
import os
import time
import traceback

PASS, WARN, FAIL, ERROR = 'PASS', 'WARN', 'FAIL', 'ERROR'
# Verdicts of a whole run (`verdict`).
NOT_REUSABLE = 'NOT_REUSABLE'


class ModelError(Exception):
  """The model raised or refused where a correct model would not: a FAIL.

  Raised by `model_call` around every call into the loaded model (its
  functions on inputs that fit its own signatures, hub.load, hub.KerasLayer).
  """

  def __init__(self, error):
    super().__init__(str(error))
    self.error = error


def model_call(fn, *args, **kwargs):
  """fn(*args, **kwargs); whatever it raises is the model's (ModelError)."""
  try:
    return fn(*args, **kwargs)
  except ModelError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise ModelError(e) from e


def _first_line(e):
  msg = str(e).strip().splitlines()
  return (msg[0] if msg else '')[:300]


def _where(e):
  """file:line of the checker's frame closest to where `e` was raised."""
  here = os.path.dirname(os.path.abspath(__file__))
  frames = [f for f in traceback.extract_tb(e.__traceback__)
            if os.path.dirname(os.path.abspath(f.filename)) == here]
  if not frames:
    return ''
  f = frames[-1]
  return f'{os.path.basename(f.filename)}:{f.lineno}'


@contextlib.contextmanager
def without_graph_rewrites():
  """Runs the calls inside without Grappler's graph rewrites.

  For checks whose numbers are not compared with the source model's
  (gradients are finite and non-zero, a fit step moves weights, dropout and
  batch-norm controls act): rewriting each new graph is a sizeable part of
  their time (docs/measurements/benchmarks.md, "Verification cost") and
  changes neither which variables a loss reaches nor what an update does. The comparisons with the source run the graphs as a
  consumer's TensorFlow does, rewritten.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  before = tf.config.optimizer.get_experimental_options().get(
      'disable_meta_optimizer', False)
  tf.config.optimizer.set_experimental_options(
      {'disable_meta_optimizer': True})
  try:
    yield
  finally:
    tf.config.optimizer.set_experimental_options(
        {'disable_meta_optimizer': before})


class Report:
  """Collects check results."""

  def __init__(self):
    self.checks = []
    self.not_reusable = None  # Why the model is not a reusable SavedModel.
    self.seconds = {}  # Wall time of each guarded group (the phase table).

  def add(self, status, name, value='', detail=''):
    self.checks.append({'status': status, 'name': name, 'value': value,
                        'detail': detail})

  def ok(self, cond, name, value='', detail='', fail=FAIL):
    self.add(PASS if cond else fail, name, value, detail)
    return cond

  def guard(self, name, fn):
    """Runs fn(); an exception becomes a line.

    The model's errors (ModelError: raised by a call into the model; a
    TensorFlow runtime error of its graph) are FAILs; any other exception
    is a bug of the checker: an ERROR, which does not judge the model.
    """
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    t0 = time.perf_counter()
    try:
      return fn()
    except ModelError as e:
      self.add(FAIL, name, type(e.error).__name__, _first_line(e.error))
    except tf.errors.OpError as e:
      self.add(FAIL, name, type(e).__name__, _first_line(e))
    except Exception as e:  # pylint: disable=broad-except
      where = _where(e)
      self.add(ERROR, name, f'internal error of the checker: '
               f'{type(e).__name__}' + (f' at {where}' if where else ''),
               _first_line(e))
    finally:
      self.seconds[name] = round(
          self.seconds.get(name, 0) + time.perf_counter() - t0, 3)
    return None

  @property
  def failed(self):
    return [c for c in self.checks if c['status'] == FAIL]

  @property
  def errors(self):
    return [c for c in self.checks if c['status'] == ERROR]

  def verdict(self):
    """(verdict, reason): FAIL (a check failed), ERROR (no FAIL, but the
    checker could not finish a check), NOT_REUSABLE (the checks that apply
    passed, but it is not a reusable SavedModel) or PASS."""
    if self.failed:
      names = ', '.join(c['name'] for c in self.failed[:3])
      more = len(self.failed) - 3
      return FAIL, f'{len(self.failed)} check(s) failed: {names}' + (
          f' and {more} more' if more > 0 else '')
    if self.errors:
      return ERROR, (f'internal error of the checker in {len(self.errors)} '
                     f'check(s) ({self.errors[0]["name"]}); this is not a '
                     'verdict on the model: please report it')
    if self.not_reusable:
      return NOT_REUSABLE, f'not a reusable SavedModel: {self.not_reusable}'
    return PASS, f'{sum(c["status"] == PASS for c in self.checks)} checks ' \
        'passed'

  def result(self, info):
    """The JSON result of a run."""
    verdict, reason = self.verdict()
    info = dict(info, seconds=self.seconds)
    return {'checks': self.checks, 'info': info,
            'failed': len(self.failed), 'errors': len(self.errors),
            'passed': sum(c['status'] == PASS for c in self.checks),
            'verdict': verdict, 'reason': reason}

  def lines(self):
    for c in self.checks:
      s = f"{c['status']} {c['name']}"
      if c['value'] != '':
        s += f": {c['value']}"
      if c['detail'] and c['status'] != PASS:
        s += f" ({c['detail']})"
      yield s


def write_result(path, result, lines):
  """Writes the result (and its report `lines`) as JSON to `path`, whole:
  a verify.py worker's parent takes the file's existence as the end of the
  job, so it appears by rename, never half-written."""
  import json  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  tmp = f'{path}.partial'
  with open(tmp, 'w') as f:
    json.dump(dict(result, report=list(lines)), f, indent=1, default=str)
  os.replace(tmp, path)

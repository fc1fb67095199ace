"""Check results: one `PASS|WARN|FAIL name: value (detail)` line each."""

PASS, WARN, FAIL = 'PASS', 'WARN', 'FAIL'


class Report:
  """Collects check results."""

  def __init__(self):
    self.checks = []

  def add(self, status, name, value='', detail=''):
    self.checks.append({'status': status, 'name': name, 'value': value,
                        'detail': detail})

  def ok(self, cond, name, value='', detail='', fail=FAIL):
    self.add(PASS if cond else fail, name, value, detail)
    return cond

  def guard(self, name, fn):
    """Runs fn(); an exception becomes a FAIL line."""
    try:
      return fn()
    except Exception as e:  # pylint: disable=broad-except
      msg = str(e).strip().splitlines()
      self.add(FAIL, name, type(e).__name__,
               (msg[0] if msg else '')[:300])
      return None

  @property
  def failed(self):
    return [c for c in self.checks if c['status'] == FAIL]

  def lines(self):
    for c in self.checks:
      s = f"{c['status']} {c['name']}"
      if c['value'] != '':
        s += f": {c['value']}"
      if c['detail'] and c['status'] != PASS:
        s += f" ({c['detail']})"
      yield s

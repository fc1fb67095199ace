"""The export record's helpers (official/hub_export/record.py)."""
import pytest

from official.hub_export import record


def test_fingerprint_in_background_equals_fingerprint(tmp_path):
  files = []
  for i, size in enumerate([0, 5, 3 << 20]):
    path = tmp_path / f'f{i}'
    path.write_bytes(bytes(range(256)) * (size // 256) + b'x' * (size % 256))
    files.append(str(path))
  assert record.fingerprint_in_background(files)() == record.fingerprint(files)


def test_fingerprint_in_background_reraises_the_threads_error(tmp_path):
  result = record.fingerprint_in_background([str(tmp_path / 'missing')])
  with pytest.raises(FileNotFoundError):
    result()

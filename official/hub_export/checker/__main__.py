"""Entry of the isolated checker process: `python -I official/hub_export/checker ...`.

With `-I` neither this folder nor the repository is on `sys.path`, so the
package is loaded from its folder under a private name: its modules import
each other relatively and nothing else of the repository can be imported.
"""
import os
import sys

# `--keras3`: the Keras 3 consumer checks (keras3.py), in a process whose
# Keras is Keras 3; otherwise the tf_keras consumer (hub.KerasLayer).
KERAS3 = '--keras3' in sys.argv[1:]
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
if KERAS3:
  os.environ.pop('TF_USE_LEGACY_KERAS', None)
else:
  os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')


def _load_package(module):
  import importlib.util  # pylint: disable=g-import-not-at-top
  here = os.path.dirname(os.path.abspath(__file__))
  spec = importlib.util.spec_from_file_location(
      '_hub_export_checker', os.path.join(here, '__init__.py'),
      submodule_search_locations=[here])
  package = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = package
  spec.loader.exec_module(package)
  return importlib.import_module(f'{spec.name}.{module}')


def _jobs_from_stdin(cli):
  """`--jobs_from_stdin`: a worker of verify.py, started while the export is
  still being written. It imports what the checks use, then checks one
  SavedModel per line of stdin (the arguments, a JSON list) until the end
  of input, each in a fresh Keras session. A job whose result file is not
  written ends the process (exit 3): verify.py reports it as a crash."""
  import ctypes  # pylint: disable=g-import-not-at-top
  import gc  # pylint: disable=g-import-not-at-top
  import json  # pylint: disable=g-import-not-at-top
  if KERAS3:
    import keras as backend  # pylint: disable=g-import-not-at-top
  else:
    import tensorflow_hub  # pylint: disable=g-import-not-at-top,unused-import
    import tf_keras as backend  # pylint: disable=g-import-not-at-top
  while True:
    line = sys.stdin.readline()
    if not line:
      return 0
    if not line.strip():
      continue
    argv = [str(a) for a in json.loads(line)]
    out = [a.split('=', 1)[1] for a in argv if a.startswith('--output=')]
    cli.main(argv)
    if out and not os.path.exists(out[-1]):
      return 3
    # The next SavedModel starts from a clean slate: no Keras state, the
    # freed heap handed back, the peak-memory mark reset (each result
    # reports its own peak).
    backend.backend.clear_session()
    gc.collect()
    try:
      ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
      pass
    try:
      with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    except OSError:
      pass


if __name__ == '__main__':
  name = 'keras3' if KERAS3 else 'cli'
  if __package__:
    import importlib  # pylint: disable=g-import-not-at-top
    cli = importlib.import_module(f'{__package__}.{name}')
  else:
    cli = _load_package(name)
  argv = [a for a in sys.argv[1:] if a != '--keras3']
  if argv == ['--jobs_from_stdin']:
    sys.exit(_jobs_from_stdin(cli))
  sys.exit(cli.main(argv))

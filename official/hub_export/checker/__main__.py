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


def _argv_from_stdin():
  """`--args_from_stdin`: started ahead of its SavedModel (verify.py starts
  the consumer processes while the export is still being written), the
  process imports what the checks use, then reads its arguments, a JSON
  list on one line of stdin. End of input without a line: nothing to do."""
  import json  # pylint: disable=g-import-not-at-top
  if KERAS3:
    import keras  # pylint: disable=g-import-not-at-top,unused-import
  else:
    import tensorflow_hub  # pylint: disable=g-import-not-at-top,unused-import
    import tf_keras  # pylint: disable=g-import-not-at-top,unused-import
  line = sys.stdin.readline()
  if not line.strip():
    sys.exit(0)
  return [str(a) for a in json.loads(line)]


if __name__ == '__main__':
  name = 'keras3' if KERAS3 else 'cli'
  if __package__:
    import importlib  # pylint: disable=g-import-not-at-top
    cli = importlib.import_module(f'{__package__}.{name}')
  else:
    cli = _load_package(name)
  argv = [a for a in sys.argv[1:] if a != '--keras3']
  if argv == ['--args_from_stdin']:
    argv = _argv_from_stdin()
  sys.exit(cli.main(argv))

"""Entry of the isolated checker process: `python -I official/hub_export/checker ...`.

With `-I` neither this folder nor the repository is on `sys.path`, so the
package is loaded from its folder under a private name: its modules import
each other relatively and nothing else of the repository can be imported.
"""
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')


def _load_package():
  import importlib.util  # pylint: disable=g-import-not-at-top
  here = os.path.dirname(os.path.abspath(__file__))
  spec = importlib.util.spec_from_file_location(
      '_hub_export_checker', os.path.join(here, '__init__.py'),
      submodule_search_locations=[here])
  package = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = package
  spec.loader.exec_module(package)
  return importlib.import_module(spec.name + '.cli')


if __name__ == '__main__':
  if __package__:
    from . import cli  # pylint: disable=g-import-not-at-top
  else:
    cli = _load_package()
  sys.exit(cli.main())

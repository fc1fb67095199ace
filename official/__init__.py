"""Our half of the `official` namespace.

TensorFlow Model Garden (`tf-models-official`) installs a package called
`official` too. Extending `__path__` lets `official.nlp`, `official.vision`, ...
resolve to the installed Model Garden while `official.hub_export` resolves to
this repository. It only works when this repository's root comes first on
`sys.path`; `export_scripts/*.py` and `tests/conftest.py` make sure of that.
"""
import pkgutil

__path__ = pkgutil.extend_path(__path__, __name__)

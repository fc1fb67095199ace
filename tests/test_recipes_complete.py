"""Every recipe in export_scripts/ ships its regression tests.

A recipe `export_scripts/NAME_export.py` must have
  * configs/NAME/tiny.gin             a tiny config for tests
  * tests/testdata/NAME/golden/*.npz  golden outputs of the source model
  * tests/test_NAME_export.py         with an end-to-end test through the
                                      command line and a golden test, its
                                      own or its family contract's (a
                                      tests/*_family.py module it imports)
"""
import glob
import os
import re

import pytest

from conftest import ROOT



def _is_recipe(path):
  """Recipes run through the driver; tools (verify_export, package_export)
  do not."""
  with open(path) as f:
    return 'driver.run(' in f.read()


RECIPES = sorted(
    os.path.basename(p)[:-len('_export.py')]
    for p in glob.glob(os.path.join(ROOT, 'export_scripts', '*_export.py'))
    if _is_recipe(p))


def test_there_are_recipes():
  assert 'mul' in RECIPES


@pytest.mark.parametrize('name', RECIPES)
def test_recipe_has_regression_tests(name):
  assert os.path.isfile(os.path.join(ROOT, 'configs', name, 'tiny.gin')), (
      f'configs/{name}/tiny.gin is missing')
  goldens = glob.glob(os.path.join(ROOT, 'tests', 'testdata', name, 'golden',
                                   '*.npz'))
  assert goldens, f'tests/testdata/{name}/golden/*.npz is missing'
  test_file = os.path.join(ROOT, 'tests', f'test_{name}_export.py')
  assert os.path.isfile(test_file), f'{test_file} is missing'
  with open(test_file) as f:
    source = f.read()
  # A family contract's tests run in the file that declares its member
  # (`recipe='NAME'`), on NAME_export.py's command line.
  member = f"recipe='{name}'" in source
  for family in re.findall(r'^import (\w+_family)(?: as \w+)?$', source,
                           flags=re.M):
    with open(os.path.join(ROOT, 'tests', f'{family}.py')) as f:
      source += f.read()
  assert f"'{name}_export.py'" in source or (
      member and re.search(r"run_script\(f'\{(self\.)?member\.recipe\}"
                           r"_export\.py'", source)), (
      f'{test_file} never runs {name}_export.py through its command line')
  assert re.search(r'def test_end_to_end\w*\(', source), (
      f'{test_file} has no test_end_to_end* test')
  assert 'assert_golden(' in source and re.search(
      r'def test_golden\w*\(', source), f'{test_file} has no golden test'
  with open(os.path.join(ROOT, 'README.md')) as f:
    assert f'{name}_export.py' in f.read(), f'README.md does not document {name}'

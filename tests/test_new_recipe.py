"""Tests of the recipe scaffold (export_scripts/new_recipe.py).

The scaffold runs in a temporary copy of the working tree (never in this
checkout); the recipe it makes must pass its own tests and
tests/test_recipes_complete.py there, untouched. The low-level pattern (a
copy of `mul`) runs by default; `split` (albert) and `posthoc` (efficientnet) run
their copies' whole test files and are `slow`.
"""
import functools
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

SCRIPT = os.path.join('export_scripts', 'new_recipe.py')
# Never copied: the environment, caches, outputs.
_SKIP = {'.venv', '.git', '__pycache__', '.pytest_cache', 'demo_output'}


def _tree_files():
  """The working tree's files as git sees them (tracked and untracked, not
  ignored; deleted ones left out), or a walk without _SKIP without git."""
  try:
    out = subprocess.run(
        ['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
        cwd=ROOT, capture_output=True, check=True).stdout.decode()
    files = [f for f in out.split('\0') if f]
  except (OSError, subprocess.CalledProcessError):
    files = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
      dirnames[:] = [d for d in dirnames if d not in _SKIP]
      rel = os.path.relpath(dirpath, ROOT)
      files += [os.path.normpath(os.path.join(rel, f)) for f in filenames]
  return [f for f in files if os.path.isfile(os.path.join(ROOT, f))
          and not _SKIP.intersection(f.split(os.sep))]


def copy_tree(dst):
  """A copy of the working tree (uncommitted files included) at `dst`."""
  for f in _tree_files():
    target = os.path.join(dst, f)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy2(os.path.join(ROOT, f), target)
  return str(dst)


def _env():
  env = {k: v for k, v in os.environ.items()
         if k != 'PYTHONPATH' and not k.startswith('PYTEST_')}
  env['TF_CPP_MIN_LOG_LEVEL'] = '3'
  return env


def scaffold(repo, *args):
  return subprocess.run([sys.executable, os.path.join(repo, SCRIPT), *args],
                        cwd=repo, env=_env(), capture_output=True, text=True,
                        timeout=120, check=False)


def run_tests(repo, name, timeout):
  """pytest on the new recipe's tests and the completeness check, in `repo`."""
  return subprocess.run(
      [sys.executable, '-m', 'pytest', '-v', '-p', 'no:cacheprovider',
       f'tests/test_{name}_export.py', 'tests/test_recipes_complete.py'],
      cwd=repo, env=_env(), capture_output=True, text=True, timeout=timeout,
      check=False)


def snapshot(repo):
  """Every file under `repo` with a hash of its contents."""
  state = {}
  for dirpath, dirnames, filenames in os.walk(repo):
    dirnames[:] = [d for d in dirnames if d not in _SKIP]
    for f in filenames:
      path = os.path.join(dirpath, f)
      with open(path, 'rb') as fh:
        state[os.path.relpath(path, repo)] = hashlib.sha256(
            fh.read()).hexdigest()
  return state


def assert_refused(repo, args, fragment):
  before = snapshot(repo)
  proc = scaffold(repo, *args)
  assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
  errors = [l for l in proc.stderr.splitlines() if l.startswith('error: ')]
  assert len(errors) == 1 and 'Traceback' not in proc.stderr, proc.stderr
  assert fragment in errors[0], (fragment, errors[0])
  assert snapshot(repo) == before, 'a refused run changed files'


def _new_files(name):
  return [f'export_scripts/{name}_export.py', f'tests/test_{name}_export.py',
          f'configs/{name}/tiny.gin']


@pytest.fixture(scope='module')
def repo_copy(tmp_path_factory):
  return copy_tree(tmp_path_factory.mktemp('repo'))


@pytest.fixture(scope='module')
def lowlevel_recipe(repo_copy):
  proc = scaffold(repo_copy, '--name=scaffold_low', '--pattern=lowlevel')
  assert proc.returncode == 0, proc.stderr
  return repo_copy, proc


def test_lowlevel_scaffold_creates_the_renamed_recipe(lowlevel_recipe):
  repo, proc = lowlevel_recipe
  for f in _new_files('scaffold_low') + [
      'configs/scaffold_low/scaffold_low.gin',
      'tests/testdata/scaffold_low/make_checkpoint.py',
      'tests/testdata/scaffold_low/ckpt.index',
      'tests/testdata/scaffold_low/golden/scaffold_low.npz']:
    assert os.path.isfile(os.path.join(repo, f)), f
    assert f in proc.stdout, f
  assert ('python -m pytest tests/test_scaffold_low_export.py '
          'tests/test_recipes_complete.py') in proc.stdout
  created = [os.path.join(d, f) for top in ('export_scripts', 'configs',
                                            'tests')
             for d, _, fs in os.walk(os.path.join(repo, top)) for f in fs
             if 'scaffold_low' in os.path.join(d, f)
             and f.endswith(('.py', '.gin'))]
  assert len(created) == 5, created
  for path in created:
    with open(path, encoding='utf-8') as f:
      text = f.read()
    for old in ('mul_export', 'configs/mul/', 'testdata/mul', "'mul'",
                'my_mul'):
      assert old not in text, (path, old)
  with open(os.path.join(repo, 'export_scripts',
                         'scaffold_low_export.py')) as f:
    assert "driver.run(export, recipe='scaffold_low')" in f.read()
  with open(os.path.join(repo, 'README.md')) as f:
    readme = f.read()
  assert readme.count('scaffold_low_export.py') == 2  # Table row + section.
  assert readme.index('### scaffold_low:') < readme.index('## Publishing')
  with open(os.path.join(ROOT, 'README.md')) as f:
    assert 'scaffold_low' not in f.read()  # This checkout is untouched.


def test_lowlevel_scaffold_tests_pass_untouched(lowlevel_recipe):
  repo = lowlevel_recipe[0]
  proc = run_tests(repo, 'scaffold_low', timeout=600)
  assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
  assert 'test_recipe_has_regression_tests[scaffold_low] PASSED' in proc.stdout
  for test in ('test_end_to_end_command_line', 'test_golden_outputs',
               'test_fine_tuning_through_keras_layer_lowers_loss'):
    assert (f'test_scaffold_low_export.py::TestLowLevelFamily::{test} PASSED'
            in proc.stdout), proc.stdout[-3000:]


def test_refuses_an_existing_recipe(repo_copy):
  assert_refused(repo_copy, ['--name=mul', '--pattern=lowlevel'],
                 'export_scripts/mul_export.py exists already')
  assert_refused(repo_copy, ['--name=verify', '--pattern=split'],
                 'exists already')  # A tool's name is taken too.


@pytest.mark.parametrize('name,fragment', [
    ('Bad-Name', 'not a lowercase identifier'),
    ('9lives', 'not a lowercase identifier'),
    ('class', 'not a lowercase identifier'),
    ('albert_export', 'ends in _export'),
    ('', '--name is required')])
def test_refuses_a_bad_name(repo_copy, name, fragment):
  assert_refused(repo_copy, [f'--name={name}', '--pattern=split'], fragment)


def test_refuses_to_overwrite_any_existing_file(repo_copy):
  stray = os.path.join(repo_copy, 'tests', 'testdata', 'scaffold_taken',
                       'golden', 'scaffold_taken.npz')
  os.makedirs(os.path.dirname(stray))
  with open(stray, 'wb') as f:
    f.write(b'mine')
  try:
    assert_refused(repo_copy, ['--name=scaffold_taken', '--pattern=lowlevel'],
                   'tests/testdata/scaffold_taken/golden/scaffold_taken.npz '
                   'exists already')
    for f in _new_files('scaffold_taken'):
      assert not os.path.exists(os.path.join(repo_copy, f)), f
  finally:
    shutil.rmtree(os.path.join(repo_copy, 'tests', 'testdata',
                               'scaffold_taken'))


def test_refuses_a_name_the_readme_documents(repo_copy):
  readme = os.path.join(repo_copy, 'README.md')
  with open(readme) as f:
    original = f.read()
  try:
    with open(readme, 'a') as f:
      f.write('\nSee export_scripts/scaffold_doc_export.py.\n')
    assert_refused(repo_copy, ['--name=scaffold_doc', '--pattern=posthoc'],
                   'README.md already mentions scaffold_doc_export.py')
  finally:
    with open(readme, 'w') as f:
      f.write(original)


def test_refuses_bad_flags(repo_copy):
  before = snapshot(repo_copy)
  proc = scaffold(repo_copy, '--name=scaffold_x', '--pattern=sideways')
  assert proc.returncode == 2 and 'Traceback' not in proc.stderr
  assert proc.stderr.startswith('error: ') and 'pattern' in proc.stderr
  proc = scaffold(repo_copy, '--name=scaffold_x')
  assert proc.returncode == 2 and '--pattern is required' in proc.stderr
  assert snapshot(repo_copy) == before


@functools.lru_cache(maxsize=None)
def _new_recipe_module():
  """The scaffold imported once (a second import would redefine its flags)."""
  spec = importlib.util.spec_from_file_location(
      'new_recipe_under_test', os.path.join(ROOT, SCRIPT))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_renaming_leaves_model_garden_names_alone():
  rename = _new_recipe_module().renamer('bert', 'albert', {})
  kept = ("encoder_type='bert'\nENCODER_TYPES = ('bert', 'bert_v2')\n"
          "'bert/encoder/layer_0/attention' bert_architecture.vocab_size\n"
          "export_tfhub_lib.get_bert_encoder(cfg)  # BertPackInputs\n"
          "model_name = 'bert_en_uncased_L-2_H-32_A-2'\n")
  assert rename(kept) == kept
  assert rename(
      "run_script('bert_export.py', '--gin_file=configs/bert/tiny.gin')\n"
      "os.path.join(TESTDATA, 'bert'); tests/testdata/bert/make_checkpoint.py\n"
      "driver.run(export, recipe='bert'); rec['recipe'] == 'bert'\n"
      "def bert_export(session_tmp): os.path.join(ROOT, 'configs', 'bert')\n"
      ) == (
          "run_script('albert_export.py', '--gin_file=configs/albert/tiny.gin')"
          "\nos.path.join(TESTDATA, 'albert'); "
          "tests/testdata/albert/make_checkpoint.py\n"
          "driver.run(export, recipe='albert'); rec['recipe'] == 'albert'\n"
          "def albert_export(session_tmp): "
          "os.path.join(ROOT, 'configs', 'albert')\n")
  rename = _new_recipe_module().renamer('resnet', 'resnet_rs', {})
  kept = ("from official.legacy.image_classification.resnet import "
          "resnet_model\nlegacy_resnet.l2_weight_decay = 1e-4\n"
          "x = resnet.depth\n")
  assert rename(kept) == kept
  # The export choices' gin name is the recipe's.
  assert rename("@spec.export_options('resnet')\nresnet.depth = %DEPTH\n"
                ) == ("@spec.export_options('resnet_rs')\n"
                      "resnet_rs.depth = %DEPTH\n")
  # One pass: a replacement is never renamed again.
  rename = _new_recipe_module().renamer('mul', 'my_mul_x', {'my_mul': 'my_mul_x'})
  assert rename("mul_export.py configs/mul/my_mul.gin") == (
      'my_mul_x_export.py configs/my_mul_x/my_mul_x.gin')


@pytest.mark.slow
@pytest.mark.parametrize('pattern,source', [('split', 'albert'),
                                            ('posthoc', 'efficientnet')])
def test_scaffold_tests_pass_untouched(pattern, source, tmp_path):
  """The copies of albert and efficientnet pass their whole (default) test
  files."""
  repo = copy_tree(tmp_path / 'repo')
  name = f'scaffold_{pattern}'
  proc = scaffold(repo, f'--name={name}', f'--pattern={pattern}')
  assert proc.returncode == 0, proc.stderr
  assert f'export_scripts/{name}_export.py' in proc.stdout
  with open(os.path.join(repo, 'export_scripts', f'{name}_export.py')) as f:
    text = f.read()
  assert f'{source}_export' not in text and f"recipe='{name}'" in text
  proc = run_tests(repo, name, timeout=1800)
  assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
  assert f'test_recipe_has_regression_tests[{name}] PASSED' in proc.stdout
  assert ' failed' not in proc.stdout.splitlines()[-1]

r"""Starts a new recipe as a renamed copy of the smallest one of its pattern.

    python export_scripts/new_recipe.py --name=NAME --pattern=PATTERN

PATTERN (see docs/adding_a_recipe.md, "Choosing a pattern"):
  lowlevel  copy of the seed recipe `mul` (a hand-written `writer.Reusable`);
  split     copy of `albert` (build the piece to share and the full model
            that owns it, core model + pretrainer, restore through the full
            model; the BERT family's shared code is in bert_family.py);
  posthoc   copy of `efficientnet` (rebuild and restore the whole trained
            model, then cut the pieces to share out of it; the image family's
            shared code is in image_models.py, its contract tests in
            tests/image_family.py: the copy's test file declares its member).

It creates, renamed to NAME,

    export_scripts/NAME_export.py
    configs/NAME/            tiny.gin, base.gin and the gin files the tests or
                             these include (not every model config of the
                             source recipe)
    tests/test_NAME_export.py
    tests/testdata/NAME/     the tiny checkpoint(s), make_checkpoint.py and
                             golden/*.npz

and adds a section and a recipes-table row for NAME to README.md. Renamed are
the file names and the references in them to the source recipe (`OLD_export`,
`configs/OLD/`, `testdata/OLD`, `TESTDATA, 'OLD'`, `recipe='OLD'`, golden file
names); Model Garden names and checkpoint keys that merely contain the word
are left alone. The copy's tests pass as created: start from something that
works, then replace the model step by step.

It refuses, with a one-line error (exit status 1) and without writing
anything, an invalid NAME, an existing recipe and any target file that exists
already. This is a tool, not a recipe: it exports nothing.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import keyword  # pylint: disable=g-import-not-at-top
import re  # pylint: disable=g-import-not-at-top
import shutil  # pylint: disable=g-import-not-at-top
import textwrap  # pylint: disable=g-import-not-at-top

from absl import flags  # pylint: disable=g-import-not-at-top

from official.hub_export import cli  # pylint: disable=g-import-not-at-top
from official.hub_export.spec import ExportError  # pylint: disable=g-import-not-at-top
from official.hub_export.spec import UsageError  # pylint: disable=g-import-not-at-top

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# pattern -> the source recipe, the checkpoint its tiny test data keeps, the
# extra flags its command line needs, further words to rename, and what the
# consumer loads.
PATTERNS = {
    'lowlevel': dict(
        source='mul', title='the seed recipe (low-level API)',
        gin='{name}.gin', checkpoint='tests/testdata/{name}/ckpt', extra='',
        rename={'my_mul': '{name}', 'my-mul': '{slug}'},
        usage=("import tensorflow_hub as hub\n"
               "layer = hub.KerasLayer('/tmp/{name}', trainable=True)\n"
               "layer([10., 20.])\n")),
    'split': dict(
        source='albert',
        title='the ALBERT recipe (core model + pretrainer split)',
        gin='tiny.gin', checkpoint='tests/testdata/{name}/ckpt',
        extra=' \\\n    --sp_model_file=tests/testdata/{name}/sp.model',
        rename={},
        usage=("import tensorflow_hub as hub\n"
               "import tensorflow_text  # registers the preprocessor's ops\n"
               "preprocessor = hub.KerasLayer('/tmp/{name}/preprocessor')\n"
               "encoder = hub.KerasLayer('/tmp/{name}/encoder', "
               "trainable=True)\n"
               "outputs = encoder(preprocessor(['hello world']))\n")),
    'posthoc': dict(
        source='efficientnet',
        title='the EfficientNet recipe (post-hoc extraction, image family)',
        gin='tiny.gin', checkpoint='tests/testdata/{name}',
        extra='', rename={},
        usage=("import tensorflow as tf\n"
               "import tensorflow_hub as hub\n"
               "images = tf.random.uniform([2, 32, 32, 3])\n"
               "features = hub.load('/tmp/{name}/feature_vector')(images)\n"
               "logits = hub.load('/tmp/{name}/classification')(images)\n")),
}

flags.DEFINE_string('name', None, 'The new recipe\'s name: a lowercase Python '
                    'identifier, e.g. albert (makes export_scripts/'
                    'albert_export.py).')
flags.DEFINE_enum('pattern', None, list(PATTERNS),
                  'Which recipe to start from: lowlevel (mul), split '
                  '(albert) or posthoc (efficientnet); see '
                  'docs/adding_a_recipe.md.')
FLAGS = flags.FLAGS

# Text files whose contents are renamed; everything else is copied as is.
_TEXT = ('.py', '.gin', '.md')
_README_TABLE = '| recipe | script | exports | pattern |'


class Refused(ExportError):
  """A one-line refusal: nothing was written."""


def check_name(name: str) -> None:
  if not name:
    raise Refused('--name is required: pass a lowercase identifier, e.g. '
                  '--name=albert')
  if not re.fullmatch(r'[a-z][a-z0-9_]*', name) or keyword.iskeyword(name):
    raise Refused(f'--name={name!r} is not a lowercase identifier: use '
                  'letters a-z, digits and _, starting with a letter '
                  '(e.g. --name=albert)')
  if name.endswith('_export'):
    raise Refused(f'--name={name!r} ends in _export: pass the name without '
                  f'it (--name={name[:-len("_export")]})')
  existing = os.path.join('export_scripts', f'{name}_export.py')
  if os.path.exists(os.path.join(ROOT, existing)):
    raise Refused(f'{existing} exists already (recipe or tool {name!r}): '
                  'choose another --name')


def renamer(old: str, new: str, extra: dict):
  """A function renaming the source recipe's references in a text."""
  subs = {
      rf'(?<![A-Za-z0-9]){old}_export': f'{new}_export',
      rf'configs/{old}/': f'configs/{new}/',
      rf'testdata/{old}(?![A-Za-z0-9_])': f'testdata/{new}',
      rf"(TESTDATA|'configs'|'testdata'), '{old}'": rf"\1, '{new}'",
      rf"recipe='{old}'": f"recipe='{new}'",
      rf"\['recipe'\] == '{old}'": f"['recipe'] == '{new}'",
      rf"'{old}\.npz'": f"'{new}.npz'",
      rf"'{old}_make_checkpoint'": f"'{new}_make_checkpoint'",
      # A family contract member and its tiny model card names.
      rf"(load_recipe\(|make_checkpoint\(|checkpoint=)'{old}'": rf"\1'{new}'",
      rf"'{old}_tiny_": f"'{new}_tiny_",
      # The export choices: gin configures them under the recipe's name.
      rf"export_options\('{old}'\)": f"export_options('{new}')",
      rf"(?m:^{old}\.(\w+ *=))": rf"{new}.\1",
  }
  for word, replacement in extra.items():
    subs[rf'(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])'] = replacement
  # One pass over the text, so that a replacement is never renamed again.
  combined = re.compile('|'.join(f'(?:{p})' for p in subs))
  compiled = [(re.compile(p), r) for p, r in subs.items()]

  def one(m):
    for p, replacement in compiled:
      if p.fullmatch(m.group(0)):
        return p.sub(replacement, m.group(0))
    return m.group(0)
  def rename(text: str) -> str:
    return _own_make_checkpoint(combined.sub(one, text), new)
  return rename


def _own_make_checkpoint(text: str, new: str) -> str:
  """`sys.path.insert(...testdata/X); import make_checkpoint as mc` in a test
  would share one `make_checkpoint` module between the source recipe's tests
  and the copy's in a pytest run: load the copy's by path instead."""
  m = re.search(r"^sys\.path\.insert\(0, os\.path\.join\(TESTDATA, "
                rf"'{new}'\)\)\n"
                r"import make_checkpoint as (\w+)[^\n]*\n", text, flags=re.M)
  if not m:
    return text
  alias = m.group(1)
  replacement = (
      'import importlib.util  # pylint: disable=g-import-not-at-top,'
      'g-bad-import-order\n'
      '# By path, under its own name: other tests have a make_checkpoint.\n'
      '_MC_SPEC = importlib.util.spec_from_file_location(\n'
      f"    '{new}_make_checkpoint',\n"
      f"    os.path.join(TESTDATA, '{new}', 'make_checkpoint.py'))\n"
      f'{alias} = importlib.util.module_from_spec(_MC_SPEC)\n'
      f'_MC_SPEC.loader.exec_module({alias})\n')
  return text[:m.start()] + replacement + text[m.end():]


def _gin_files(old: str, test_text: str):
  """tiny.gin, base.gin, the gin files the test names, and what they
  include (transitively): the configs a copy needs to pass its tests."""
  directory = os.path.join(ROOT, 'configs', old)
  available = {f for f in os.listdir(directory) if f.endswith('.gin')}
  todo = [f for f in sorted(available) if f in ('tiny.gin', 'base.gin') or
          f'configs/{old}/{f}' in test_text or
          f"'{f[:-len('.gin')]}'" in test_text]
  chosen = set()
  while todo:
    f = todo.pop()
    if f in chosen:
      continue
    chosen.add(f)
    with open(os.path.join(directory, f), encoding='utf-8') as fh:
      for inc in re.findall(rf"^include\s+'configs/{old}/([^'/]+)'",
                            fh.read(), flags=re.M):
        if inc in available:
          todo.append(inc)
  return sorted(chosen)


def plan(name: str, pattern: str):
  """[(source path, target path)] relative to ROOT, and the rename function."""
  p = PATTERNS[pattern]
  old = p['source']
  extra = {k: v.format(name=name, slug=name.replace('_', '-'))
           for k, v in p['rename'].items()}
  rename = renamer(old, name, extra)
  test_src = os.path.join('tests', f'test_{old}_export.py')
  with open(os.path.join(ROOT, test_src), encoding='utf-8') as f:
    test_text = f.read()
  pairs = [(os.path.join('export_scripts', f'{old}_export.py'),
            os.path.join('export_scripts', f'{name}_export.py')),
           (test_src, os.path.join('tests', f'test_{name}_export.py'))]
  for f in _gin_files(old, test_text):
    pairs.append((os.path.join('configs', old, f),
                  os.path.join('configs', name, rename_file(f, old, name,
                                                            extra))))
  data = os.path.join('tests', 'testdata', old)
  for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, data)):
    dirnames[:] = sorted(d for d in dirnames if d != '__pycache__')
    rel = os.path.relpath(dirpath, os.path.join(ROOT, data))
    for f in sorted(filenames):
      if f.endswith(('.pyc', '.pyo')):
        continue
      target = os.path.normpath(os.path.join(
          'tests', 'testdata', name, rel, rename_file(f, old, name, extra)))
      pairs.append((os.path.normpath(os.path.join(data, rel, f)), target))
  return pairs, rename


def rename_file(filename: str, old: str, new: str, extra: dict) -> str:
  stem, ext = os.path.splitext(filename)
  if stem == old and ext == '.npz':
    return new + ext  # The golden file of a single unnamed export.
  return extra.get(stem, stem) + ext


def readme_section(name: str, pattern: str) -> str:
  p = PATTERNS[pattern]
  fmt = lambda s: s.format(name=name)
  intro = textwrap.fill(
      f'Created by `export_scripts/new_recipe.py --name={name} '
      f'--pattern={pattern}` as a renamed copy of '
      f'`export_scripts/{p["source"]}_export.py`, its tiny test config, tests '
      'and test data. Replace the model, the configs and this text with '
      'yours, following `docs/adding_a_recipe.md`.', width=79,
      break_on_hyphens=False, break_long_words=False)
  return (
      f'### {name}: copied from {p["title"]}\n\n' + intro + '\n\n'
      '```sh\n'
      f'.venv/bin/python export_scripts/{name}_export.py '
      f'--gin_file=configs/{name}/{fmt(p["gin"])} \\\n'
      f'    --checkpoint_path={fmt(p["checkpoint"])}{fmt(p["extra"])} '
      f'--export_dir=/tmp/{name}\n'
      '```\n\n'
      '```python\n' + fmt(p['usage']) + '```\n\n')


def readme_row(name: str, pattern: str) -> str:
  p = PATTERNS[pattern]
  return (f'| {name} (from `new_recipe.py`) | `export_scripts/{name}_export.py` '
          f'| as the `{p["source"]}` recipe it was copied from | {pattern} |')


def new_readme(text: str, name: str, pattern: str) -> str:
  """README.md with NAME's section (before `## Publishing`, else at the end)
  and its row at the end of the recipes table."""
  lines = text.split('\n')
  if _README_TABLE in lines:
    i = lines.index(_README_TABLE) + 1
    while i < len(lines) and lines[i].startswith('|'):
      i += 1
    lines.insert(i, readme_row(name, pattern))
  text = '\n'.join(lines)
  section = readme_section(name, pattern)
  marker = '\n## Publishing\n'
  if marker in text:
    return text.replace(marker, '\n' + section + marker[1:], 1)
  return text.rstrip('\n') + '\n\n' + section.rstrip('\n') + '\n'


def create(name: str, pattern: str):
  """Checks everything, then writes; returns the created paths."""
  check_name(name)
  pairs, rename = plan(name, pattern)
  for _, target in pairs:
    if os.path.lexists(os.path.join(ROOT, target)):
      raise Refused(f'{target} exists already: remove it or choose another '
                    '--name (nothing was written)')
  readme = os.path.join(ROOT, 'README.md')
  with open(readme, encoding='utf-8') as f:
    readme_text = f.read()
  if f'{name}_export.py' in readme_text:
    raise Refused(f'README.md already mentions {name}_export.py: remove that '
                  'text or choose another --name (nothing was written)')
  updated = new_readme(readme_text, name, pattern)

  made_dirs, written = [], []
  try:
    for source, target in pairs:
      dst = os.path.join(ROOT, target)
      parent = os.path.dirname(dst)
      missing = []
      while not os.path.isdir(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
      for d in reversed(missing):
        os.mkdir(d)
        made_dirs.append(d)
      src = os.path.join(ROOT, source)
      if source.endswith(_TEXT):
        with open(src, encoding='utf-8') as f:
          text = rename(f.read())
        with open(dst, 'x', encoding='utf-8') as f:
          f.write(text)
        shutil.copymode(src, dst)
      else:
        with open(src, 'rb') as f, open(dst, 'xb') as g:
          g.write(f.read())
      written.append(dst)
    with open(readme, 'w', encoding='utf-8') as f:
      f.write(updated)
  except BaseException:
    for path in reversed(written):
      os.remove(path)
    for d in reversed(made_dirs):
      shutil.rmtree(d, ignore_errors=True)
    raise
  return [t for _, t in pairs]


def main() -> int:
  if not FLAGS.pattern:
    raise UsageError('--pattern is required: one of ' + ', '.join(PATTERNS)
                     + ' (see docs/adding_a_recipe.md)')
  name, pattern = FLAGS.name, FLAGS.pattern
  created = create(name, pattern)
  old = PATTERNS[pattern]['source']
  print(f'Created recipe {name!r} from {old!r} ({pattern}):')
  for path in created:
    print(f'  {path}')
  print(f'  README.md: a section "### {name}: ..." and a row in the recipes '
        'table')
  ckpt = PATTERNS[pattern]['checkpoint'].format(name=name)
  extra = PATTERNS[pattern]['extra'].format(name=name).replace(' \\\n   ', '')
  print(f"""
Next steps (docs/adding_a_recipe.md has the details and a checklist):
  1. Run the new tests; they pass as copied:
       .venv/bin/python -m pytest tests/test_{name}_export.py tests/test_recipes_complete.py -q
  2. Replace the model in export_scripts/{name}_export.py (docstring, SPEC,
     build, layouts, cases) and its configs in configs/{name}/.
  3. Rewrite tests/testdata/{name}/make_checkpoint.py for your model, run it,
     and write the golden outputs again:
       .venv/bin/python export_scripts/{name}_export.py --gin_file=configs/{name}/tiny.gin \\
           --checkpoint_path={ckpt}{extra} --export_dir=/tmp/{name}_golden \\
           --write_golden=tests/testdata/{name}/golden
  4. Adapt tests/test_{name}_export.py and the README section, then run the
     tests again.""")
  return 0


if __name__ == '__main__':
  cli.run(main)

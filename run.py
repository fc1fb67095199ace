#!/usr/bin/env python3
"""Set up and go, on a machine with nothing but Python 3.11.

    python3 run.py demo            # export the tiny BERT, verify, fine-tune it
    python3 run.py test [ARGS...]  # the test suite (ARGS go to pytest)

The first run creates `.venv/` inside the repository and installs
`requirements.txt` pinned by `constraints.txt` (about 3 minutes, 3.3 GB);
later runs reuse it and reinstall only when those files change.
"""
import hashlib
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, '.venv')
PY = os.path.join(VENV, 'bin', 'python')
STAMP = os.path.join(VENV, '.installed-requirements')
DEMO_DIR = os.path.join(ROOT, 'demo_output', 'bert')


def _digest():
  h = hashlib.sha256()
  for name in ('requirements.txt', 'constraints.txt'):
    with open(os.path.join(ROOT, name), 'rb') as f:
      h.update(f.read())
  return h.hexdigest()


def _run(cmd, **kwargs):
  print('+ ' + ' '.join(cmd), flush=True)
  return subprocess.run(cmd, check=False, **kwargs).returncode


def ensure_venv():
  """Creates/updates .venv; returns its python."""
  if sys.version_info[:2] != (3, 11):
    print(f'warning: the pinned versions are tested on Python 3.11, this is '
          f'{sys.version.split()[0]}', file=sys.stderr)
  digest = _digest()
  if os.path.exists(STAMP) and open(STAMP).read().strip() == digest:
    return PY
  if not os.path.exists(PY):
    print('Creating .venv/ (first run; installing takes a few minutes)...',
          flush=True)
    if _run([sys.executable, '-m', 'venv', VENV]):
      sys.exit('error: could not create .venv/ (on Debian/Ubuntu install '
               'python3-venv)')
  # An old pip backtracks to building scipy from source; upgrade it first.
  pip = [PY, '-m', 'pip', 'install', '--disable-pip-version-check', '-q']
  if _run(pip + ['--upgrade', 'pip']) or _run(
      pip + ['--prefer-binary', '-r', os.path.join(ROOT, 'requirements.txt'),
             '-c', os.path.join(ROOT, 'constraints.txt')]):
    sys.exit('error: installing requirements.txt failed (see above)')
  with open(STAMP, 'w') as f:
    f.write(digest + '\n')
  return PY


def demo(py, args):
  """Exports the shipped tiny BERT (encoder + preprocessor), verifies it, then
  fine-tunes a text classifier on it from Keras 3 and from tf_keras."""
  code = _run([py, os.path.join(ROOT, 'export_scripts', 'bert_export.py'),
               '--gin_file=configs/bert/tiny.gin',
               '--checkpoint_path=tests/testdata/bert/ckpt',
               '--vocab_file=tests/testdata/bert/vocab.txt',
               f'--export_dir={DEMO_DIR}', '--overwrite'] + args, cwd=ROOT)
  if code:
    return code
  # Each consumer in its own process (Keras 3 and tf_keras cannot share
  # one), both at once; their outputs are printed in order.
  example = os.path.join(ROOT, 'examples', 'fine_tune_text_classifier.py')
  procs = []
  for keras in ('3', 'tf_keras'):
    cmd = [py, example, DEMO_DIR, f'--keras={keras}']
    print('+ ' + ' '.join(cmd), flush=True)
    procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True))
  code = 0
  for proc in procs:
    out, _ = proc.communicate()
    print(out.rstrip(), flush=True)
    code = code or proc.returncode
  return code


def test(py, args):
  return _run([py, '-m', 'pytest'] + args, cwd=ROOT)


def main():
  commands = {'demo': demo, 'test': test}
  if len(sys.argv) < 2 or sys.argv[1] not in commands:
    print(__doc__.strip(), file=sys.stderr)
    return 2
  py = ensure_venv()
  return commands[sys.argv[1]](py, sys.argv[2:])


if __name__ == '__main__':
  sys.exit(main())

"""The op scan (official/hub_export/checker/opscan.py): a SavedModel whose
graphs act on the machine is refused before anything of it is loaded or run.

The hostile models (tests/zoo.py `HOSTILE`) are reusable SavedModels in every
respect except one op in `__call__` that writes, reads or lists a file of
the test's directory.
"""
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

import zoo
from conftest import assert_ok, run_script
from official.hub_export import verify
from official.hub_export.checker import opscan


def test_denylisted_ops_are_tensorflow_ops():
  """Every op named by the denylist is one TensorFlow registers (a typo
  would let the real op through)."""
  from tensorflow.python.framework import op_def_registry  # pylint: disable=g-import-not-at-top
  names = set(opscan.DENYLIST) | set(opscan.CONDITIONAL)
  unknown = sorted(n for n in names if op_def_registry.get(n) is None)
  assert not unknown


def _hostile(tmp_path, name):
  target = tmp_path / 'target.txt'
  if name == 'read_file':
    target.write_text('secret\n')
  return zoo.build_hostile(name, str(tmp_path), str(target))


@pytest.mark.parametrize('name', sorted(zoo.HOSTILE))
def test_hostile_model_fails_without_running(tmp_path, name):
  """What verify_export.py and every export's verification run first."""
  op = zoo.HOSTILE[name][0]
  path = _hostile(tmp_path, name)
  before = sorted(os.listdir(tmp_path))
  result = verify.consumer_checks(path)
  assert result['verdict'] == 'FAIL'
  assert [c['name'] for c in result['checks']] == [
      'op scan: no op acts on the machine']  # Nothing else ran.
  check = result['checks'][0]
  assert check['value'] == '1 op(s) refused, nothing was loaded or run'
  assert check['detail'].startswith(f'{op} in __inference___call___')
  assert check['detail'].endswith(f'--allow_ops={op}')
  assert sorted(os.listdir(tmp_path)) == before  # Nothing was written.


def test_verify_export_refuses_a_model_that_writes_a_file(tmp_path):
  path = _hostile(tmp_path, 'write_file')
  proc = run_script('verify_export.py', f'--saved_model={path}')
  assert proc.returncode == 1, proc.stdout + proc.stderr[-2000:]
  assert 'FAIL op scan: no op acts on the machine: 1 op(s) refused' in \
      proc.stdout
  assert '(WriteFile in __inference___call___' in proc.stdout
  assert 'verdict: FAIL: 1 check(s) failed: op scan' in proc.stdout
  assert not (tmp_path / 'target.txt').exists()


def test_allow_ops_lets_a_named_op_through(tmp_path):
  """With --allow_ops=WriteFile the model is loaded and called: its file
  appears, which shows the scan was what kept it from being written."""
  target = tmp_path / 'written.txt'
  path = zoo.build_hostile('write_file', str(tmp_path), str(target))
  proc = run_script('verify_export.py', f'--saved_model={path}',
                    '--allow_ops=WriteFile')
  assert_ok(proc)
  assert 'allowed by --allow_ops: WriteFile in __inference___call___' in \
      proc.stdout
  assert target.exists()


def test_saver_and_assets_of_normal_models_are_not_refused(tmp_path):
  """A SavedModel's own saver (SaveV2/RestoreV2 in its saver functions) and
  a lookup table initialized from its own asset pass; the same table read
  from a path outside the assets does not."""
  vocab = tmp_path / 'vocab.txt'
  vocab.write_text('a\nb\n')

  class Lookup(tf.train.Checkpoint):

    def __init__(self):
      super().__init__()
      self.table = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
          str(vocab), tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
          tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER), -1)
      self.v = tf.Variable(1.0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, words):
      return self.table.lookup(words)

  path = str(tmp_path / 'lookup')
  tf.saved_model.save(Lookup(), path)
  scan = opscan.scan(path)
  assert scan['denied'] == []
  assert {'SaveV2', 'RestoreV2', 'InitializeTableFromTextFileV2'} <= set(
      scan['op_types'])
  assert 'assets/vocab.txt' in scan['file_paths']
  assert scan['tensorflow_version'] == tf.__version__
  hostile = zoo.build_hostile('table_from_file', str(tmp_path), str(vocab))
  denied = opscan.scan(hostile)['denied']
  assert [e['op'] for e in denied] == ['InitializeTableFromTextFileV2']
  assert f'{vocab}, not a SavedModel asset' in denied[0]['reason']


def test_op_libraries_of_this_process_without_loading_anything():
  """Extension ops are attributed from the libraries this process already
  loaded (no fresh process, nothing new loaded); others are left."""
  import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
  before = opscan._mapped_libraries()  # pylint: disable=protected-access
  found, left = opscan.loaded_op_libraries(
      ['CaseFoldUTF8', 'WordpieceTokenizeWithOffsets', 'NoSuchOpAnywhere'])
  assert found == {'tensorflow-text': ['CaseFoldUTF8',
                                       'WordpieceTokenizeWithOffsets']}
  assert left == ['NoSuchOpAnywhere']
  assert opscan._mapped_libraries() == before  # pylint: disable=protected-access
  # A package this process did not import answers nothing (and is not
  # imported for it).
  assert opscan.loaded_op_libraries(
      ['CaseFoldUTF8'], extensions=(('no_such_extension', 'x'),)) == (
          {}, ['CaseFoldUTF8'])


@pytest.mark.slow  # tests/test_model_card.py covers the common case.
def test_op_libraries_from_the_registry():
  """In a fresh process, ops TensorFlow does not register are attributed to
  the package whose import registers them."""
  script = os.path.join(os.path.dirname(verify.CHECKER), 'checker',
                        'opscan.py')
  proc = subprocess.run(
      [sys.executable, '-I', script,
       '--op_libraries=CaseFoldUTF8,MatMul,WordpieceTokenizeWithOffsets,'
       'NoSuchOpAnywhere'], env=verify.consumer_env(), capture_output=True,
      text=True, check=False, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert json.loads(proc.stdout.strip().splitlines()[-1]) == {
      'tensorflow-text': ['CaseFoldUTF8', 'WordpieceTokenizeWithOffsets'],
      'unknown': ['NoSuchOpAnywhere']}

"""The common driver: flags, gin, atomic output, refusal to overwrite.

Command-line behaviour is tested through the seed recipe's real script;
failures inside an export through `driver.export_main` directly.
"""
import dataclasses
import os

from absl import flags
from absl.testing import flagsaver
import gin
import numpy as np
import pytest
import tensorflow as tf

from conftest import TESTDATA, assert_ok, assert_one_line_error, run_script
from official.hub_export import driver
from official.hub_export import spec
from official.hub_export import writer

CKPT = os.path.join(TESTDATA, 'mul', 'ckpt')
BASE = ['--gin_file=configs/mul/tiny.gin', f'--checkpoint_path={CKPT}']


def _mul(tmp_path, *extra, out=None):
  out = out or str(tmp_path / 'out')
  return run_script('mul_export.py', *BASE, f'--export_dir={out}', *extra), out


def _leftovers(parent):
  return [n for n in os.listdir(parent) if n.startswith('.')]


def test_existing_export_dir_is_refused_and_untouched(tmp_path):
  out = tmp_path / 'out'
  out.mkdir()
  (out / 'keep.txt').write_text('precious')
  proc, _ = _mul(tmp_path)
  assert_one_line_error(proc, 'already exists', '--overwrite', code=1)
  assert os.listdir(out) == ['keep.txt']
  assert not _leftovers(tmp_path)


def test_overwrite_replaces_after_success(tmp_path):
  out = tmp_path / 'out'
  out.mkdir()
  (out / 'old.txt').write_text('old')
  proc, _ = _mul(tmp_path, '--overwrite', '--noverify')
  assert_ok(proc)
  assert 'saved_model.pb' in os.listdir(out)
  assert 'old.txt' not in os.listdir(out)
  assert not _leftovers(tmp_path)


def test_overwrite_keeps_old_export_when_new_one_fails(tmp_path):
  out = tmp_path / 'out'
  out.mkdir()
  (out / 'old.txt').write_text('old')
  wrong = tmp_path / 'wrong'
  tf.train.Checkpoint(model=tf.train.Checkpoint(w=tf.Variable(1.0))).write(
      str(wrong))
  proc = run_script('mul_export.py', '--gin_file=configs/mul/tiny.gin',
                    f'--checkpoint_path={wrong}', f'--export_dir={out}',
                    '--overwrite')
  assert_one_line_error(proc, 'holds none of the exported variables', code=1)
  assert os.listdir(out) == ['old.txt']
  assert sorted(os.listdir(tmp_path)) == ['out', 'wrong.data-00000-of-00001',
                                          'wrong.index']


def test_failed_export_leaves_no_directories_behind(tmp_path):
  wrong = tmp_path / 'shape'
  tf.train.Checkpoint(model=tf.train.Checkpoint(v=tf.Variable([1.0, 2.0]))
                     ).write(str(wrong))
  out = tmp_path / 'new' / 'deeper' / 'out'
  proc = run_script('mul_export.py', '--gin_file=configs/mul/tiny.gin',
                    f'--checkpoint_path={wrong}', f'--export_dir={out}')
  assert_one_line_error(proc, 'wrong shape', 'model [], checkpoint [2]')
  assert not (tmp_path / 'new').exists()


@pytest.mark.parametrize('args,fragments', [
    (['--gin_params=MyMulModel.typo = 1'], ['gin:', 'typo']),
    (['--gin_params=NoSuchThing.x = 1'],
     ['gin:', "No configurable matching 'NoSuchThing'", 'check the spelling']),
    (['--gin_params=L2_REGULARIZATION = %gin.REQUIRED'],
     ['required value L2_REGULARIZATION is not set', '--gin_params']),
    (['--gin_params=MyMulModel.l2_regularization = %gin.REQUIRED'],
     ['required value MyMulModel.l2_regularization is not set']),
    (['--gin_file=configs/mul/nope.gin'], ['gin file', 'does not exist']),
    (['--no_such_flag=1'], ['no_such_flag']),
    (['positional'], ['unexpected arguments']),
])
def test_usage_errors_are_one_line_exit_2(tmp_path, args, fragments):
  proc, out = _mul(tmp_path, *args)
  assert_one_line_error(proc, *fragments, code=2)
  assert not os.path.exists(out)


def test_missing_export_dir_flag(tmp_path):
  proc = run_script('mul_export.py', *BASE, cwd=str(tmp_path))
  assert_one_line_error(proc, '--export_dir is required', code=2)


def test_missing_checkpoint(tmp_path):
  proc = run_script('mul_export.py', '--gin_file=configs/mul/tiny.gin',
                    f'--checkpoint_path={tmp_path}/none',
                    f'--export_dir={tmp_path}/out')
  assert_one_line_error(proc, 'no checkpoint at', '--checkpoint_path', code=1)
  assert not (tmp_path / 'out').exists()


def test_gin_file_relative_to_repo_root_from_elsewhere(tmp_path):
  proc = run_script('mul_export.py', *BASE, f'--export_dir={tmp_path}/o',
                    '--noverify', cwd=str(tmp_path))
  assert_ok(proc)


# --- Failures inside an export, through driver.export_main -----------------

SPEC = spec.single(tf.TensorSpec([None], tf.float32, name='x'), 'y',
                   spec.Output('features', tolerance=1e-6))


def _identity_export():
  v = tf.Variable(1.0)
  return writer.reusable(lambda x, training=False: x * v, [v], [v])


@gin.configurable
def _configurable(x=1):
  return x


@pytest.fixture
def driver_flags(tmp_path):
  gin.clear_config()
  config = tmp_path / 'test.gin'
  config.write_text('_configurable.x = 2\n')
  with flagsaver.flagsaver():
    flags.FLAGS(['prog', f'--gin_file={config}',
                 f'--export_dir={tmp_path}/out'])
    yield str(tmp_path / 'out')
  gin.clear_config()


def test_verification_failure_writes_nothing(driver_flags, capsys):
  def export(ctx):
    # The reference says y = 2x, the export computes y = x: a broken export.
    ctx.save('', _identity_export(), SPEC,
             [spec.Case(np.ones([3], np.float32))],
             reference=lambda case: case.inputs * 2.0)
  assert driver.export_main(export, 'test', needs_checkpoint=False) == 1
  err = capsys.readouterr().err
  assert 'verification failed' in err and 'FAIL root output y equals source' in err
  assert not os.path.exists(driver_flags)
  assert not _leftovers(os.path.dirname(driver_flags))


def test_interrupted_export_writes_nothing(driver_flags):
  def export(ctx):
    ctx.save('', _identity_export(), SPEC,
             [spec.Case(np.ones([3], np.float32))], lambda c: c.inputs)
    raise KeyboardInterrupt
  assert driver.export_main(export, 'test', needs_checkpoint=False) == 130
  assert not os.path.exists(driver_flags)
  assert not _leftovers(os.path.dirname(driver_flags))


def test_unexpected_crash_writes_nothing(driver_flags):
  def export(ctx):
    ctx.save('', _identity_export(), SPEC,
             [spec.Case(np.ones([3], np.float32))], lambda c: c.inputs)
    raise RuntimeError('bug')
  with pytest.raises(RuntimeError):
    driver.export_main(export, 'test', needs_checkpoint=False)
  assert not os.path.exists(driver_flags)
  assert not _leftovers(os.path.dirname(driver_flags))


@pytest.mark.parametrize('params,message', [
    # An old lower-case name of a macro the config reads in UPPER_CASE.
    (['X = 3', '_configurable.x = %X', 'x = 4'],
     'gin: macro x is set but nothing uses it: the macro is X'),
    # A typo: gin alone would ignore it and export with the old value.
    (['X = 3', '_configurable.x = %X', 'XX = 4'],
     "gin: macro XX is set but nothing uses it: check its spelling"),
    # A configurable of an earlier version names its new name.
    (['export_options.with_mlm = False'],
     "export_options.* is now bert.* or albert.*"),
])
def test_gin_macro_nothing_reads_is_an_error(params, message):
  gin.clear_config()
  try:
    with pytest.raises(spec.UsageError) as e:
      driver.parse_gin([], params)
    assert str(e.value).startswith('gin: '), str(e.value)
    assert message in str(e.value) and '\n' not in str(e.value)
  finally:
    gin.clear_config()


def test_gin_macros_read_are_accepted():
  gin.clear_config()
  try:
    driver.parse_gin([], ['X = 3', 'Y = %X', '_configurable.x = %Y'])
    assert _configurable() == 3
  finally:
    gin.clear_config()


@spec.export_options('_driver_test_options')
class _Options(spec.Options):
  """Attributes:
    size: a positive integer.
  """
  size: int = 4

  def __post_init__(self):
    self.require('size', spec.is_int(self.size), 'a positive integer')
    self.normalize('size', int(self.size))


def test_export_options_are_checked_frozen_and_gin_configured():
  gin.clear_config()
  try:
    assert _Options().size == 4
    driver.parse_gin([], ['_driver_test_options.size = 7'])
    opts = _Options()
    assert opts.size == 7
    with pytest.raises(dataclasses.FrozenInstanceError):
      opts.size = 8
    gin.clear_config()
    driver.parse_gin([], ['_driver_test_options.size = 0'])
    with pytest.raises(spec.UsageError,
                       match=r'^gin: _driver_test_options\.size = 0 is '
                       r'invalid: use a positive integer'):
      _Options()
  finally:
    gin.clear_config()


def test_gin_binding_overriding_a_macro_is_accepted(tmp_path):
  """`resnet.depth = 101` where the config says `resnet.depth = %DEPTH`:
  DEPTH is still read by the config file, not a typo."""
  config = tmp_path / 'c.gin'
  config.write_text('X = 3\n_configurable.x = %X\n')
  gin.clear_config()
  try:
    driver.parse_gin([str(config)], ['_configurable.x = 5'])
    assert _configurable() == 5
    gin.clear_config()
    with pytest.raises(spec.UsageError, match='macro x is set but nothing '
                       'uses it: the macro is X'):
      driver.parse_gin([str(config)], ['x = 5'])
  finally:
    gin.clear_config()

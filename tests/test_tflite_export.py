"""TFLite variations (official/hub_export/tflite.py, export_scripts/tflite_export.py).

One parameterized body checks the variation of every export that converts
with builtin ops (the tiny test models of each recipe): run independently
here with the LiteRT interpreter on inputs the converter never saw, against
the SavedModel through `hub.load`, at two batch sizes (the batch is dynamic,
the other dimensions fixed at the recipe's size). The recipe option
(`--tflite`) and the tool each make some of them. Text exports are refused
with one line naming the blocking ops; a variation whose model does not
compute the SavedModel's function fails verification and writes nothing.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import (ROOT, TESTDATA, assert_ok, assert_one_line_error,
                      run_script, script_env)

from official.hub_export import tflite  # pylint: disable=g-import-not-at-top
from official.hub_export.spec import ExportError  # pylint: disable=g-import-not-at-top

MUL = ('mul_export.py', '--gin_file=configs/mul/tiny.gin',
       f'--checkpoint_path={TESTDATA}/mul/ckpt')
RESNET = ('resnet_export.py', '--gin_file=configs/resnet/tiny.gin',
          f'--checkpoint_path={TESTDATA}/resnet/legacy_ckpt')
MOBILENET = ('mobilenet_export.py', '--gin_file=configs/mobilenet/tiny.gin',
             f'--checkpoint_path={TESTDATA}/mobilenet')
BERT = ('bert_export.py', '--gin_file=configs/bert/tiny.gin',
        f'--checkpoint_path={TESTDATA}/bert/ckpt',
        f'--vocab_file={TESTDATA}/bert/vocab.txt')
ALBERT = ('albert_export.py', '--gin_file=configs/albert/tiny.gin',
          f'--checkpoint_path={TESTDATA}/albert/ckpt',
          f'--sp_model_file={TESTDATA}/albert/sp.model')
TEXT = ('text_embedding_export.py', '--gin_file=configs/text_embedding/tiny.gin',
        f'--embedding_file={TESTDATA}/text_embedding/vectors.txt')


class _Exports:
  """Session cache: each recipe exported once (with --tflite where the
  recipe option is what makes its variations)."""

  def __init__(self, root):
    self.root = root
    self.done = {}
    self.tool = {}  # SavedModel dir -> the tool's run that converted it

  def get(self, recipe, cmd, *extra):
    if recipe not in self.done:
      out = os.path.join(self.root, recipe)
      proc = run_script(cmd[0], *cmd[1:], f'--export_dir={out}', *extra)
      assert_ok(proc)
      self.done[recipe] = (out, proc)
    return self.done[recipe]


@pytest.fixture(scope='session')
def exports(session_tmp):
  return _Exports(str(session_tmp / 'tflite_exports'))


def _tool(*args):
  return run_script('tflite_export.py', *args)


# (id, how the variations are made, SavedModel subdirectory, fixed size).
# The recipe option for mul and BERT, the tool for the others.
CASES = [
    pytest.param('mul', '', None, id='mul'),
    pytest.param('resnet', 'classification', 32, id='resnet-classification'),
    pytest.param('resnet', 'feature_vector', 32, id='resnet-feature_vector',
                 marks=pytest.mark.slow),
    pytest.param('mobilenet', 'classification', 32,
                 id='mobilenet-classification', marks=pytest.mark.slow),
    pytest.param('mobilenet', 'feature_vector', 32,
                 id='mobilenet-feature_vector', marks=pytest.mark.slow),
    pytest.param('bert', 'encoder', 16, id='bert-encoder',
                 marks=pytest.mark.slow),
    pytest.param('albert', 'encoder', 16, id='albert-encoder',
                 marks=pytest.mark.slow),
]
_CMDS = {'mul': MUL, 'resnet': RESNET, 'mobilenet': MOBILENET, 'bert': BERT,
         'albert': ALBERT}
_RECIPE_OPTION = {'mul': '--tflite=float32,dynamic_range,float16',
                  'bert': '--tflite=float32,dynamic_range'}


def _variations(exports, recipe, name):
  """(SavedModel dir, its _tflite dir)."""
  extra = [_RECIPE_OPTION[recipe]] if recipe in _RECIPE_OPTION else []
  out, _ = exports.get(recipe, _CMDS[recipe], *extra)
  saved_model = os.path.join(out, name) if name else out
  lite = tflite.variation_dir(saved_model)
  if not os.path.isdir(lite):
    proc = _tool(f'--export_dir={saved_model}',
                 '--builds=float32,dynamic_range')
    assert_ok(proc)
    exports.tool[saved_model] = proc
  return saved_model, lite


def _inputs(runner, batch, rng):
  """Fresh inputs for the signature (ids within the tiny vocabularies)."""
  out = {}
  for name, d in runner.get_input_details().items():
    shape = [batch] + [int(x) for x in d['shape_signature'][1:]]
    if np.dtype(d['dtype']).kind == 'f':
      out[name] = rng.uniform(0, 1, shape).astype(d['dtype'])
    elif 'mask' in name:
      out[name] = np.ones(shape, d['dtype'])
    elif 'type' in name:
      out[name] = np.zeros(shape, d['dtype'])
    else:
      out[name] = rng.randint(1, 100, shape).astype(d['dtype'])
  return out


def _cosine(a, b):
  a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
  return (a * b).sum(1) / (np.linalg.norm(a, axis=1) *
                           np.linalg.norm(b, axis=1) + 1e-30)


@pytest.mark.parametrize('recipe,name,size', CASES)
def test_variation_computes_the_savedmodel(exports, recipe, name, size):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
  saved_model, lite = _variations(exports, recipe, name)
  with open(os.path.join(saved_model, 'assets.extra',
                         'export_record.json')) as f:
    api = json.load(f)['api']
  serving = hub.load(saved_model).signatures['serving_default']
  builds = sorted(os.listdir(lite))
  assert {'float32', 'dynamic_range'} <= set(builds), builds
  rng = np.random.RandomState(7)
  for build in builds:
    d = os.path.join(lite, build)
    assert sorted(os.listdir(d)) == ['assets.extra', 'model.tflite']
    with open(os.path.join(d, 'assets.extra', 'export_record.json')) as f:
      rec = json.load(f)
    with open(os.path.join(d, 'assets.extra',
                           'model-instance-metadata.json')) as f:
      kaggle = json.load(f)
    assert kaggle['framework'] == 'tfLite' and kaggle['fineTunable'] is False
    assert rec['verification']['passed'] and rec['build'] == build
    assert rec['source_saved_model']['fingerprint_sha256'] == (
        tflite.saved_model_fingerprint(saved_model))
    runner = Interpreter(model_path=os.path.join(d, 'model.tflite'),
                         num_threads=1).get_signature_runner()
    for spec in runner.get_input_details().values():
      sig = [int(x) for x in spec['shape_signature']]
      assert sig[0] == -1, sig                     # batch dynamic
      if size:
        assert size in sig[1:], sig                # the recipe's size
    for batch in (2, 5):
      inputs = _inputs(runner, batch, rng)
      got = runner(**inputs)
      want = {k: v.numpy() for k, v in serving(**{
          k: tf.constant(v) for k, v in inputs.items()}).items()}
      assert sorted(got) == sorted(want)
      for key, w in want.items():
        g = got[key]
        assert g.shape == w.shape, (build, key)
        base = key if key in api['outputs'] else key.rsplit('_', 1)[0]
        spec = api['outputs'].get(base) or next(iter(api['outputs'].values()))
        if build == 'float32':
          limit = spec['tolerance'] * max(1., float(np.abs(w).max()))
          assert np.abs(g - w).max() <= limit, (key, np.abs(g - w).max())
        else:
          assert _cosine(g, w).min() >= tflite.MIN_COSINE, (build, key)
          if spec['kind'] == 'logits' and api['task'] == (
              'image-classification'):
            # The top-1 class agrees wherever the SavedModel's own margin
            # between its two best classes exceeds the quantization error
            # (the random tiny models have near ties).
            top2 = np.sort(w, -1)[:, -2:]
            clear = top2[:, 1] - top2[:, 0] > 2 * np.abs(g - w).max(-1)
            assert (g.argmax(-1) == w.argmax(-1))[clear].all(), (build, key)


def test_quantized_builds_are_smaller(exports):
  _, lite = _variations(exports, 'resnet', 'classification')
  sizes = {b: os.path.getsize(os.path.join(lite, b, 'model.tflite'))
           for b in os.listdir(lite)}
  assert sizes['dynamic_range'] < 0.6 * sizes['float32'], sizes


def test_recipe_option_writes_beside_the_export(exports):
  out, proc = exports.get('mul', MUL, _RECIPE_OPTION['mul'])
  assert sorted(os.listdir(out + '_tflite')) == [
      'dynamic_range', 'float16', 'float32']
  assert 'TFLite variations (verified against the SavedModel)' in proc.stdout
  assert f'{out}_tflite/float16: model.tflite' in proc.stdout


def test_model_card_snippet_runs(exports, tmp_path):
  """The card's usage code, run as written from the variation directory."""
  _, lite = _variations(exports, 'resnet', 'classification')
  d = os.path.join(lite, 'dynamic_range')
  with open(os.path.join(d, 'assets.extra', 'README.md')) as f:
    card = f.read()
  assert '<!-- format: tflite -->' in card
  assert '<!-- fine-tunable: false -->' in card
  code = re.search(r'```python\n(.*?)```', card, re.S).group(1)
  proc = subprocess.run([sys.executable, '-I', '-c', code], cwd=d,
                        env=script_env(), capture_output=True, text=True,
                        timeout=120, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert 'logits (2, 10)' in proc.stdout, proc.stdout


def test_text_embedding_refused_naming_the_ops(exports):
  out, _ = exports.get('text_embedding', TEXT)
  with pytest.raises(tflite.Unsupported) as e:
    tflite.write_variations(out)
  line = str(e.value)
  assert '\n' not in line
  assert line.startswith('text_embedding: no TFLite variation: not '
                         'convertible with TFLite builtin ops only')
  assert 'TF Select (Flex) ops' in line and 'StringSplitV2' in line
  assert not os.path.exists(tflite.variation_dir(out))
  assert not [n for n in os.listdir(os.path.dirname(out))
              if n.startswith('.text_embedding')]  # No temporary left.


@pytest.mark.slow
def test_preprocessor_refused_and_recipe_option_keeps_the_encoder(exports):
  out, proc = exports.get('bert', BERT, _RECIPE_OPTION['bert'])
  assert sorted(os.listdir(out)) == ['encoder', 'encoder_tflite',
                                     'preprocessor']
  note = [l for l in proc.stdout.splitlines()
          if l.strip().startswith(os.path.join(out, 'preprocessor') + ':')
          and 'no TFLite variation' in l]
  assert len(note) == 1 and 'custom ops TFText>RoundRobinTrim' in note[0]
  assert 'WordpieceTokenizeWithOffsets' in note[0]


@pytest.mark.slow
def test_recipe_option_with_nothing_convertible_writes_nothing(tmp_path):
  again = str(tmp_path / 'te')
  proc = run_script(*TEXT, f'--export_dir={again}', '--tflite=float32')
  assert_one_line_error(proc, 'no TFLite variation', code=1)
  assert not os.path.exists(again) and not os.path.exists(again + '_tflite')


def test_wrong_model_fails_verification_and_writes_nothing(
    exports, tmp_path, monkeypatch):
  """A float32 build that is really the dynamic-range model (differences
  far above the tolerance) is refused; nothing is left at the output."""
  saved_model, _ = _variations(exports, 'resnet', 'classification')
  real = tflite.convert
  monkeypatch.setattr(tflite, 'convert', lambda d, p, build: real(
      d, p, 'dynamic_range' if build == 'float32' else build))
  out = str(tmp_path / 'lite')
  with pytest.raises(ExportError, match=r'float32: logits: max abs diff'):
    tflite.write_variations(saved_model, ['float32'], output_dir=out)
  assert not os.path.exists(out)
  assert os.listdir(tmp_path) == []


def test_tampered_variation_fails_reverification(exports, tmp_path):
  saved_model, lite = _variations(exports, 'resnet', 'classification')
  copy = str(tmp_path / 'float32')
  shutil.copytree(os.path.join(lite, 'float32'), copy)
  assert tflite.verify_variation(copy)['passed']
  shutil.copy(os.path.join(lite, 'dynamic_range', 'model.tflite'),
              os.path.join(copy, 'model.tflite'))
  assert_one_line_error(_tool(f'--verify_variation={copy}'),
                        'model.tflite differ(s) from its export record',
                        code=1)
  # Even with the record's hash updated, the model is checked again.
  path = os.path.join(copy, 'assets.extra', 'export_record.json')
  with open(path) as f:
    rec = json.load(f)
  from official.hub_export import record  # pylint: disable=g-import-not-at-top
  rec['files']['model.tflite']['sha256'] = record.sha256(
      os.path.join(copy, 'model.tflite'))
  with open(path, 'w') as f:
    json.dump(rec, f)
  with pytest.raises(ExportError, match='TFLite verification failed'):
    tflite.verify_variation(copy, saved_model)


def test_tool_end_to_end_and_package(exports, tmp_path):
  saved_model, lite = _variations(exports, 'resnet', 'classification')
  proc = exports.tool[saved_model]
  assert 'Wrote 2 TFLite variation(s)' in proc.stdout
  assert f'{lite}/dynamic_range: model.tflite' in proc.stdout
  assert 'top-1 agreement 100%' in proc.stdout
  assert proc.stderr.strip() == '', proc.stderr  # The converter's logs too.
  with pytest.raises(ExportError, match='already exists.*--overwrite'):
    tflite.write_variations(saved_model, ['float16'])
  assert sorted(os.listdir(lite)) == ['dynamic_range', 'float32']
  # Package a variation: model.tflite + assets.extra at the root.
  archive = str(tmp_path / 'lite.tar.gz')
  proc = run_script('package_export.py',
                    f'--export_dir={os.path.join(lite, "float32")}',
                    f'--output={archive}')
  assert_ok(proc)
  assert 'LiteRT interpreter' in proc.stdout
  import tarfile  # pylint: disable=g-import-not-at-top
  with tarfile.open(archive) as tar:
    assert sorted(tar.getnames()) == [
        'assets.extra', 'assets.extra/README.md',
        'assets.extra/export_record.json',
        'assets.extra/model-instance-metadata.json', 'model.tflite']


def test_bad_inputs(exports, tmp_path):
  saved_model, _ = _variations(exports, 'resnet', 'classification')
  not_ours = tmp_path / 'not_ours'
  not_ours.mkdir()
  (not_ours / 'saved_model.pb').write_bytes(b'')
  with pytest.raises(ExportError, match='no assets.extra/export_record.json'):
    tflite.write_variations(str(not_ours))
  with pytest.raises(ExportError, match='pass one, e.g. --export_dir='):
    tflite.write_variations(os.path.dirname(saved_model))
  modified = str(tmp_path / 'modified')
  shutil.copytree(saved_model, modified)
  with open(os.path.join(modified, 'variables', 'variables.index'), 'ab') as f:
    f.write(b'x')
  assert_one_line_error(_tool(f'--export_dir={modified}'),
                        'modified after it was verified', code=1)
  assert not os.path.exists(modified + '_tflite')
  assert sorted(os.listdir(tmp_path)) == ['modified', 'not_ours']
  assert_one_line_error(_tool(f'--export_dir={saved_model}',
                              '--builds=float32,int4'),
                        "unknown TFLite build(s) ['int4']", code=2)
  proc = run_script(*MUL, f'--export_dir={tmp_path / "m"}', '--noverify',
                    '--tflite=float32')
  assert_one_line_error(proc, '--tflite needs the verified SavedModel',
                        code=2)


def test_package_refuses_a_variation_with_savedmodel_files(tmp_path):
  from official.hub_export import package  # pylint: disable=g-import-not-at-top
  d = tmp_path / 'float32'
  (d / 'assets.extra').mkdir(parents=True)
  (d / 'model.tflite').write_bytes(b'TFL3')
  (d / 'assets.extra' / 'README.md').write_text('card')
  assert [m[0] for m in package.collect(str(d))] == [
      ('assets.extra',), ('assets.extra', 'README.md'), ('model.tflite',)]
  (d / 'variables').mkdir()
  (d / 'variables' / 'variables.index').write_bytes(b'')
  with pytest.raises(ExportError, match='variables: a TFLite variation holds '
                     'only model.tflite and assets.extra/'):
    package.collect(str(d))


@pytest.mark.parametrize('config,size_from', [
    ('SEQ_LENGTH = 24\nbert.seq_length = %SEQ_LENGTH\nVOCAB_SIZE = 100\n',
     'SEQ_LENGTH'),
    # Exports written before the macros were upper case.
    ('seq_length = 24\nexport_options.seq_length = %seq_length\n'
     'vocab_size = 100\n', 'seq_length'),
    ('keras.seq_length = 24\n', 'keras.seq_length')])
def test_encoder_sequence_length_from_the_operative_config(
    tmp_path, config, size_from):
  """The TFLite input size of a text encoder comes from the export's
  operative config, whichever recipe version wrote it."""
  extra = tmp_path / 'assets.extra'
  extra.mkdir()
  (extra / 'operative_config.gin').write_text(config)
  rec = {'export': 'encoder', 'api': {'task': 'text-embedding', 'inputs': {
      'specs': [{'name': n, 'dtype': 'int32', 'shape': [None, None]}
                for n in ('input_word_ids', 'input_mask', 'input_type_ids')]}}}
  p = tflite.plan(str(tmp_path), rec)
  assert p.size_from == f'operative_config.gin {size_from}'
  assert p.inputs['input_word_ids']['shape'] == [None, 24]
  (extra / 'operative_config.gin').write_text('x = 1\n')
  with pytest.raises(ExportError, match='sets no SEQ_LENGTH: pass '
                     '--input_size=N'):
    tflite.plan(str(tmp_path), rec)

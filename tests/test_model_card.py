"""Model cards: metadata in the tfhub.dev format, I/O read off the export."""
import json
import os
import re

import gin
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub

from official.hub_export import model_card
from official.hub_export import record
from official.hub_export import spec
from official.hub_export import writer

REQUIRED_META = ('asset-path', 'task', 'fine-tunable', 'format')


def _encoder_like(path):
  """A dict-in, dict-out model shaped like a text encoder."""
  v = tf.Variable(np.ones([4, 3], np.float32))
  ids = tf.TensorSpec([None, None], tf.int32)
  s = spec.ExportSpec(
      inputs={'input_word_ids': ids, 'input_mask': ids},
      outputs={'pooled_output': spec.Output('features', description='[CLS]'),
               'encoder_outputs': spec.Output('features')},
      task='text-embedding')
  def call(inputs, training=False):
    x = tf.gather(v, inputs['input_word_ids']) * tf.cast(
        inputs['input_mask'][..., None], tf.float32)
    return {'pooled_output': x[:, 0], 'encoder_outputs': [x, 2 * x]}
  writer.write(writer.reusable(call, [v], [v]), path, s)
  return s


def _table(text):
  return re.findall(r'^\| (input|output) \| `([^`]+)` \| (\w+) \| ([^|]+) \|',
                    text, re.M)


@pytest.fixture
def card_config():
  gin.clear_config()
  gin.parse_config("""
ModelCard.name = 'tiny_encoder'
ModelCard.publisher = 'acme'
ModelCard.description = 'A tiny encoder.'
ModelCard.language = 'en'
ModelCard.network_architecture = 'transformer'
ModelCard.preprocessor = 'acme/tiny_preprocess/1'
encoder/ModelCard.version = 3
""")
  yield
  gin.clear_config()


def test_card_matches_signature_and_has_metadata(tmp_path, card_config):
  path = str(tmp_path / 'encoder')
  s = _encoder_like(path)
  rec = record.build(path, recipe='test', name='encoder', spec_json=s.to_json(),
                     source={'inputs': {}}, operative_config='',
                     verification=None)
  text = model_card.write(path, model_card.for_export('encoder'), rec)
  record.finish(path, rec)

  lines = text.splitlines()
  assert lines[0] == '# Module acme/tiny_encoder/3'  # Scoped binding used.
  assert lines[1] == 'A tiny encoder.'
  meta = dict(re.findall(r'^<!-- ([\w-]+): (.*) -->$', text, re.M))
  for key in REQUIRED_META:
    assert key in meta
  assert meta['task'] == 'text-embedding' and meta['format'] == 'saved_model_2'
  assert meta['language'] == 'en'
  # Metadata comes before the first heading, as tfhub.dev requires.
  first_heading = next(i for i, l in enumerate(lines[1:], 1)
                       if l.startswith('#'))
  assert all(i < first_heading for i, l in enumerate(lines)
             if l.startswith('<!--'))

  sig = hub.load(path).signatures['serving_default']
  _, kwargs = sig.structured_input_signature
  want = {('input', k, v.dtype.name) for k, v in kwargs.items()}
  want |= {('output', k, v.dtype.name)
           for k, v in sig.structured_outputs.items()}
  got = {(io, n, d) for io, n, d, _ in _table(text)}
  assert got == want
  assert 'acme/tiny_preprocess/1' in text  # Matching preprocessor named.
  assert model_card.OPTIMIZER_WARNING in text

  with open(os.path.join(path, 'assets.extra', model_card.KAGGLE)) as f:
    kaggle = json.load(f)
  assert kaggle['framework'] == 'tensorFlow2'
  assert kaggle['fineTunable'] is True
  assert kaggle['licenseName'] == 'Apache 2.0'
  assert 'hub.KerasLayer' in kaggle['usage']
  # The card is part of the hashed file table.
  with open(os.path.join(path, 'assets.extra', record.RECORD)) as f:
    assert 'assets.extra/README.md' in json.load(f)['files']


def test_card_and_record_name_the_op_libraries_to_import(tmp_path):
  """A model with tensorflow_text ops: the record and the card say which
  package to import before loading, and the TensorFlow that wrote it."""
  import tensorflow_text as text  # pylint: disable=g-import-not-at-top
  path = str(tmp_path / 'folding')
  v = tf.Variable(1.0)
  s = spec.single(tf.TensorSpec([None], tf.string), 'lengths',
                  spec.Output('features'))
  def call(strings, training=False):
    del training
    return tf.cast(tf.strings.length(text.case_fold_utf8(strings)),
                   tf.float32) * v
  writer.write(writer.reusable(call, [v], [v]), path, s)
  rec = record.build(path, recipe='test', name='folding',
                     spec_json=s.to_json(), source={'inputs': {}},
                     operative_config='', verification=None)
  assert rec['saved_model'] == {
      'tensorflow_version': tf.__version__,
      'op_libraries': {'tensorflow-text': ['CaseFoldUTF8']}}
  card = model_card.render(path, model_card.ModelCard(), rec)
  assert f'Written by TensorFlow {tf.__version__}.' in card
  assert ('Needs `tensorflow-text` (`pip install tensorflow-text`): '
          '`import tensorflow_text` before loading, which registers its ops '
          '(CaseFoldUTF8).') in card

"""Direct tests of official/hub_export/bert_family.py (no command line).

On the tiny BERT and ALBERT of tests/testdata (Model Garden encoders and
pretrainers built in memory): the export choices and vocabulary checks with
their one-line errors, TF1 checkpoints told apart, the variable groups and
dropout targets of both encoder kinds, and `export_encoder_and_preprocessor`
handing objects whose outputs equal its own references on its own cases
(what the post-export verification then checks after a reload).
"""
import numpy as np
import pytest
import tensorflow as tf

import bert_like_family as family
from official.hub_export import bert_family
from official.hub_export import spec

BERT, ALBERT = family.make_checkpoint('bert'), family.make_checkpoint('albert')


@spec.export_options('_bert_family_test')
class _Options(spec.Options):
  """The attributes every BERT-family recipe's Options has."""
  model_name: str = 'bert_en_uncased_tiny'
  with_mlm: bool = True
  do_lower_case: object = None
  seq_length: int = 16

  def __post_init__(self):
    bert_family.check_options(self)


@pytest.mark.parametrize('kwargs,fragment', [
    (dict(model_name=''), "model_name = '' is invalid: use a name"),
    (dict(with_mlm='yes'), "with_mlm = 'yes' is invalid: use True or False"),
    (dict(do_lower_case=1.5), 'do_lower_case = 1.5 is invalid'),
    (dict(do_lower_case=1), 'do_lower_case = 1 is invalid'),
    (dict(seq_length=2), 'seq_length = 2 is invalid: use an integer >= 3'),
    (dict(seq_length=True), 'seq_length = True is invalid')])
def test_options_are_checked(kwargs, fragment):
  assert _Options().seq_length == 16
  with pytest.raises(spec.UsageError, match=fragment):
    _Options(**kwargs)


def test_attention_heads_must_divide_the_hidden_size():
  bert_family.check_attention_heads(32, 2)
  with pytest.raises(spec.ExportError,
                     match='HIDDEN_SIZE 32 is not a multiple of '
                     'NUM_ATTENTION_HEADS 3: fix the gin config'):
    bert_family.check_attention_heads(32, 3)


class _Context:
  """What bert_family needs of driver.Context; saved objects stay in
  memory (nothing is written)."""

  def __init__(self):
    self.sources, self.saved = {}, {}

  def add_source(self, name, path, **info):
    self.sources[name] = dict(path=path, **info)

  def save(self, name, obj, export_spec, cases, reference):
    self.saved[name] = (obj, export_spec, cases, reference)


@pytest.fixture(scope='module')
def sp_model(tmp_path_factory):
  return ALBERT.write_sp_model(str(tmp_path_factory.mktemp('sp') /
                                   'sp.model'))


def test_vocabulary_checks(tmp_path, sp_model):
  check = lambda vocab, sp, name='bert_en_uncased', lower=None, size=100: (
      bert_family.check_vocab(_Context(), vocab, sp, size, lower, name))
  assert check(BERT.VOCAB, None)[2] is True  # 'uncased' in the name.
  assert check(BERT.VOCAB, None, 'bert_en_cased')[2] is False
  assert check(None, sp_model, 'albert_en_base')[2] is True  # SentencePiece.
  assert check(BERT.VOCAB, None, 'my_bert', lower=False)[2] is False
  with pytest.raises(spec.ExportError, match='cannot tell from model_name '
                     "'my_bert' whether to lower-case: set --gin_params="
                     "'DO_LOWER_CASE = True'"):
    check(BERT.VOCAB, None, 'my_bert')
  with pytest.raises(spec.ExportError, match='has 100 tokens but the model '
                     "has vocab_size 120 .*--gin_params='VOCAB_SIZE = ...'"):
    check(BERT.VOCAB, None, size=120)
  with pytest.raises(spec.ExportError, match='both --vocab_file and '
                     '--sp_model_file given: pass exactly one'):
    check(BERT.VOCAB, sp_model)
  with pytest.raises(spec.ExportError, match='no vocabulary given'):
    check(None, None)
  with pytest.raises(spec.ExportError, match='is not a SentencePiece model'):
    check(None, BERT.VOCAB)


def test_tf1_checkpoints_are_told_apart(tmp_path):
  with tf.Graph().as_default():
    v = tf.compat.v1.Variable(np.ones([4, 2], np.float32),
                              name='bert/embeddings/word_embeddings')
    saver = tf.compat.v1.train.Saver([v])
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      tf1 = saver.save(sess, str(tmp_path / 'tf1' / 'model.ckpt'),
                       write_meta_graph=False)
  tf2 = tf.train.Checkpoint(embeddings=tf.Variable(np.ones([4, 2]))).write(
      str(tmp_path / 'tf2' / 'ckpt'))
  assert bert_family.is_tf1_checkpoint(tf1)
  assert not bert_family.is_tf1_checkpoint(tf2)
  assert not bert_family.is_tf1_checkpoint(str(tmp_path / 'weights.h5'))


@pytest.fixture(scope='module', params=['bert', 'albert'])
def tiny(request):
  """(kind, encoder, pretrainer) with deterministic weights."""
  mc = BERT if request.param == 'bert' else ALBERT
  encoder, pretrainer = mc.build(mc.config())
  mc.randomize(pretrainer, seed=1)
  return request.param, encoder, pretrainer


def test_variable_groups_partition_the_encoder_bottom_to_top(tiny):
  kind, encoder, _ = tiny
  groups = bert_family.encoder_groups(encoder)
  names = [n for n, _ in groups]
  assert names == (['embeddings', 'layer_0', 'layer_1', 'pooler']
                   if kind == 'bert' else
                   ['embeddings', 'transformer_shared', 'pooler'])
  grouped = [id(v) for _, vs in groups for v in vs]
  assert len(grouped) == len(set(grouped))
  assert set(grouped) == {id(v) for v in encoder.variables}
  assert any('word_embeddings' in v.name for v in groups[0][1])
  assert all('pooler' in v.name for v in groups[-1][1])


def test_dropout_targets_are_the_configured_rates(tiny):
  kind, encoder, _ = tiny
  targets = bert_family.dropout_targets(encoder)
  assert sorted(targets) == ['attention_dropout_rate', 'dropout_rate']
  rate = 0.1 if kind == 'bert' else 0.0
  for pairs in targets.values():
    assert pairs and all(getattr(l, a) == rate for l, a in pairs)
  blocks = 2 if kind == 'bert' else 1
  assert len(targets['attention_dropout_rate']) == 2 * blocks
  # No layer is in both roles.
  ids = [id(l) for pairs in targets.values() for l, _ in pairs]
  assert len(ids) == len(set(ids))


@pytest.mark.parametrize('with_mlm', [True, False])
def test_export_equals_its_references_on_its_cases(tiny, with_mlm, sp_model):
  """What the driver would verify after the reload, checked in memory: each
  object's output on each of its cases equals the reference, and the spec
  declares exactly what the object has."""
  import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
  kind, encoder, pretrainer = tiny
  ctx = _Context()
  vocab, sp = (BERT.VOCAB, None) if kind == 'bert' else (None, sp_model)
  bert_family.export_encoder_and_preprocessor(
      ctx, encoder, pretrainer, vocab_size=100, with_mlm=with_mlm,
      vocab=vocab, sp_model=sp, do_lower_case=True, seq_length=16)
  assert sorted(ctx.saved) == ['encoder', 'preprocessor']
  obj, export_spec, cases, reference = ctx.saved['encoder']
  assert hasattr(obj, 'mlm') == with_mlm == ('mlm' in export_spec.subobjects)
  assert hasattr(obj, 'vocab_file' if vocab else 'sp_model_file')
  assert sorted(export_spec.tunables) == ['attention_dropout_rate',
                                          'dropout_rate']
  assert {c.target for c in cases} == ({'', 'mlm'} if with_mlm else {''})
  for case in cases:
    fn = (obj.mlm if case.target == 'mlm' else obj).__call__
    got, want = fn(case.inputs, training=False), reference(case)
    assert sorted(got) == sorted(want)
    for k in want:
      np.testing.assert_allclose(tf.nest.flatten(got[k]),
                                 tf.nest.flatten(want[k]), atol=1e-5, rtol=0,
                                 err_msg=k)
  pre, _, pre_cases, pre_reference = ctx.saved['preprocessor']
  assert {c.target for c in pre_cases} == {'', 'tokenize', 'bert_pack_inputs'}
  for case in pre_cases:
    fn = (getattr(pre, case.target) if case.target else pre).__call__
    got = fn(case.inputs, **(case.kwargs or {}))
    want = pre_reference(case)
    for g, w in zip(tf.nest.flatten(got, expand_composites=True),
                    tf.nest.flatten(want, expand_composites=True)):
      np.testing.assert_array_equal(g, w)

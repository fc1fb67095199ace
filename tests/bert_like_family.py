"""The BERT-like family's contract: encoder (+ .mlm) and preprocessor.

Every recipe that exports a Transformer encoder in the API of the TF Hub
BERTs (BERT, ALBERT: `OUT/encoder/` and `OUT/preprocessor/`, built with
`official/hub_export/bert_family.py`) declares one `Member` in its test file
and runs the same test body on it:

    class TestBertLikeFamily(bert_like_family.Contract):
      member = bert_like_family.Member(recipe='albert', ...)

The contract (`Contract`, run once per member, on its committed tiny
checkpoint and vocabulary):
  * the command line end to end, verification on: both exports, their
    records and model cards; equal to the in-memory Model Garden models;
  * the committed golden outputs (`tests/testdata/NAME/golden/*.npz`);
  * number for number what Model Garden's own exporter
    (`official.nlp.tools.export_tfhub_lib`) writes from the same checkpoint:
    encoder, `.mlm` and preprocessor;
  * the published API (signature, outputs, assets, dropout only in
    training), the preprocessor against Model Garden's tokenizer and packing
    layers, in `tf.data` and re-saved without the original files;
  * the usage snippets (single sentences and pairs), the model card's code,
    the variable groups and the card's freeze-all-but-the-top snippets, the
    tunable dropout rates;
  * the other checkpoint layouts: a trainer checkpoint with Adam slots, an
    encoder-only checkpoint (WITH_MLM = False, and the error without it), a
    TF1 checkpoint converted on the fly;
  * bad inputs: a config/checkpoint mismatch, a vocabulary of the wrong size,
    no vocabulary, heads that do not divide the hidden size, a bad export
    choice, an existing export directory: one-line errors, nothing written.
Everything else the post-export verification checks on every export;
`tests/test_bert_family.py` tests the shared library directly.
"""
import dataclasses
import functools
import importlib.util
import json
import os
import shutil
from typing import Any, Callable, Sequence, Tuple

import numpy as np
import pytest

from conftest import (TESTDATA, assert_card_code_runs, assert_golden,  # pylint: disable=g-multiple-import
                      assert_ok, assert_one_line_error, run_script)
from official.hub_export import bert_family  # pylint: disable=g-bad-import-order

# The preprocessor's verification sample (punctuation, accents, CJK, unknown
# words, an empty string, an over-length input) serves the tests too.
SENTENCES = bert_family.SENTENCES
POSITIONS = np.array([[1, 2, 5]] * 3, np.int32)


@functools.lru_cache(maxsize=None)
def make_checkpoint(recipe: str):
  """tests/testdata/RECIPE/make_checkpoint.py, by path under its own name
  (every recipe has a make_checkpoint module)."""
  spec = importlib.util.spec_from_file_location(
      f'{recipe}_make_checkpoint',
      os.path.join(TESTDATA, recipe, 'make_checkpoint.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@dataclasses.dataclass(frozen=True)
class Member:
  """One BERT-like recipe's contract entry.

  Attributes:
    recipe: NAME of export_scripts/NAME_export.py; its tiny model is
      tests/testdata/NAME (make_checkpoint.py with `CKPT`, `config()`,
      `build(config)`, `randomize`, `trainer_checkpoint`,
      `encoder_checkpoint`) and configs/NAME/tiny.gin (sequence length 16).
    vocab_flag: '--vocab_file' (WordPiece) or '--sp_model_file'.
    vocab: the committed vocabulary file (in tests/testdata/NAME).
    write_vocab: (make_checkpoint, path, size) -> a vocabulary of `size`.
    tokenizer: (vocab path) -> Model Garden's tokenizer layer for it.
    num_layers: encoder_outputs of the tiny model.
    hidden_size: of the tiny model (vocab_size is 100).
    dropout: the configured dropout rate (the tunable rates' default).
    groups: the encoder's variable groups, bottom to top.
    words: (make_checkpoint) -> words the vocabulary knows, for training.
    tf1_checkpoint: (make_checkpoint, encoder, pretrainer, prefix) -> the
      prefix of the original release's TF1 checkpoint of those weights.
    model_garden_config: (make_checkpoint) -> the config keyword argument
      of Model Garden's `export_tfhub_lib.export_model`.
    mismatch: gin params contradicting the checkpoint, and the fragments the
      one-line error must contain.
  """
  recipe: str
  vocab_flag: str
  vocab: str
  write_vocab: Callable[[Any, str, int], str]
  tokenizer: Callable[[str], Any]
  num_layers: int
  hidden_size: int
  dropout: float
  groups: Sequence[str]
  words: Callable[[Any], Sequence[str]]
  tf1_checkpoint: Callable[..., str]
  model_garden_config: Callable[[Any], dict]
  mismatch: Tuple[str, Sequence[str]]

  @property
  def mc(self):
    return make_checkpoint(self.recipe)

  @property
  def vocab_path(self):
    return os.path.join(TESTDATA, self.recipe, self.vocab)

  @property
  def asset(self):
    return 'vocab_file' if self.vocab_flag == '--vocab_file' else (
        'sp_model_file')


def export(member, out, *args, ckpt=None, vocab=True):
  """The recipe's tiny command line; `vocab`: True for the member's
  vocabulary, a path, or None for none."""
  flags = [f'--gin_file=configs/{member.recipe}/tiny.gin',
           f'--export_dir={out}',
           f'--checkpoint_path={ckpt or member.mc.CKPT}']
  if vocab:
    flags.append(f'{member.vocab_flag}='
                 f'{member.vocab_path if vocab is True else vocab}')
  return run_script(f'{member.recipe}_export.py', *flags, *args)


def inputs(batch=3, seq=12, seed=0, vocab_size=100):
  """Encoder inputs with padding and two segments."""
  rng = np.random.RandomState(seed)
  mask = np.ones([batch, seq], np.int32)
  mask[1:, seq - 3:] = 0
  return dict(
      input_word_ids=(rng.randint(1, vocab_size, [batch, seq]) * mask).astype(
          np.int32),
      input_mask=mask,
      input_type_ids=np.concatenate([np.zeros([batch, seq // 2], np.int32),
                                     mask[:, seq // 2:]], axis=1))


def outputs(obj, x, with_mlm=True):
  """{name: array} of an encoder's call (and of its .mlm call)."""
  out = obj(x, training=False)
  got = {k: out[k] for k in ('pooled_output', 'sequence_output', 'default')}
  got.update({f'encoder_outputs/{i}': t
              for i, t in enumerate(out['encoder_outputs'])})
  if with_mlm:
    batch = x['input_word_ids'].shape[0]
    mlm = obj.mlm(dict(x, masked_lm_positions=POSITIONS[:1].repeat(
        batch, axis=0)), training=False)
    got['mlm_logits'] = mlm['mlm_logits']
    got.update({f'mlm/{k}': mlm[k]
                for k in ('pooled_output', 'sequence_output')})
  return {k: np.asarray(v) for k, v in got.items()}


def assert_matches_model_garden(export_dir, encoder, pretrainer,
                                with_mlm=True, atol=1e-5):
  """The export equals the in-memory Model Garden models (run as graphs)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  obj = hub.load(os.path.join(export_dir, 'encoder'))
  x = inputs()
  enc = tf.function(lambda i: encoder(i, training=False))(x)
  got = outputs(obj, x, with_mlm)
  for key in ('pooled_output', 'default'):
    np.testing.assert_allclose(got[key], enc['pooled_output'], atol=atol,
                               rtol=0)
  np.testing.assert_allclose(got['sequence_output'], enc['sequence_output'],
                             atol=atol, rtol=0)
  assert len(enc['encoder_outputs']) == sum(
      k.startswith('encoder_outputs/') for k in got)
  for i, want in enumerate(enc['encoder_outputs']):
    np.testing.assert_allclose(got[f'encoder_outputs/{i}'], want, atol=atol,
                               rtol=0)
  if with_mlm:
    pre = tf.function(lambda i: pretrainer(i, training=False))(
        dict(x, masked_lm_positions=POSITIONS))
    assert got['mlm_logits'].shape == (3, 3, 100)
    np.testing.assert_allclose(got['mlm_logits'], pre['mlm_logits'],
                               atol=atol, rtol=0)
  else:
    assert not hasattr(obj, 'mlm')


def record(path):
  with open(os.path.join(path, 'assets.extra', 'export_record.json')) as f:
    return json.load(f)


class Contract:
  """The BERT-like family's test body; subclass it with `member = ...`."""
  member: Member

  # -------------------------------------------------------------------------
  # Class fixtures: the committed checkpoint, exported once by each side.

  @pytest.fixture(scope='class')
  def committed_model(self):
    """The Model Garden models holding the committed tiny checkpoint."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    mc = self.member.mc
    encoder, pretrainer = mc.build(mc.config())
    tf.train.Checkpoint(model=pretrainer, **pretrainer.checkpoint_items).read(
        mc.CKPT).assert_existing_objects_matched()
    return encoder, pretrainer

  @pytest.fixture(scope='class')
  def exported(self, tmp_path_factory):
    out = str(tmp_path_factory.mktemp(self.member.recipe) / 'export')
    proc = export(self.member, out)
    assert_ok(proc)
    return out, proc

  @pytest.fixture(scope='class')
  def model_garden_export(self, tmp_path_factory, committed_model):
    """The same weights through Model Garden's own TF Hub exporter. It
    asserts a `save_counter`, which its trainer's CheckpointManager writes:
    the committed values are saved that way first."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from official.nlp.tools import export_tfhub_lib  # pylint: disable=g-import-not-at-top
    m = self.member
    _, pretrainer = committed_model
    out = tmp_path_factory.mktemp(f'{m.recipe}_model_garden')
    ckpt = tf.train.Checkpoint(model=pretrainer, **pretrainer.checkpoint_items
                               ).save(str(out / 'ckpt' / 'ckpt'))
    vocab = {m.asset: m.vocab_path}
    export_tfhub_lib.export_model(
        str(out / 'encoder'), model_checkpoint_path=ckpt, with_mlm=True,
        do_lower_case=True if m.asset == 'vocab_file' else None,
        **m.model_garden_config(m.mc), **vocab)
    export_tfhub_lib.export_preprocessing(
        str(out / 'preprocessor'), do_lower_case=True,
        tokenize_with_offsets=False, default_seq_length=16, **vocab)
    return str(out)

  # -------------------------------------------------------------------------

  def test_end_to_end_command_line(self, exported, committed_model):
    out, proc = exported
    assert 'verified: ' in proc.stdout
    assert sorted(os.listdir(out)) == ['encoder', 'preprocessor']
    for name in ('encoder', 'preprocessor'):
      rec = record(os.path.join(out, name))
      assert rec['recipe'] == self.member.recipe and rec['export'] == name
      assert rec['verification']['failed'] == 0
      assert rec['source']['checkpoint']['layout'] == 'trainer'
      assert rec['source']['inputs'][self.member.asset]['tokens'] == 100
      with open(os.path.join(out, name, 'assets.extra', 'README.md')) as f:
        assert f.read().startswith('# Module publisher/')
    asset = os.path.basename(self.member.vocab)
    assert os.path.isfile(os.path.join(out, 'encoder', 'assets', asset))
    assert_matches_model_garden(out, *committed_model)

  def test_golden_outputs(self, exported):
    for name in ('encoder', 'preprocessor'):
      assert_golden(os.path.join(exported[0], name),
                    os.path.join(TESTDATA, self.member.recipe, 'golden',
                                 f'{name}.npz'))

  def test_equals_model_garden_exporter(self, exported, model_garden_export):
    """Number for number what Model Garden's export_tfhub_lib exports from
    the same checkpoint: encoder, .mlm and the preprocessor."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
    ours = hub.load(os.path.join(exported[0], 'encoder'))
    theirs = hub.load(os.path.join(model_garden_export, 'encoder'))
    for seed, (batch, seq) in enumerate(((1, 7), (3, 12), (2, 30))):
      x = inputs(batch, seq, seed=seed)
      got, want = outputs(ours, x), outputs(theirs, x)
      assert sorted(got) == sorted(want)
      for k in want:
        np.testing.assert_allclose(got[k], want[k], atol=1e-6, rtol=0,
                                   err_msg=k)
    assert ([v.shape for v in ours.trainable_variables] ==
            [v.shape for v in theirs.trainable_variables])
    pre_ours = hub.load(os.path.join(exported[0], 'preprocessor'))
    pre_theirs = hub.load(os.path.join(model_garden_export, 'preprocessor'))
    s = tf.constant(SENTENCES)
    assert pre_ours.tokenize(s).to_list() == pre_theirs.tokenize(s).to_list()
    for k, v in pre_theirs(s).items():
      np.testing.assert_array_equal(pre_ours(s)[k], v, err_msg=k)
    a, b = pre_ours.tokenize(s[:3]), pre_ours.tokenize(s[3:])
    for n in (9, 40):
      want = pre_theirs.bert_pack_inputs([a, b], seq_length=n)
      got = pre_ours.bert_pack_inputs([a, b], seq_length=n)
      for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=(k, n))

  def test_encoder_api_as_published(self, exported):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    m = self.member
    enc = hub.load(os.path.join(exported[0], 'encoder'))
    asset = getattr(enc, m.asset).asset_path.numpy().decode()
    assert os.path.basename(asset) == os.path.basename(m.vocab)
    if m.asset == 'vocab_file':  # WordPiece: the case is an attribute too.
      assert enc.do_lower_case.numpy()
    else:
      assert not hasattr(enc, 'do_lower_case')
    _, kw = enc.signatures['serving_default'].structured_input_signature
    assert sorted(kw) == ['input_mask', 'input_type_ids', 'input_word_ids']
    assert all(s.dtype == tf.int32 and s.shape.as_list() == [None, None]
               for s in kw.values())
    out = enc(inputs(batch=1, seq=7), training=False)
    assert sorted(out) == ['default', 'encoder_outputs', 'pooled_output',
                           'sequence_output']
    assert out['sequence_output'].shape == (1, 7, m.hidden_size)
    assert len(out['encoder_outputs']) == m.num_layers
    x = inputs()
    a = enc(x, training=False)['pooled_output']
    np.testing.assert_array_equal(a, enc(x, training=False)['pooled_output'])
    # Dropout only with training=True (and only if the model has any).
    b = enc(x, training=True)['pooled_output']
    assert np.allclose(a, b, atol=1e-6) == (m.dropout == 0)
    mlm = enc.mlm(dict(x, masked_lm_positions=np.zeros([3, 2], np.int32)))
    assert sorted(mlm) == ['encoder_outputs', 'mlm_logits', 'pooled_output',
                           'sequence_output']
    assert mlm['mlm_logits'].shape == (3, 2, 100)
    # The root's variables are the encoder's; the MLM head is in .mlm only.
    assert len(enc.variables) < len(enc.mlm.variables)
    assert len(enc.trainable_variables) == len(enc.variables)

  def test_preprocessor_equals_model_garden_layers(self, exported):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
    from official.nlp.modeling import layers  # pylint: disable=g-import-not-at-top
    pre = hub.load(os.path.join(exported[0], 'preprocessor'))
    tok = self.member.tokenizer(self.member.vocab_path)
    special = tok.get_special_tokens_dict()
    s = tf.constant(SENTENCES)
    ids = tok(s)
    got = pre.tokenize(s)
    assert got.dtype == tf.int32 and got.ragged_rank == ids.ragged_rank
    assert got.to_list() == ids.to_list()
    assert ids.to_list()[4] == []  # The empty string.
    pack = layers.BertPackInputs(seq_length=16, special_tokens_dict=special)
    for k, v in pack(ids).items():
      np.testing.assert_array_equal(pre(s)[k], v, err_msg=k)
    assert pre(s)['input_word_ids'].shape == (6, 16)  # tiny.gin's length.
    d = {k: int(v) for k, v in pre.tokenize.get_special_tokens_dict().items()}
    assert d == dict(vocab_size=100, padding_id=0, start_of_sequence_id=2,
                     end_of_segment_id=3, mask_id=4) == special
    # Pairs, ragged rank 1 and 2, explicit seq_length, fair truncation.
    a, b = ids[:3], ids[3:]
    pairs = [[a, b], [a]]
    if ids.ragged_rank == 2:
      pairs.append([a.merge_dims(1, 2), b.merge_dims(1, 2)])
    for segs in pairs:
      for n in (9, 64):
        want = layers.BertPackInputs.bert_pack_inputs(
            segs, seq_length=n, start_of_sequence_id=2, end_of_segment_id=3,
            padding_id=0)
        got = pre.bert_pack_inputs(segs, seq_length=n)
        for k in want:
          np.testing.assert_array_equal(got[k], want[k], err_msg=(k, n))
    packed = pre.bert_pack_inputs([a, b], seq_length=9)['input_type_ids']
    assert (packed.numpy()[0] == 1).sum() >= 3  # Both segments kept.
    assert pre.bert_pack_inputs([a])['input_word_ids'].shape == (3, 16)

  def test_preprocessor_in_dataset_map_and_resavable(self, exported,
                                                     tmp_path):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
    for name in ('preprocessor', 'encoder'):
      with open(os.path.join(exported[0], name, 'saved_model.pb'), 'rb') as f:
        graph = f.read()
      assert os.path.dirname(self.member.vocab_path).encode() not in graph
    copy = str(tmp_path / 'copy')
    shutil.copytree(os.path.join(exported[0], 'preprocessor'), copy)
    pre = hub.load(copy)
    batches = list(tf.data.Dataset.from_tensor_slices(SENTENCES).batch(4).map(
        pre))
    assert [b['input_word_ids'].shape for b in batches] == [(4, 16), (2, 16)]
    want = pre(tf.constant(SENTENCES))['input_word_ids'].numpy()
    resaved = str(tmp_path / 'resaved')
    tf.saved_model.save(pre, resaved)
    del pre
    shutil.rmtree(copy)
    np.testing.assert_array_equal(
        hub.load(resaved)(tf.constant(SENTENCES))['input_word_ids'], want)

  def test_fine_tuning_usage_snippet(self, exported):
    """The published usage: a classifier on pooled_output; single sentences
    and pairs through tokenize + bert_pack_inputs; the loss falls and the
    encoder's weights move."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
    import tf_keras  # pylint: disable=g-import-not-at-top
    enc_path = os.path.join(exported[0], 'encoder')
    pre_path = os.path.join(exported[0], 'preprocessor')
    words = list(self.member.words(self.member.mc))
    rng = np.random.RandomState(0)
    a = np.array([' '.join(rng.choice(words, 5)) for _ in range(32)])
    b = np.array([' '.join(rng.choice(words, 4)) for _ in range(32)])
    y = np.array([('fox' in s) or ('dog' in s) or i % 2
                  for i, s in enumerate(a)], np.float32)

    def train(model, x):
      model.compile(optimizer=tf_keras.optimizers.Adam(3e-3),
                    loss=tf_keras.losses.BinaryCrossentropy(from_logits=True))
      encoder = [l for l in model.layers
                 if isinstance(l, hub.KerasLayer) and l.trainable][0]
      before = [w.numpy().copy() for w in encoder.trainable_weights]
      loss0 = model.evaluate(x, y, verbose=0, batch_size=32)
      model.fit(x, y, epochs=10, batch_size=8, verbose=0)
      loss1 = model.evaluate(x, y, verbose=0, batch_size=32)
      assert loss1 < loss0, (loss0, loss1)
      changed = [not np.array_equal(w0, w.numpy())
                 for w0, w in zip(before, encoder.trainable_weights)]
      assert sum(changed) >= 0.8 * len(changed), changed

    text = tf_keras.layers.Input(shape=(), dtype=tf.string)
    encoder = hub.KerasLayer(enc_path, trainable=True)
    pooled = encoder(hub.KerasLayer(pre_path)(text))['pooled_output']
    train(tf_keras.Model(text, tf_keras.layers.Dense(1)(pooled)), a)

    pre = hub.load(pre_path)
    ta = tf_keras.layers.Input(shape=(), dtype=tf.string)
    tb = tf_keras.layers.Input(shape=(), dtype=tf.string)
    tokenize = hub.KerasLayer(pre.tokenize)
    pack = hub.KerasLayer(pre.bert_pack_inputs, arguments=dict(seq_length=16))
    encoder = hub.KerasLayer(enc_path, trainable=True)
    pooled = encoder(pack([tokenize(ta), tokenize(tb)]))['pooled_output']
    train(tf_keras.Model([ta, tb], tf_keras.layers.Dense(1)(pooled)), [a, b])

  def test_model_card_code_runs(self, exported):
    """Every code block of the model cards runs as published (tf_keras with
    hub.KerasLayer, Keras 3 with TFSMLayer), against this export."""
    tf_keras_blocks, keras3_blocks = assert_card_code_runs(
        os.path.join(exported[0], 'encoder'),
        os.path.join(exported[0], 'preprocessor'))
    assert tf_keras_blocks and keras3_blocks

  def test_variable_groups_bottom_to_top(self, exported):
    """Named groups, bottom to top, partition the trainable variables;
    `.mlm` adds its head on top."""
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    obj = hub.load(os.path.join(exported[0], 'encoder'))
    names = [g.name.numpy().decode() for g in obj.variable_groups]
    assert names == list(self.member.groups)
    assert [g.name.numpy().decode() for g in obj.mlm.variable_groups] == (
        names + ['mlm_head'])
    grouped = [v.ref() for g in obj.variable_groups
               for v in g.trainable_variables]
    assert len(grouped) == len(set(grouped))
    assert set(grouped) == {v.ref() for v in obj.trainable_variables}

  def test_fine_tune_top_groups_with_card_snippets(self, exported):
    """The card's tf_keras and Keras 3 snippets train only the top groups:
    every other variable bit-identical, theirs moved."""
    import finetune_consumer  # pylint: disable=g-import-not-at-top
    path = os.path.join(exported[0], 'encoder')
    for run in (finetune_consumer.tf_keras_top_groups,
                finetune_consumer.keras3_top_groups):
      got = run(path, inputs(batch=4, seq=8), 'pooled_output')
      assert got['groups'] == list(self.member.groups)
      assert not got['frozen_changed'], (run.__name__, got)
      assert not got['top_unmoved'], (run.__name__, got)

  def test_dropout_rates_tunable_per_call(self, exported):
    """`dropout_rate`/`attention_dropout_rate` default to the configured
    rate; rate 0 in training mode gives the inference outputs, a high rate
    moves them more than the default; after hub.load and through
    arguments=; the card lists both with their default."""
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    path = os.path.join(exported[0], 'encoder')
    obj = hub.load(path)
    x = inputs()
    infer = obj(x, training=False)['sequence_output'].numpy()
    off = dict(dropout_rate=0.0, attention_dropout_rate=0.0)
    np.testing.assert_allclose(
        obj(x, training=True, **off)['sequence_output'], infer, atol=1e-5)
    layer = hub.KerasLayer(path, trainable=True, arguments=off)
    np.testing.assert_allclose(layer(x, training=True)['sequence_output'],
                               infer, atol=1e-5)
    change = lambda **kw: np.mean([np.mean((obj(
        x, training=True, **kw)['sequence_output'].numpy() - infer) ** 2)
                                   for _ in range(3)])
    high = change(dropout_rate=0.6, attention_dropout_rate=0.6)
    assert high > 2 * change() and high > 1e-4
    with open(os.path.join(path, 'assets.extra', 'README.md')) as f:
      card = f.read()
    for name in ('dropout_rate', 'attention_dropout_rate'):
      assert f'| `{name}` | {self.member.dropout:g} | dropout on the ' in card

  # -------------------------------------------------------------------------
  # The other checkpoint layouts, each compared with the source (--noverify:
  # the comparison here replaces the verification).

  def test_end_to_end_trainer_checkpoint_with_optimizer(self, tmp_path):
    mc = self.member.mc
    encoder, pretrainer = mc.build(mc.config())
    mc.randomize(pretrainer, seed=3)
    prefix = mc.trainer_checkpoint(encoder, pretrainer,
                                   str(tmp_path / 'trainer' / 'ckpt-3'))
    out = str(tmp_path / 'out')
    proc = export(self.member, out, '--noverify', ckpt=prefix)
    assert_ok(proc)
    assert "layout 'trainer'" in proc.stdout
    assert 'other values ignored' in proc.stdout  # Adam slots, the step.
    assert_matches_model_garden(out, encoder, pretrainer)

  def test_end_to_end_encoder_only_checkpoint(self, tmp_path):
    mc = self.member.mc
    encoder, pretrainer = mc.build(mc.config())
    mc.randomize(encoder, seed=5)
    prefix = mc.encoder_checkpoint(encoder, str(tmp_path / 'ckpt'))
    out = str(tmp_path / 'out')
    proc = export(self.member, out, '--gin_params=WITH_MLM = False',
                  '--noverify', ckpt=prefix)
    assert_ok(proc)
    assert "layout 'encoder'" in proc.stdout
    assert_matches_model_garden(out, encoder, pretrainer, with_mlm=False)
    # WITH_MLM (the default) needs the MLM head: a one-line error.
    proc = export(self.member, str(tmp_path / 'mlm'), ckpt=prefix)
    assert_one_line_error(proc, 'found nothing', 'WITH_MLM = False')
    assert not (tmp_path / 'mlm').exists()

  def test_end_to_end_tf1_checkpoint(self, tmp_path):
    """The original release's TF1 layout, converted on the fly with Model
    Garden's converter into a temporary directory, removed afterwards."""
    mc = self.member.mc
    encoder, pretrainer = mc.build(mc.config())
    mc.randomize(pretrainer, seed=7)
    prefix = self.member.tf1_checkpoint(mc, encoder, pretrainer,
                                        str(tmp_path / 'tf1' / 'model.ckpt'))
    before = set(os.listdir(tmp_path))
    out = str(tmp_path / 'out')
    proc = export(self.member, out, '--noverify', ckpt=prefix)
    assert_ok(proc)
    assert '(tf1, layout' in proc.stdout
    rec = record(os.path.join(out, 'encoder'))
    assert rec['source']['checkpoint']['path'] == os.path.abspath(prefix)
    assert_matches_model_garden(out, encoder, pretrainer)
    assert set(os.listdir(tmp_path)) == before | {'out'}

  # -------------------------------------------------------------------------
  # Bad inputs: one-line errors, nothing written.

  def _assert_bad(self, tmp_path, *fragments, args=(), code=1, **kwargs):
    out = tmp_path / 'out'
    proc = export(self.member, str(out), *args, **kwargs)
    assert_one_line_error(proc, *fragments, code=code)
    assert not out.exists()
    assert not list(tmp_path.glob('.out.tmp-*'))
    return proc

  def test_bad_config_checkpoint_mismatch(self, tmp_path):
    params, fragments = self.member.mismatch
    proc = self._assert_bad(tmp_path, 'wrong shape', *fragments,
                            args=[f'--gin_params={p}' for p in params])
    assert 'layout: trainer' in proc.stderr

  def test_bad_vocabulary_size(self, tmp_path):
    vocab = self.member.write_vocab(
        self.member.mc, str(tmp_path / os.path.basename(self.member.vocab)),
        90)
    self._assert_bad(tmp_path, 'has 90 tokens', 'vocab_size 100',
                     'VOCAB_SIZE', vocab=vocab)

  def test_bad_missing_vocabulary(self, tmp_path):
    self._assert_bad(tmp_path, 'no vocabulary given', self.member.vocab_flag,
                     vocab=None)
    self._assert_bad(tmp_path, 'does not exist', self.member.vocab_flag,
                     vocab=str(tmp_path / 'nope'))

  def test_bad_attention_heads(self, tmp_path):
    self._assert_bad(
        tmp_path, f'HIDDEN_SIZE {self.member.hidden_size} is not a multiple '
        'of NUM_ATTENTION_HEADS 3',
        args=['--gin_params=NUM_ATTENTION_HEADS = 3'])

  def test_bad_export_choice(self, tmp_path):
    self._assert_bad(
        tmp_path, f'gin: {self.member.recipe}.seq_length = 1 is invalid: '
        'use an integer >= 3', args=['--gin_params=SEQ_LENGTH = 1'], code=2)

  def test_bad_existing_export_dir(self, exported):
    before = sorted(os.listdir(exported[0]))
    proc = export(self.member, exported[0])
    assert_one_line_error(proc, 'already exists', '--overwrite')
    assert sorted(os.listdir(exported[0])) == before

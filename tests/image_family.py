"""The image family's contract, and the tiny-checkpoint helpers it shares.

Every image recipe (ResNet, MobileNet, EfficientNet, ViT: a trained
classifier cut into `feature_vector/` and `classification/`) declares one
`Member` in its test file and runs the same test body on it:

    class TestImageFamily(image_family.Contract):
      member = image_family.Member(recipe='vit', ...)

The contract (`Contract`, run once per member):
  * the command line end to end, verification on, on the committed tiny
    checkpoint: both exports, their records, model cards, no optimizer
    variables;
  * the committed golden outputs (`tests/testdata/NAME/golden/*.npz`);
  * equality with Model Garden's own vision exporter
    (`official.vision.serving.export_tfhub_lib`) on the same checkpoint,
    within 1e-5, where Model Garden has one (it expects normalized images
    of a fixed size, and drops the L2 losses);
  * a config/checkpoint mismatch: a one-line error naming the macro to fix,
    exit status 1, nothing written.
Everything else the post-export verification checks on every export (the
reference outputs on a shape sweep, the reusable API, hub.KerasLayer
trainable and frozen, a fit step); `tests/test_image_models.py` tests the
shared library directly.

`make_checkpoint.py` scripts import this module for `load_recipe`,
`randomize` and `save_trainer_checkpoint`.
"""
import contextlib
import dataclasses
import functools
import importlib.util
import json
import os
from typing import Any, Callable, Optional, Sequence, Tuple

import numpy as np

from conftest import (ROOT, TESTDATA, assert_card_code_runs, assert_golden, assert_ok,  # pylint: disable=g-multiple-import
                      assert_one_line_error, run_script)

import pytest  # pylint: disable=g-bad-import-order

# Model Garden's vision input pipeline: MEAN_NORM / STDDEV_NORM on [0, 1].
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
EXPORTS = ('feature_vector', 'classification')


@functools.lru_cache(maxsize=None)
def load_recipe(name: str):
  """export_scripts/NAME_export.py as a module (not a package), once per
  process (its gin configurables register on import)."""
  path = os.path.join(ROOT, 'export_scripts', f'{name}_export.py')
  mod_spec = importlib.util.spec_from_file_location(f'{name}_export', path)
  module = importlib.util.module_from_spec(mod_spec)
  mod_spec.loader.exec_module(module)
  return module


def images(n, size, seed=1):
  return np.random.RandomState(seed).uniform(
      0, 1, [n, size, size, 3]).astype(np.float32)


def vision_normalize(x):
  """Model Garden's classification input pipeline on [0, 1] images."""
  return (np.asarray(x, np.float32) - np.float32(MEAN)) / np.float32(STD)


def randomize(model, seed=0, size=64, normalize=vision_normalize,
              activate=None):
  """Deterministic weights of the right scale for every kind of variable
  (independent of TF's initializers), batch-norm statistics included.

  Random deep nets amplify rounding differences: gammas in [0.5, 1] and
  moving statistics of 32 images keep activations of order one, as in a
  trained net, so that 1e-5 equality tests test the export, not rounding."""
  rng = np.random.RandomState(seed)
  for v in model.weights:
    shape = v.shape.as_list()
    name = v.name.split('/')[-1]
    if name.startswith('gamma'):
      value = rng.uniform(0.5, 1.0, shape)
    elif name.startswith('moving_variance'):
      value = rng.uniform(0.5, 1.5, shape)
    elif name.startswith(('beta', 'moving_mean', 'bias', 'pos_embedding',
                          'cls')):
      value = rng.normal(0, 0.1, shape)
    else:  # Kernels: He-normal scale (depthwise: per channel).
      fan_in = (int(np.prod(shape[:2])) if name.startswith('depthwise')
                else int(np.prod(shape[:-1]))) or 1
      value = rng.normal(0, np.sqrt(2.0 / fan_in), shape)
    v.assign(value.astype(np.float32))
  if activate:
    activate(model)
  calibrate(model, rng, size, normalize)


def calibrate(model, rng, size, normalize=vision_normalize):
  """Batch-norm moving statistics := the statistics of random images (as
  training would leave them)."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  norms = [l for l in model._flatten_layers(include_self=False)  # pylint: disable=protected-access
           if isinstance(l, tf_keras.layers.BatchNormalization)]
  if not norms:
    return
  momenta = [l.momentum for l in norms]
  for l in norms:
    l.momentum = 0.0
  model(normalize(rng.uniform(0, 1, [32, size, size, 3])), training=True)
  for l, m in zip(norms, momenta):
    l.momentum = m


def save_trainer_checkpoint(model, directory, size=32,
                            normalize=vision_normalize):
  """As Model Garden's trainer: global_step, model, optimizer (momentum
  slots, after a zero-learning-rate step) and model.checkpoint_items,
  through a CheckpointManager (`ckpt-1`, with save_counter)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  optimizer = tf_keras.optimizers.SGD(0.0, momentum=0.9)
  x = normalize(np.random.RandomState(7).uniform(0, 1, [2, size, size, 3]))
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(model(x, training=False)) + tf.add_n(
        model.losses or [tf.constant(0.0)])
  optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                model.trainable_variables))
  ckpt = tf.train.Checkpoint(global_step=tf.Variable(1, dtype=tf.int64),
                             model=model, optimizer=optimizer,
                             **model.checkpoint_items)
  return tf.train.CheckpointManager(ckpt, directory, max_to_keep=1,
                                    checkpoint_name='ckpt').save(
                                        checkpoint_number=1)


def experiment(name: str, model: dict):
  """Model Garden's experiment config `name` with `task.model` overridden."""
  from official.core import exp_factory  # pylint: disable=g-import-not-at-top
  from official.vision.configs import image_classification  # pylint: disable=g-import-not-at-top,unused-import  (registers the experiments)
  params = exp_factory.get_exp_config(name)
  params.override({'task': {'model': model}}, is_strict=True)
  return params


# ---------------------------------------------------------------------------
# The contract.

@dataclasses.dataclass(frozen=True)
class ModelGarden:
  """Model Garden's exporter on a checkpoint the recipe also exports.

  Attributes:
    params: () -> the experiment config Model Garden exports from.
    image_size: the fixed size its export is built for and compared at.
    checkpoint: (directory) -> a checkpoint path and the recipe's flags for
      it; None: the member's committed checkpoint and flags.
    patch: () -> a context manager around Model Garden's build (e.g. a tiny
      entry in its size table, as the recipe's tiny config sets).
    slow: run only with `-m slow` (a checkpoint of its own costs one more
      export).
  """
  params: Callable[[], Any]
  image_size: int
  checkpoint: Optional[Callable[[str], Tuple[str, Sequence[str]]]] = None
  patch: Callable[[], Any] = contextlib.nullcontext
  slow: bool = False


@dataclasses.dataclass(frozen=True)
class Member:
  """One image recipe's contract entry.

  Attributes:
    recipe: NAME of export_scripts/NAME_export.py.
    checkpoint: the committed tiny checkpoint (relative to tests/testdata).
    layout: the restore layout its export record names.
    num_classes: classes of the tiny model.
    mismatch: gin params contradicting the checkpoint, and the fragments
      the one-line error must contain (the macro to fix).
    model_garden: Model Garden's own exporter for it, if any.
    flags: further flags of the tiny export.
  """
  recipe: str
  checkpoint: str
  layout: str
  num_classes: int
  mismatch: Tuple[str, Sequence[str]]
  model_garden: Optional[ModelGarden] = None
  flags: Sequence[str] = ()

  @property
  def args(self):
    return (f'--gin_file=configs/{self.recipe}/tiny.gin',
            f'--checkpoint_path={os.path.join(TESTDATA, self.checkpoint)}',
            *self.flags)


def export(member, out, *args, verify=True):
  """The recipe's command line; `args` replace the member's tiny ones."""
  proc = run_script(f'{member.recipe}_export.py', f'--export_dir={out}',
                    *(args or member.args),
                    *(() if verify else ('--noverify',)))
  assert_ok(proc)
  return proc


def record(path):
  with open(os.path.join(path, 'assets.extra', 'export_record.json')) as f:
    return json.load(f)


class Contract:
  """The image family's test body; subclass it with `member = Member(...)`."""
  member: Member

  @pytest.fixture(scope='class')
  def exported(self, tmp_path_factory):
    out = str(tmp_path_factory.mktemp(self.member.recipe) / 'export')
    return out, export(self.member, out)

  def test_end_to_end_command_line(self, exported):
    out, proc = exported
    assert sorted(os.listdir(out)) == sorted(EXPORTS)
    assert proc.stdout.count('checks passed') == 2, proc.stdout
    for name, task in zip(EXPORTS, ('image-feature-vector',
                                    'image-classification')):
      rec = record(os.path.join(out, name))
      assert rec['recipe'] == self.member.recipe
      assert rec['api']['task'] == task
      assert rec['verification']['failed'] == 0
      ckpt = rec['source']['checkpoint']
      assert ckpt['layout'] == self.member.layout
      if self.member.layout.endswith('trainer'):  # Slots and step read past.
        assert ckpt['ignored_checkpoint_values'] > 0
    with open(os.path.join(out, 'classification', 'assets.extra',
                           'README.md')) as f:
      card = f.read()
    for words in (f'# Module publisher/{self.member.recipe}_tiny_'
                  'classification/1', 'tf.nn.softmax',
                  f'| output | `logits` | float32 | [batch, '
                  f'{self.member.num_classes}] |'):
      assert words in card, words
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    names = [v.name for v in hub.load(os.path.join(out, 'classification')
                                      ).variables]
    assert not any('momentum' in n or 'iteration' in n for n in names), names

  def test_model_card_code_runs(self, exported):
    """Every code block of both model cards runs as published (tf_keras
    with hub.KerasLayer, Keras 3 with TFSMLayer), against this export."""
    tf_keras_blocks, keras3_blocks = assert_card_code_runs(
        *[os.path.join(exported[0], name) for name in EXPORTS])
    assert tf_keras_blocks and keras3_blocks

  def test_variable_groups_bottom_to_top(self, exported):
    """Named groups, bottom to top, partition the trainable variables; the
    classifier's are the feature vector's, its final layer in `head`."""
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    names = {}
    for name in EXPORTS:
      obj = hub.load(os.path.join(exported[0], name))
      names[name] = [g.name.numpy().decode() for g in obj.variable_groups]
      grouped = [v.ref() for g in obj.variable_groups
                 for v in g.trainable_variables]
      assert len(grouped) == len(set(grouped))
      assert set(grouped) == {v.ref() for v in obj.trainable_variables}
    # The classifier adds its final layer to the top group: a `head` of
    # its own, or the feature vector's `head` (a top conv, as EfficientNet's).
    assert names['classification'][-1] == 'head'
    assert names['feature_vector'] in (names['classification'][:-1],
                                       names['classification'])
    self.check_group_names(names['feature_vector'])

  def check_group_names(self, names):
    """Members override this with their own naming of the groups."""
    assert len(names) == len(set(names))

  def test_golden_outputs(self, exported):
    for name in EXPORTS:
      assert_golden(os.path.join(exported[0], name),
                    os.path.join(TESTDATA, self.member.recipe, 'golden',
                                 f'{name}.npz'), atol=1e-5)

  @pytest.fixture(scope='class')
  def model_garden_export(self, exported, tmp_path_factory):
    """(checkpoint, our export of it) for the Model Garden comparison: the
    tiny export, or one (not verified again) of the member's own checkpoint
    for Model Garden."""
    mg = self.member.model_garden
    if mg is None:
      pytest.skip(f'Model Garden has no exporter for {self.member.recipe}')
    if mg.checkpoint is None:  # Model Garden's exporter takes a prefix.
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      path = os.path.join(TESTDATA, self.member.checkpoint)
      return tf.train.latest_checkpoint(path) or path, exported[0]
    tmp = tmp_path_factory.mktemp(f'{self.member.recipe}_mg')
    ckpt, flags = mg.checkpoint(str(tmp / 'ckpt'))
    export(self.member, str(tmp / 'ours'), f'--checkpoint_path={ckpt}',
           *flags, verify=False)
    return ckpt, str(tmp / 'ours')

  def test_equals_model_garden_export_tfhub(self, request):
    """Model Garden's export of the same checkpoint computes the same
    numbers once its input is normalized by hand (ours normalizes inside);
    logits both; the L2 losses only ours."""
    mg = self.member.model_garden
    if mg is None or mg.slow:
      pytest.skip('no Model Garden exporter' if mg is None else
                  'slow: test_equals_model_garden_export_tfhub_slow')
    self._check_model_garden(request.getfixturevalue('model_garden_export'))

  @pytest.mark.slow
  def test_equals_model_garden_export_tfhub_slow(self, request):
    mg = self.member.model_garden
    if mg is None or not mg.slow:
      pytest.skip('not slow: test_equals_model_garden_export_tfhub')
    self._check_model_garden(request.getfixturevalue('model_garden_export'))

  def _check_model_garden(self, model_garden_export):
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    from official.vision.serving import export_tfhub_lib  # pylint: disable=g-import-not-at-top
    mg = self.member.model_garden
    ckpt, ours_dir = model_garden_export
    x = images(3, mg.image_size, seed=8)
    for name in EXPORTS:
      mg_dir = os.path.join(os.path.dirname(ours_dir), f'mg_{name}')
      with mg.patch():
        export_tfhub_lib.export_model_to_tfhub(
            None, [mg.image_size] * 2, mg.params(), ckpt, mg_dir,
            skip_logits_layer=name == 'feature_vector')
      theirs = hub.load(mg_dir)
      ours = hub.load(os.path.join(ours_dir, name))
      want = theirs(vision_normalize(x), training=False).numpy()
      got = ours(x, training=False).numpy()
      print(f'{self.member.recipe} {name}: max abs diff vs Model Garden '
            f'{np.max(np.abs(got - want)):.3g}')
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
      assert not theirs.regularization_losses

  def test_config_checkpoint_mismatch(self, tmp_path):
    out = str(tmp_path / 'out')
    param, fragments = self.member.mismatch
    proc = run_script(f'{self.member.recipe}_export.py', *self.member.args,
                      f'--export_dir={out}', f'--gin_params={param}')
    assert_one_line_error(proc, *fragments, code=1)
    assert not os.path.exists(out) and os.listdir(tmp_path) == []

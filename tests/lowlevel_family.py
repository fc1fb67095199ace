"""The low-level family's contract: one reusable SavedModel per export.

Every recipe that writes a single SavedModel with the reusable API built by
hand or wrapped as it is (`writer.Reusable`, `writer.from_keras`,
`keras3.reusable`: the seed `mul`, `text_embedding`, and `keras` for a
`.keras` file) declares one `Member` in its test file and runs the same test
body on it:

    class TestLowLevelFamily(lowlevel_family.Contract):
      member = lowlevel_family.Member(recipe='mul', args=..., golden='mul.npz')

The contract (`Contract`, run once per member on its committed tiny input):
  * the command line end to end, verification on: the record (recipe,
    command, checks passed), the operative gin config and the model card
    beside the export;
  * the committed golden outputs (`tests/testdata/NAME/golden/GOLDEN`);
  * every code block of the model card runs against the export;
  * a second export of the same input is identical (same variable bytes,
    same outputs), and `--noverify` is recorded as not verified;
  * bad inputs: a gin macro nothing reads, the recipe's own bad export
    choice, an existing export directory: one-line errors, nothing written.
Everything else the post-export verification checks on every export (the
reference outputs on a shape sweep, the reusable API, hub.KerasLayer
trainable and frozen, a fit step, the Keras 3 consumer); each member's test
file adds what only it has (the text embedding's NumPy reference, the Keras
3 model's own outputs).
"""
import dataclasses
import json
import os
from typing import Optional, Sequence, Tuple

import numpy as np
import pytest

from conftest import (TESTDATA, assert_card_code_runs, assert_golden,  # pylint: disable=g-multiple-import
                      assert_ok, assert_one_line_error, run_script)


@dataclasses.dataclass(frozen=True)
class Member:
  """One low-level recipe's contract entry.

  Attributes:
    recipe: NAME of export_scripts/NAME_export.py.
    args: its tiny command line (gin file, input flags), paths relative to
      tests/testdata/NAME written as `{data}/...`.
    golden: the golden file's name in tests/testdata/NAME/golden.
    golden_atol: the golden comparison's tolerance.
    bad_choice: a gin binding the recipe refuses, and a fragment of its
      one-line error; None if the recipe has no export choices.
  """
  recipe: str
  args: Sequence[str]
  golden: str
  golden_atol: float = 1e-6
  bad_choice: Optional[Tuple[str, str]] = None


def export(member, out, *extra):
  """The member's tiny command line into `out`, plus `extra` flags."""
  data = os.path.join(TESTDATA, member.recipe)
  return run_script(f'{member.recipe}_export.py', f'--export_dir={out}',
                    *(a.format(data=data) for a in member.args), *extra)


def record(path):
  with open(os.path.join(path, 'assets.extra', 'export_record.json')) as f:
    return json.load(f)


class Contract:
  """The low-level family's test body; subclass it with `member = ...`."""
  member: Member

  @pytest.fixture(scope='class')
  def exported(self, tmp_path_factory):
    out = str(tmp_path_factory.mktemp(self.member.recipe) / 'export')
    proc = export(self.member, out)
    assert_ok(proc)
    return out, proc

  def test_end_to_end_command_line(self, exported):
    out, proc = exported
    assert proc.stdout.count('checks passed') == 1, proc.stdout
    assert 'verified: ' in proc.stdout
    rec = record(out)
    assert rec['recipe'] == self.member.recipe
    assert rec['verification']['failed'] == 0
    assert f'{self.member.recipe}_export.py' in rec['command']
    extra = sorted(os.listdir(os.path.join(out, 'assets.extra')))
    assert extra == ['README.md', 'export_record.json',
                     'model-instance-metadata.json', 'operative_config.gin']
    with open(os.path.join(out, 'assets.extra', 'README.md')) as f:
      card = f.read()
    assert card.startswith('# Module publisher/'), card[:200]
    assert '<!-- format: saved_model_2 -->' in card

  def test_golden_outputs(self, exported):
    assert_golden(exported[0], os.path.join(
        TESTDATA, self.member.recipe, 'golden', self.member.golden),
                  atol=self.member.golden_atol)

  def test_model_card_code_runs(self, exported):
    """Every code block of the model card runs as published (tf_keras with
    hub.KerasLayer, Keras 3 with TFSMLayer), against this export."""
    tf_keras_blocks, keras3_blocks = assert_card_code_runs(exported[0])
    assert tf_keras_blocks and keras3_blocks

  def test_re_export_is_identical(self, exported, tmp_path):
    """The same input exported again (--noverify): the same variable bytes
    and outputs; the record says it was not verified."""
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    again = str(tmp_path / 'again')
    proc = export(self.member, again, '--noverify')
    assert_ok(proc)
    assert 'NOT verified' in proc.stdout
    a, b = record(exported[0]), record(again)
    assert b['verification'] is None
    data = 'variables/variables.data-00000-of-00001'
    assert a['files'][data]['sha256'] == b['files'][data]['sha256']
    assert a['api'] == b['api']
    first, second = hub.load(exported[0]), hub.load(again)
    for x, y in zip(first.variables, second.variables):
      np.testing.assert_array_equal(x.numpy(), y.numpy())

  def _assert_refused(self, tmp_path, param, fragment, code):
    out = tmp_path / 'out'
    proc = export(self.member, str(out), f'--gin_params={param}')
    assert_one_line_error(proc, fragment, code=code)
    assert not out.exists() and os.listdir(tmp_path) == []

  def test_bad_gin_macro_nothing_reads(self, tmp_path):
    self._assert_refused(tmp_path, 'NOT_A_MACRO = 1',
                         'macro NOT_A_MACRO is set but nothing uses it', 2)

  def test_bad_export_choice(self, tmp_path):
    if self.member.bad_choice is None:
      pytest.skip(f'{self.member.recipe} has no export choices')
    self._assert_refused(tmp_path, *self.member.bad_choice, code=2)

  def test_bad_existing_export_dir(self, exported):
    before = sorted(os.listdir(exported[0]))
    proc = export(self.member, exported[0])
    assert_one_line_error(proc, 'already exists', '--overwrite')
    assert sorted(os.listdir(exported[0])) == before

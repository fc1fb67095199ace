"""Smoke test of the benchmarks (benchmarks/run.py) so they do not rot.

Runs the runner end to end on the smallest cases, a BERT L-2/H-128 compared
with Model Garden's export_tfhub (`--quick --noverified`: small inputs, one
consumer process per SavedModel) and the text_embedding case on a 2,000 x 16
file, and checks that it produced the report and that the two exports
agreed; the tiny ALBERT and MobileNet V2 comparisons (about 1.5 and 3
minutes on a 2-core machine) are `slow`. The numbers themselves are not
tested (this is not a benchmark run: see benchmarks/RESULTS.md).
"""
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT, script_env

sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))
import run as bench_run  # pylint: disable=g-import-not-at-top,wrong-import-position


def _run(tmp_path, *args):
  """benchmarks/run.py ARGS as a user runs it; returns the report written."""
  out = tmp_path / 'RESULTS.md'
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'benchmarks', 'run.py'), *args,
       f'--workdir={tmp_path / "work"}', f'--out={out}'],
      cwd=ROOT, env=script_env(), capture_output=True, text=True,
      timeout=600, check=False)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  return out.read_text()


def _tables(report):
  """{section title: {metric: table cells}} of a report's tables."""
  out = {}
  for section in report.split('\n## ')[1:]:
    title, _, body = section.partition('\n')
    for line in body.splitlines():
      cells = [c.strip() for c in line.strip('|').split('|')]
      if len(cells) == 6 and cells[0] not in ('metric', '---'):
        out.setdefault(title, {})[cells[0]] = cells
  return out


def _assert_outputs_equal(rows):
  diffs = {k: v for k, v in rows.items() if k.startswith('max abs diff')}
  assert diffs, list(rows)
  for k, v in diffs.items():
    assert v[4].startswith('met'), (k, v)
  return ' '.join(diffs)


def test_bad_size_and_case_are_usage_errors(capsys):
  for argv in (['--bert_sizes=L-3/H-100'], ['--cases=bert,nope'],
               ['--sizes=L-2/H-100'], ['--text_embedding_size=300'],
               ['--albert_size=huge'], ['--mobilenet_model=resnet50']):
    with pytest.raises(SystemExit) as e:
      bench_run.parse_args(argv)
    assert e.value.code == 2
  err = capsys.readouterr().err
  assert 'no config bert_en_uncased_L-3_H-100_A-1.gin' in err
  assert "unknown case(s) ['nope']" in err
  assert '--text_embedding_size=300: want ROWSxDIM' in err


def test_runner_end_to_end_smallest_bert(tmp_path):
  report = _run(tmp_path, '--cases=bert', '--bert_sizes=L-2/H-128', '--quick',
                '--noverified')
  assert '## BERT L-2/H-128' in report
  assert re.search(r'- machine: \d+ cores', report)
  assert 'tf-models-official 2.20.0' in report
  (rows,) = _tables(report).values()
  wall = rows['export wall time, encoder+MLM+preprocessor, --noverify (s)']
  assert float(wall[1]) > 0 and float(wall[2]) > 0
  assert re.fullmatch(r'\d+\.\d\dx', wall[3])
  for key in ('encoder saved_model.pb (MB)', 'encoder cold hub.load (s)',
              'fine-tuning step, hub.KerasLayer(trainable=True) + Dense, '
              'Adam (s, median)'):
    assert float(rows[key][1]) > 0 and float(rows[key][2]) > 0, rows[key]
  # Both exports compute the same function (a real comparison of outputs).
  names = _assert_outputs_equal(rows)
  for output in ('pooled_output', 'sequence_output', 'encoder_outputs',
                 'mlm_logits', 'input_word_ids', 'pair'):
    assert output in names, names
  assert '## Targets' in report


def test_runner_text_embedding_small_file(tmp_path):
  """The text_embedding case: ours on a generated file vs the same export of
  a 1,000-row file (its reference column)."""
  report = _run(tmp_path, '--cases=text_embedding',
                '--text_embedding_size=2000x16', '--quick', '--noverified')
  assert '| metric | ours | same export, 1,000-row file |' in report
  (title, rows), = _tables(report).items()
  assert title.startswith('Text embedding, 2,000 x 16 words file'), title
  for key in ('export wall time, --noverify (s)',
              'export peak memory, --noverify (MB)',
              'SavedModel variables/ (MB)'):
    assert float(rows[key][1]) > 0 and float(rows[key][2]) > 0, rows[key]
  assert 'driver: export' in rows['export wall time, --noverify (s)'][5]
  assert "the table's float32 bytes" in rows[
      'peak memory the table adds, --noverify (MB)'][5]
  # 2,000 rows of 16 floats (+1 OOV bucket) vs 1,000.
  assert float(rows['SavedModel variables/ (MB)'][1]) > float(
      rows['SavedModel variables/ (MB)'][2])


@pytest.mark.slow
def test_runner_albert_and_mobilenet(tmp_path):
  """The ALBERT (tiny) and MobileNet V2 comparisons with Model Garden's
  exporters: both exports compute the same function."""
  report = _run(tmp_path, '--cases=albert,mobilenet', '--albert_size=tiny',
                '--quick', '--noverified')
  tables = _tables(report)
  albert = tables[next(t for t in tables if t.startswith('ALBERT tiny'))]
  names = _assert_outputs_equal(albert)
  for output in ('pooled_output', 'mlm_logits', 'input_word_ids', 'pair'):
    assert output in names, names
  mobilenet = tables[next(t for t in tables
                          if t.startswith('mobilenet_v2_100_224'))]
  names = _assert_outputs_equal(mobilenet)
  assert 'feature_vector' in names and 'classification' in names, names
  for rows in (albert, mobilenet):
    wall = next(v for k, v in rows.items() if k.startswith('export wall'))
    assert float(wall[1]) > 0 and float(wall[2]) > 0, wall

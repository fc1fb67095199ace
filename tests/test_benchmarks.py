"""Smoke test of the benchmarks (benchmarks/run.py) so they do not rot.

Runs the runner end to end on the smallest case, a BERT L-2/H-128 compared
with Model Garden's export_tfhub (`--quick --noverified`: small inputs, one
consumer process per SavedModel), and checks that it produced the report and
that the two exports agreed. The numbers themselves are not tested (this is
not a benchmark run: see benchmarks/RESULTS.md).
"""
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT, script_env

sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))
import run as bench_run  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_bad_size_and_case_are_usage_errors(capsys):
  for argv in (['--bert_sizes=L-3/H-100'], ['--cases=bert,nope'],
               ['--sizes=L-2/H-100']):
    with pytest.raises(SystemExit) as e:
      bench_run.parse_args(argv)
    assert e.value.code == 2
  err = capsys.readouterr().err
  assert 'no config bert_en_uncased_L-3_H-100_A-1.gin' in err
  assert "unknown case(s) ['nope']" in err


def test_runner_end_to_end_smallest_bert(tmp_path):
  out = tmp_path / 'RESULTS.md'
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'benchmarks', 'run.py'),
       '--cases=bert', '--bert_sizes=L-2/H-128', '--quick', '--noverified',
       f'--workdir={tmp_path / "work"}', f'--out={out}'],
      cwd=ROOT, env=script_env(), capture_output=True, text=True,
      timeout=600, check=False)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  report = out.read_text()
  assert '## BERT L-2/H-128' in report
  assert re.search(r'- machine: \d+ cores', report)
  assert 'tf-models-official 2.20.0' in report
  rows = {}
  for line in report.splitlines():
    cells = [c.strip() for c in line.strip('|').split('|')]
    if len(cells) == 6 and cells[0] not in ('metric', '---'):
      rows[cells[0]] = cells
  wall = rows['export wall time, encoder+MLM+preprocessor, --noverify (s)']
  assert float(wall[1]) > 0 and float(wall[2]) > 0
  assert re.fullmatch(r'\d+\.\d\dx', wall[3])
  for key in ('encoder saved_model.pb (MB)', 'encoder cold hub.load (s)',
              'fine-tuning step, hub.KerasLayer(trainable=True) + Dense, '
              'Adam (s, median)'):
    assert float(rows[key][1]) > 0 and float(rows[key][2]) > 0, rows[key]
  # Both exports compute the same function (a real comparison of outputs).
  diffs = {k: v for k, v in rows.items() if k.startswith('max abs diff')}
  names = ' '.join(diffs)
  for output in ('pooled_output', 'sequence_output', 'encoder_outputs',
                 'mlm_logits', 'input_word_ids', 'pair'):
    assert output in names, names
  for k, v in diffs.items():
    assert v[4].startswith('met'), (k, v)
  assert '## Targets' in report

r"""Text embedding: `export_scripts/text_embedding_export.py` on a large word-vector file.

    .venv/bin/python benchmarks/text_embedding.py [--size=200000x300] \
        [--headerless] [--noverified]

(`benchmarks/run.py --cases=text_embedding` runs this with the other cases.)

Export time and peak memory of the streaming read (the table filled in
chunks, one copy): there is no other exporter to run beside ours (TF Hub's
`export_v2.py` does not run on TF 2.20, see
docs/measurements/text_embedding.md), so the reference column is the same
export of a 1,000-row file of the same width, and what the table costs is
the difference. Writes a GloVe-style text file of `--size` ROWSxDIM (a
`count dim` header unless `--headerless`, which makes the recipe count the
lines first; words w0, w1, ...; uniform(-1, 1) values with 6 decimals;
reused if already in the work directory), then exports both files, each in
its own process, with configs/text_embedding/word_vectors_300.gin
(`EMBEDDING_DIM` set to DIM): `--noverify` (interleaved for `rounds`
rounds, the median reported) and verified (the default).
"""
import argparse
import io
import os
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert  # pylint: disable=g-import-not-at-top
import common  # pylint: disable=g-import-not-at-top
from common import MB, Row  # pylint: disable=g-import-not-at-top

SMALL = 1000
THEIRS = f'same export, {SMALL:,}-row file'  # The reference column.


def parse_size(size):
  rows, dim = (int(x) for x in size.lower().split('x'))
  return rows, dim


def write_file(path, rows, dim, header=True, block=10_000):
  if os.path.exists(path):
    return
  rng = np.random.RandomState(0)
  with open(path + '.part', 'wb') as f:
    if header:
      f.write(f'{rows} {dim}\n'.encode())
    for start in range(0, rows, block):
      text = io.BytesIO()
      np.savetxt(text, rng.uniform(-1, 1, [min(block, rows - start), dim]),
                 fmt='%.6f')
      f.write(b''.join(b'w%d %s\n' % (start + i, line) for i, line in
                       enumerate(text.getvalue().splitlines())))
  os.rename(path + '.part', path)


def export_cmd(path, dim, out, verify):
  return ([common.PY, os.path.join(common.ROOT, 'export_scripts',
                                   'text_embedding_export.py'),
           '--gin_file=configs/text_embedding/word_vectors_300.gin',
           f'--gin_params=EMBEDDING_DIM = {dim}', f'--embedding_file={path}',
           f'--export_dir={out}'] + ([] if verify else ['--noverify']))


def measure(size, workdir, verified=True, headerless=False, rounds=1):
  """Returns (title, rows, details); the reference column is THEIRS."""
  n, dim = parse_size(size)
  logs = os.path.join(workdir, 'logs')
  os.makedirs(logs, exist_ok=True)
  d = lambda name: os.path.join(workdir, name)
  files = {}
  for key, rows in (('large', n), ('small', SMALL)):
    files[key] = d(f'vectors_{rows}x{dim}'
                   + ('_noheader' if headerless else '') + '.txt')
    write_file(files[key], rows, dim, header=not headerless)
  def run(key, verify, i=0):
    out = d(f'{key}_{"verified" if verify else "noverify"}{i}')
    shutil.rmtree(out, ignore_errors=True)
    return common.timed(export_cmd(files[key], dim, out, verify),
                        os.path.join(logs, os.path.basename(out) + '.log'))
  runs = common.interleaved(
      dict(large=lambda i: run('large', False, i),
           small=lambda i: run('small', False, i)), rounds)
  large, small = (bert._median_run(runs[k], lambda r: r.wall_s)  # pylint: disable=protected-access
                  for k in ('large', 'small'))
  table_bytes = n * dim * 4
  def rows_of(a, b, what):
    sa, sb = common.driver_split(a.stdout), common.driver_split(b.stdout)
    split = (f'driver: export {sa[0]:.1f} s'
             + (f' + verification {sa[1]:.1f} s' if sa[1] else '')
             + f' (small: {sb[0]:.1f} s' + (f' + {sb[1]:.1f} s' if sb[1]
                                             else '') + ')'
             if sa and sb else '')
    added = a.peak_memory_bytes - b.peak_memory_bytes
    return [
        Row(f'export wall time, {what}', a.wall_s, b.wall_s, 's', note=split),
        Row(f'export peak memory, {what}', a.peak_memory_bytes / MB,
            b.peak_memory_bytes / MB, 'MB', note='all processes together',
            fmt='{:.0f}'),
        Row(f'peak memory the table adds, {what}', added / MB, None, 'MB',
            note=f'{added / table_bytes:.2f}x the table\'s float32 bytes '
            f'({table_bytes / MB:.1f} MB)', fmt='{:.0f}'),
    ]
  rows = rows_of(large, small, '--noverify')
  if rounds > 1:
    rows[0].note += ('; median of interleaved rounds: '
                     + ', '.join(f'{r.wall_s:.1f}' for r in runs['large'])
                     + ' s (small: ' + ', '.join(
                         f'{r.wall_s:.1f}' for r in runs['small']) + ' s)')
  if verified:
    rows += rows_of(run('large', True), run('small', True),
                    'verified (default)')
  sa, sb = common.sizes(d('large_noverify0')), common.sizes(d('small_noverify0'))
  rows += [Row('SavedModel variables/', sa['variables_bytes'] / MB,
               sb['variables_bytes'] / MB, 'MB', fmt='{:.2f}'),
           Row('SavedModel total', sa['total_bytes'] / MB,
               sb['total_bytes'] / MB, 'MB', note='without assets.extra/',
               fmt='{:.2f}')]
  title = (f'Text embedding, {n:,} x {dim} words file '
           f'({os.path.getsize(files["large"]) / MB:.1f} MB, '
           + ('no header: counted in a first pass' if headerless
              else '`count dim` header') + ')')
  return title, rows, dict(files=files)


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--size', default='200000x300', help='ROWSxDIM')
  p.add_argument('--headerless', action='store_true',
                 help='no `count dim` first line')
  p.add_argument('--workdir', default=None,
                 help='keeps the generated files for the next run')
  p.add_argument('--noverified', action='store_true',
                 help='skip the verified runs')
  args = p.parse_args()
  workdir = args.workdir or tempfile.mkdtemp(prefix='bench_text_embedding_')
  title, rows, _ = measure(args.size, workdir, not args.noverified,
                           args.headerless)
  print(title)
  print(common.table(rows, THEIRS))


if __name__ == '__main__':
  main()

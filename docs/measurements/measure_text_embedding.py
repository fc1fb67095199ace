"""Export time and peak memory of the text_embedding recipe on a generated file.

    .venv/bin/python docs/measurements/measure_text_embedding.py \
        --rows=200000 --dim=300 --workdir=/tmp/te_measure [--noverify] \
        [--headerless]

Writes WORKDIR/vectors_<rows>x<dim>.txt (GloVe-style text, uniform(-1, 1)
values with 6 decimals, words w0, w1, ...; reused if present), exports it
with configs/text_embedding/word_vectors_300.gin (EMBEDDING_DIM set to --dim)
and prints the driver's summary (times, peak RSS of the export process and of
the verification process) and the wall time of the whole command.
"""
import argparse
import io
import os
import shutil
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))


def write_file(path, rows, dim, header=True, block=10_000):
  rng = np.random.RandomState(0)
  with open(path + '.part', 'wb') as f:
    if header:
      f.write(f'{rows} {dim}\n'.encode())
    for start in range(0, rows, block):
      n = min(block, rows - start)
      text = io.BytesIO()
      np.savetxt(text, rng.uniform(-1, 1, [n, dim]), fmt='%.6f')
      f.write(b''.join(b'w%d %s\n' % (start + i, line) for i, line in
                       enumerate(text.getvalue().splitlines())))
  os.rename(path + '.part', path)


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--rows', type=int, default=200_000)
  p.add_argument('--dim', type=int, default=300)
  p.add_argument('--workdir', default='/tmp/te_measure')
  p.add_argument('--noverify', action='store_true')
  p.add_argument('--headerless', action='store_true')
  args = p.parse_args()
  os.makedirs(args.workdir, exist_ok=True)
  name = f'vectors_{args.rows}x{args.dim}' + (
      '_noheader' if args.headerless else '')
  path = os.path.join(args.workdir, name + '.txt')
  if not os.path.exists(path):
    t0 = time.perf_counter()
    write_file(path, args.rows, args.dim, header=not args.headerless)
    print(f'wrote {path} ({os.path.getsize(path) / 2**20:.0f} MiB) in '
          f'{time.perf_counter() - t0:.0f} s')
  out = os.path.join(args.workdir, 'export_' + name)
  shutil.rmtree(out, ignore_errors=True)
  cmd = [sys.executable, os.path.join(ROOT, 'export_scripts',
                                      'text_embedding_export.py'),
         '--gin_file=configs/text_embedding/word_vectors_300.gin',
         f'--gin_params=EMBEDDING_DIM = {args.dim}',
         f'--embedding_file={path}', f'--export_dir={out}']
  if args.noverify:
    cmd.append('--noverify')
  t0 = time.perf_counter()
  proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                        check=False)
  wall = time.perf_counter() - t0
  print(proc.stdout.strip())
  if proc.returncode:
    print(proc.stderr[-3000:], file=sys.stderr)
    sys.exit(proc.returncode)
  print(f'wall time of the command (incl. Python/TensorFlow start-up): '
        f'{wall:.1f} s')


if __name__ == '__main__':
  main()

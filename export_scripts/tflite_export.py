r"""Writes the verified TFLite variations of one of our exports.

    python export_scripts/tflite_export.py --export_dir=OUT/encoder \
        [--builds=float32,dynamic_range,float16] [--output_dir=D] \
        [--input_size=N] [--overwrite]
    python export_scripts/tflite_export.py \
        --verify_variation=OUT/encoder_tflite/float32

`--export_dir` is a SavedModel written (and verified) by one of the recipes:
its `assets.extra/export_record.json` declares the API and tolerances. The
variations go to `OUT/encoder_tflite/<build>/` by default, each with
`model.tflite`, a model card, Kaggle metadata (`framework: tfLite`) and an
export record. Every build is converted with TFLite builtin ops only, run in
the LiteRT interpreter in a fresh process and compared with the SavedModel;
nothing is written unless every build passed. Package one build with
`package_export.py --export_dir=OUT/encoder_tflite/float32 --output=...`.

Exports with string inputs (text preprocessors, the text embedding) are
refused with one line. Exit status: 0 on success, 1 for a problem with the
export (not ours, not verified, modified, not convertible, failed
verification), 2 for bad flags.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from absl import flags  # pylint: disable=g-import-not-at-top
from absl import logging  # pylint: disable=g-import-not-at-top

from official.hub_export import cli  # pylint: disable=g-import-not-at-top
from official.hub_export import tflite  # pylint: disable=g-import-not-at-top
from official.hub_export.spec import UsageError  # pylint: disable=g-import-not-at-top

flags.DEFINE_string('export_dir', None,
                    'A SavedModel exported and verified by one of the recipes.')
flags.DEFINE_string('builds', ','.join(tflite.DEFAULT_BUILDS),
                    f'Comma-separated TFLite builds, of {",".join(tflite.BUILDS)}.')
flags.DEFINE_string('output_dir', None,
                    'Where to write the variations (default: EXPORT_DIR_tflite '
                    'beside the SavedModel), one subdirectory per build.')
flags.DEFINE_integer('input_size', None,
                     'Fixed size of the dynamic non-batch input dimensions '
                     '(image height = width, sequence length); default: the '
                     "export's IMAGE_SIZE / seq_length.", lower_bound=1)
flags.DEFINE_string('verify_variation', None,
                    'Re-check a written variation (e.g. OUT/encoder_tflite/'
                    'float32) against its record and its SavedModel instead.')
flags.DEFINE_bool('overwrite', False,
                  'Replace an existing --output_dir (only after every build '
                  'verified).')
FLAGS = flags.FLAGS


def main() -> int:
  explicit = any(a.startswith(('--verbosity', '-v=', '--v=')) for a in sys.argv)
  if not explicit:
    logging.set_verbosity(logging.WARNING)
  if FLAGS.verify_variation:
    r = tflite.verify_variation(FLAGS.verify_variation, FLAGS.export_dir)
    worst = max(o['max_abs_diff'] for o in r['outputs'].values())
    print(f'{os.path.abspath(FLAGS.verify_variation)}: verified against its '
          f'SavedModel (max abs diff {worst:.2g}, every output within its '
          'threshold)')
    return 0
  if not FLAGS.export_dir:
    raise UsageError('--export_dir is required: pass the directory of an '
                     'exported SavedModel')
  builds = tflite.parse_builds(FLAGS.builds)
  start = time.perf_counter()
  variations = tflite.write_variations(
      FLAGS.export_dir, builds, output_dir=FLAGS.output_dir,
      overwrite=FLAGS.overwrite, input_size=FLAGS.input_size)
  print(f'Wrote {len(variations)} TFLite variation(s) of '
        f'{os.path.abspath(FLAGS.export_dir)} in '
        f'{time.perf_counter() - start:.1f} s')
  for line in tflite.summary_lines(variations):
    print(line)
  return 0


if __name__ == '__main__':
  cli.run(main)

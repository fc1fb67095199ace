r"""Writes the upload archive of an export, or checks someone else's.

    python export_scripts/package_export.py --export_dir=DIR \
        --output=model.tar.gz [--overwrite]
    python export_scripts/package_export.py --verify_archive=model.tar.gz

Packaging writes `model.tar.gz` (the SavedModel's files at the archive root:
`saved_model.pb`, `keras_metadata.pb`, `fingerprint.pb`,
`variables/variables.*`, `assets/...`, `assets.extra/*`, nothing else) and
`model.tar.gz.sha256` beside it (`sha256sum -c` format). A TFLite variation
(`export_scripts/tflite_export.py`: `OUT/encoder_tflite/float32/`) is packaged
the same way: `model.tflite` and `assets.extra/*` at the root, reloaded with
the LiteRT interpreter instead of `hub.load`. The bytes depend only
on the export's files (sorted members, mtime 0, owner 0, fixed modes), so the
same export always gives the same archive. Symlinks, dot-files, stray files
and paths that are not part of a SavedModel are refused, naming each. Before
success is reported the archive is re-opened, extracted into a temporary
directory, compared with the export and loaded with `hub.load` in a fresh
isolated Python process; nothing is left at `--output` if anything fails.

`--verify_archive` applies the same rules to an archive made elsewhere (every
violation is listed: absolute or `..` paths, links, a wrapping folder,
unexpected members), checks `ARCHIVE.sha256` if present, extracts it safely
and loads it with `hub.load`.

Exit status: 0 on success, 1 for a problem with the export or archive, 2 for
bad flags; errors are one line starting `error:` (plus a list where there are
several problems).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from absl import flags  # pylint: disable=g-import-not-at-top

from official.hub_export import cli  # pylint: disable=g-import-not-at-top
from official.hub_export import package  # pylint: disable=g-import-not-at-top
from official.hub_export.spec import UsageError  # pylint: disable=g-import-not-at-top

flags.DEFINE_string('export_dir', None,
                    'The exported SavedModel directory to package.')
flags.DEFINE_string('output', None,
                    'The archive to write (.tar.gz); ARCHIVE.sha256 is '
                    'written beside it.')
flags.DEFINE_bool('overwrite', False,
                  'Replace an existing --output (only after the new archive '
                  'reloaded).')
flags.DEFINE_string('verify_archive', None,
                    'Check an existing upload archive instead of packaging.')
FLAGS = flags.FLAGS


def main() -> int:
  if FLAGS.verify_archive:
    if FLAGS.export_dir or FLAGS.output:
      raise UsageError('--verify_archive checks an existing archive: do not '
                       'pass --export_dir/--output with it')
    info = package.verify_archive(FLAGS.verify_archive)
    loader = ('the LiteRT interpreter' if 'tflite_ops' in info.reload
              else 'hub.load')
    print(f'{info.archive}: a valid upload archive; loads with {loader} '
          f'(checked in {info.seconds:.1f} s)')
  else:
    if not FLAGS.export_dir or not FLAGS.output:
      raise UsageError('pass --export_dir=DIR --output=model.tar.gz to '
                       'package an export, or --verify_archive=ARCHIVE')
    info = package.package(FLAGS.export_dir, FLAGS.output,
                           overwrite=FLAGS.overwrite)
    print(f'Packaged {os.path.abspath(FLAGS.export_dir)} into {info.archive} '
          f'in {info.seconds:.1f} s')
  for line in package.summary(info):
    print(line)
  return 0


if __name__ == '__main__':
  cli.run(main)

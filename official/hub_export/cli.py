"""What every command-line script shares: one-line errors and exit statuses.

    cli.run(main)    # instead of absl's app.run(main)

`main()` takes no arguments (flags are read from `absl.flags.FLAGS`) and
returns the exit status. Every script of the project behaves alike:

  0    success
  1    a problem with the input (`spec.ExportError`: a missing or mismatched
       checkpoint, a broken export, an archive with a bad member, ...), or
       an operating-system error the code did not foresee (`OSError`: a full
       disk, a permission denied), printed as its path and reason
  2    bad usage (`spec.UsageError`, an unknown or malformed flag, positional
       arguments)
  130  interrupted

Errors are printed as `error: <problem and fix>` on stderr, never as a
traceback. Recipes do not call this directly: `driver.run` does.
"""
import os
import sys
from typing import Callable

from absl import app
from absl import flags

from official.hub_export.spec import ExportError
from official.hub_export.spec import UsageError

FLAGS = flags.FLAGS


def error(message: str) -> None:
  print(f'error: {message}', file=sys.stderr)


def flags_parser(argv):
  """absl flags parser: a bad flag is a one-line error, exit status 2."""
  try:
    return FLAGS(argv)
  except flags.Error as e:
    error(f'{e}; run with --helpshort to list the flags')
    sys.exit(2)


def exit_status(main: Callable[[], int]) -> int:
  """Runs `main()`, turning `ExportError`s into one-line errors."""
  try:
    return main() or 0
  except UsageError as e:
    error(str(e))
    return 2
  except ExportError as e:
    error(str(e))
    return 1
  except OSError as e:
    # The library checks what it can before working (readable inputs, a
    # writable destination); what is left (a disk filling up, a file removed
    # meanwhile) is the machine's problem, not a bug to trace back.
    where = f' {e.filename}' if e.filename else ''
    error(f'{e.strerror or e}:{where}; check that path (free space, '
          'permissions) and run again; nothing was written')
    return 1
  except KeyboardInterrupt:
    error('interrupted; nothing was written')
    return 130


def run(main: Callable[[], int]) -> None:
  """`absl.app.run` for a script whose `main()` returns its exit status."""
  def app_main(argv):
    if len(argv) > 1:
      error(f'unexpected arguments {argv[1:]}; flags take the form '
            '--name=value')
      sys.exit(2)
    sys.exit(exit_status(main))
  app.run(app_main, flags_parser=flags_parser)


def replace_dir(tmp: str, destination: str) -> None:
  """Renames the finished `tmp` to `destination`, replacing an existing one
  only after `tmp` is complete (the callers check `--overwrite` first)."""
  import shutil  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  old = None
  if os.path.isdir(destination):
    if os.listdir(destination):
      old = tempfile.mkdtemp(prefix=f'.{os.path.basename(destination)}.old-',
                             dir=os.path.dirname(destination))
      os.rename(destination, os.path.join(old, 'x'))
    else:
      os.rmdir(destination)
  os.rename(tmp, destination)
  if old:
    shutil.rmtree(old, ignore_errors=True)

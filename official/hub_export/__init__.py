"""Export trained TensorFlow checkpoints as reusable SavedModels for TF Hub.

One library shared by every recipe in `export_scripts/`:

  spec.py     the declared API of an export (inputs, outputs, tolerances) and
              `ExportError`, the one error type for bad input
  restore.py  strict checkpoint restore: where checkpoints are read
  writer.py   the reusable SavedModel writer: where SavedModels are written
  checks.py   consumer-side checks, run in a fresh process: where exports are
              verified (`verify.py` drives them)
  record.py   the export record and operative gin config beside each export
  driver.py   the absl + gin entry of every script; atomic output; summary
"""

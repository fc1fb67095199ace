"""Export trained TensorFlow checkpoints as reusable SavedModels for TF Hub.

One library shared by every recipe in `export_scripts/`:

  spec.py     the declared API of an export (inputs, outputs, tolerances) and
              `ExportError`, the one error type for bad input
  restore.py  strict checkpoint restore: where checkpoints are read
  writer.py   the reusable SavedModel writer: where SavedModels are written
  checker/    the consumer-side checker package, run in a fresh isolated
              process: where exports are verified (`verify.py` drives it;
              it imports nothing else of this repository)
  verify.py   runs the checks after an export (and for verify_export.py)
  record.py   the export record and operative gin config beside each export
  model_card.py  the model card and Kaggle metadata in assets.extra/
  package.py  the deterministic upload archive, and checks of any archive
  driver.py   the absl + gin entry of every recipe; atomic output; summary
  cli.py      what every script shares: one-line errors, exit statuses
  bert_family.py  model-family code of the BERT and ALBERT recipes: encoder
              (+ .mlm) and preprocessor export, pretrainer layouts, vocabulary
  image_models.py  model-family code of the image recipes (ResNet, MobileNet):
              feature vector + classifier cut, normalization, vision layouts
"""

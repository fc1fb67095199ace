"""The consumer-side checker: verifies any TF2 SavedModel as a consumer sees it.

It imports nothing from the rest of this repository: the export drivers and
`verify_export.py` run it in a fresh, isolated process

    python -I official/hub_export/checker --saved_model=DIR \
        [--spec=spec.json --cases=cases.npz] [--task=...] [--allow_ops=...] \
        --output=result.json

(`__main__.py` loads the package under a private name, so nothing else of the
repository is importable there), so that the SavedModel is loaded exactly as a
consumer would load it, with only TensorFlow, TF Hub and tf_keras available.

Modules, one concern each:

  opscan.py       the op scan: saved_model.pb read before anything runs
  cases.py        the cases file format: nested inputs/outputs <-> flat arrays
  report.py       PASS/WARN/FAIL/ERROR lines, the verdict; model vs checker
                  errors
  reusable.py     the reusable SavedModel API and comparison with the source
  infer.py        reading the API off a SavedModel; generated sample inputs
  task.py         conformance to the TF Hub common API of a task
  graph.py        inspection of the traced graphs (softmax, [0, 1] images, ops)
  keras_layer.py  hub.KerasLayer (tf_keras) consumer checks
  files.py        files, sizes and self-containment
  suite.py        all checks in order (`run_checks`)
  cli.py          the command line (exit 0 PASS, 1 FAIL, 3 ERROR,
                  4 NOT_REUSABLE)
"""

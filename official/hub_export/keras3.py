"""Keras 3 models (`.keras` files, KerasHub presets) as reusable SavedModels.

Library code of `export_scripts/keras_export.py`. Keras 3's own
`model.export()` writes an inference-only archive; this module wraps a
Keras 3 model (TensorFlow backend) in the reusable API instead:

    obj = keras3.reusable(model, call)     # a writer.Reusable
    obj.__call__(inputs, training=...)     # traced by writer.write for both
    obj.variables                          # every tf.Variable the call reads
                                           # (BN statistics, dropout seeds)
    obj.trainable_variables                # as Keras marks them
    obj.regularization_losses              # one per regularized trainable
                                           # weight: regularizer(weight)

Only `tf.Variable`s (each Keras variable's `.value`) and traced
`tf.function`s are saved: no Keras 3 object graph, so `hub.load` and
`hub.KerasLayer` (tf_keras) read the export like any other.

Loading (`load`) is strict: Keras itself refuses a file whose weights do not
fit its layers, and `check_weights_from_files` then checks, independently of
Keras, that the value of every exported weight is stored in the file's
weights (`*.h5`), so that no randomly initialized weight is exported.
`.keras` files deserialize Python objects: they are loaded with
`safe_mode=True` (Keras's default), which refuses `Lambda` layers (pickled
Python code); classes that neither Keras nor KerasHub registers are unknown
and refused too.

The export process must have Keras 3 as its Keras: import this module with
`TF_USE_LEGACY_KERAS` unset or 0 (the recipe sets it). tf_keras may be
imported beside it (Model Garden and the BERT family do).
"""

import dataclasses
import hashlib
import io
import json
import os
import zipfile
from typing import Any, Callable, Dict, List, Sequence

import numpy as np
import tensorflow as tf

from official.hub_export import spec
from official.hub_export import writer

# What a KerasHub preset directory holds (keras_hub.src.utils.preset_utils).
PRESET_CONFIG = 'config.json'
PRESET_TASK = 'task.json'
PRESET_TOKENIZER = 'tokenizer.json'
_WEIGHTS = ('model.weights.h5', 'model.weights.json')
_TASK_WEIGHTS = ('task.weights.h5', 'task.weights.json')

_SAFE_MODE = ('it is loaded with safe_mode=True: Lambda layers (pickled '
              'Python code) and classes that neither Keras nor KerasHub '
              'registers are refused, since loading them would run code from '
              'the file; rebuild the model from registered layers')


@dataclasses.dataclass
class Loaded:
  """A Keras 3 model read from a file.

  Attributes:
    model: the restored `keras.Model` (a KerasHub task or backbone, or any
      functional/sequential model).
    kind: 'keras' (a `.keras` file) or 'preset' (a KerasHub preset
      directory).
    path: the absolute path given.
    weight_files: the files the weights were read from (`.h5`; inside the
      zip for `.keras`), as (name, bytes-or-path) pairs.
    tokenizer: the preset's tokenizer (`keras_hub` Tokenizer) or None.
  """
  model: Any
  kind: str
  path: str
  weight_files: List[Any]
  tokenizer: Any = None


def _import_keras():
  import keras  # pylint: disable=g-import-not-at-top
  if not keras.__version__.startswith('3.'):
    raise RuntimeError(f'Keras 3 is needed, found keras {keras.__version__}')
  import keras_hub  # pylint: disable=g-import-not-at-top,unused-import
  return keras, keras_hub


def _first_line(e: BaseException) -> str:
  lines = [l.strip() for l in str(e).splitlines() if l.strip()]
  return (lines[0] if lines else type(e).__name__)[:300].rstrip('.')


def load(path: str) -> Loaded:
  """Reads a `.keras` file or a KerasHub preset directory (strictly)."""
  if not path or not os.path.exists(path):
    raise spec.ExportError(f'--model_path {path} does not exist: pass a '
                           '.keras file or a KerasHub preset directory')
  path = os.path.abspath(path)
  # Layers made without a seed (Dropout's SeedGenerator) draw one from the
  # global random state when the model is rebuilt: seed it, so that the same
  # file exports the same bytes (the trained weights come from the file).
  keras, _ = _import_keras()
  keras.utils.set_random_seed(0)
  if os.path.isdir(path):
    return _load_preset(path)
  return _load_keras_file(path)


def _load_keras_file(path: str) -> Loaded:
  keras, _ = _import_keras()
  if not zipfile.is_zipfile(path):
    raise spec.ExportError(
        f'{path} is not a Keras 3 model file (.keras is a zip archive): pass '
        'a file written by model.save("name.keras") or a KerasHub preset '
        'directory')
  with zipfile.ZipFile(path) as z:
    names = z.namelist()
    if 'config.json' not in names:
      raise spec.ExportError(
          f'{path} is a zip archive without config.json, not a Keras 3 model '
          'file: pass a file written by model.save("name.keras")')
    weights = [n for n in names if n.endswith('.h5')]
    if not weights:
      raise spec.ExportError(
          f'{path} holds no weights (model.weights.h5): save the trained '
          'model with model.save("name.keras")')
    weight_files = [(n, z.read(n)) for n in weights]
  try:
    model = keras.saving.load_model(path, compile=False, safe_mode=True)
  except (ValueError, TypeError, KeyError) as e:
    msg = _first_line(e)
    if 'safe_mode' in msg or 'Could not locate' in msg or 'Lambda' in msg:
      raise spec.ExportError(f'cannot load {path}: {msg}; {_SAFE_MODE}'
                             ) from None
    raise spec.ExportError(
        f'the weights in {path} do not match its model config ({msg}): '
        're-save the trained model with model.save("name.keras")') from None
  return Loaded(model, 'keras', path, weight_files)


def _load_preset(path: str) -> Loaded:
  keras, keras_hub = _import_keras()
  if not os.path.isfile(os.path.join(path, PRESET_CONFIG)):
    raise spec.ExportError(
        f'{path} is a directory without {PRESET_CONFIG}, not a KerasHub '
        'preset: pass a directory written by save_to_preset() or a .keras '
        'file')
  task_file = os.path.join(path, PRESET_TASK)
  is_task = os.path.isfile(task_file)
  needed = [_WEIGHTS] + ([_TASK_WEIGHTS] if is_task else [])
  for alternatives in needed:
    if not any(os.path.isfile(os.path.join(path, n)) for n in alternatives):
      raise spec.ExportError(
          f'KerasHub preset {path} has no {alternatives[0]}: its weights are '
          'missing; save the trained model with save_to_preset() (a preset '
          'without weights would export random weights)')
  weight_files = [(n, os.path.join(path, n)) for n in sorted(os.listdir(path))
                  if n.endswith('.h5')]
  try:
    if is_task:
      with open(task_file) as f:
        name = json.load(f).get('registered_name')
      cls = keras.saving.get_registered_object(name) if name else None
      if cls is None:
        raise spec.ExportError(
            f'{task_file} names the task class {name!r}, which KerasHub '
            f'{keras_hub.__version__} does not register: save the preset '
            'with this KerasHub version or export its backbone preset')
      model = cls.from_preset(path)
    else:
      model = keras_hub.models.Backbone.from_preset(path)
    tokenizer = None
    if os.path.isfile(os.path.join(path, PRESET_TOKENIZER)):
      tokenizer = keras_hub.tokenizers.Tokenizer.from_preset(path)
  except spec.ExportError:
    raise
  except (ValueError, TypeError, KeyError, OSError) as e:
    raise spec.ExportError(
        f'cannot load KerasHub preset {path}: {_first_line(e)}; check that '
        'it was written by save_to_preset() of the trained model and that '
        'its config and weights belong together') from None
  return Loaded(model, 'preset', path, weight_files, tokenizer)


def _digest(array) -> tuple:
  a = np.ascontiguousarray(array)
  return (a.dtype.str, a.shape, hashlib.sha256(a.tobytes()).hexdigest())


def _stored_digests(weight_files) -> set:
  import h5py  # pylint: disable=g-import-not-at-top
  digests = set()
  for name, source in weight_files:
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
      with h5py.File(handle, 'r') as f:
        def visit(_, obj):
          if isinstance(obj, h5py.Dataset):
            digests.add(_digest(obj[()]))
        f.visititems(visit)
    except OSError as e:
      raise spec.ExportError(f'cannot read the weights file {name}: '
                             f'{_first_line(e)}') from None
  return digests


def check_weights_from_files(weights: Sequence[Any], loaded: Loaded) -> int:
  """Every weight's value is stored in the model's weight files.

  Independent of how Keras restored them: each weight (shape, dtype and
  bytes) must equal an array of the file. Returns the number checked;
  raises ExportError naming the weights whose value the file lacks.
  """
  stored = _stored_digests(loaded.weight_files)
  missing = [w.path for w in weights
             if _digest(np.asarray(w.numpy())) not in stored]
  if missing:
    shown = ', '.join(missing[:5]) + (f' (+{len(missing) - 5} more)'
                                      if len(missing) > 5 else '')
    raise spec.ExportError(
        f'{len(missing)} of {len(weights)} weights of the model are not '
        f'stored in {loaded.path} ({shown}): they would be exported with '
        'random values; save the trained model again (model.save or '
        'save_to_preset)')
  return len(weights)


def regularization_losses(model) -> List[Callable[[], tf.Tensor]]:
  """The weight-regularizer losses as Keras 3 computes them in training
  (`Layer._get_regularization_losses`): `regularizer(weight)` for each
  trainable weight that has one. Activity regularizers and `add_loss`
  losses depend on the inputs and are not part of the reusable API."""
  return [lambda w=w: w.regularizer(w) for w in model.trainable_weights
          if getattr(w, 'regularizer', None) is not None]


def tf_variables(keras_variables) -> List[tf.Variable]:
  """The tf.Variables behind Keras 3 variables (what the graph reads)."""
  return [v.value for v in keras_variables]


def reusable(model, call: Callable[..., Any], **kwargs) -> writer.Reusable:
  """A reusable export object for a Keras 3 model.

  Args:
    model: the built Keras 3 model whose variables `call` reads.
    call: `call(inputs, training=False)`.
    **kwargs: passed to `writer.reusable` (track=, autograph=, attributes).
  """
  if not model.built:
    raise ValueError(f'{model.name} is not built')
  # `model.variables` includes the dropout layers' seed-generator states,
  # which `training=True` reads and advances: they must be saved too.
  return writer.reusable(
      call, variables=tf_variables(model.variables),
      trainable_variables=tf_variables(model.trainable_variables),
      regularization_losses=regularization_losses(model), **kwargs)


def describe(model) -> Dict[str, Any]:
  """A few facts for the export record."""
  return {'class': f'{type(model).__module__}.{type(model).__name__}',
          'parameters': int(sum(np.prod(w.shape) for w in model.weights))}


def sample_value(s: tf.TensorSpec, batch: int, size: int,
                 rng: np.random.RandomState, int_high: int = 2):
  """A sample input for a spec: None dimensions become `batch` (first) or
  `size`; floats uniform in [0, 1), integers in [0, int_high)."""
  shape = [batch] + [size if d is None else d for d in s.shape.as_list()[1:]]
  if s.dtype.is_floating:
    return rng.uniform(0, 1, shape).astype(s.dtype.as_numpy_dtype)
  if s.dtype.is_integer:
    return rng.randint(0, int_high, shape).astype(s.dtype.as_numpy_dtype)
  if s.dtype == tf.bool:
    return rng.randint(0, 2, shape).astype(bool)
  raise spec.ExportError(
      f'input {s.name} has dtype {s.dtype.name}, for which no sample inputs '
      'can be made: export a model with numeric inputs (put string '
      'preprocessing in a separate preprocessor)')

"""The model card and Kaggle Models metadata written into every export.

    assets.extra/README.md                    tfhub.dev-style markdown card
    assets.extra/model-instance-metadata.json Kaggle Models instance metadata

Both travel inside the upload archive. The words come from the recipe's gin
config (`ModelCard.*`, scoped by export name for recipes that write several
SavedModels, e.g. `encoder/ModelCard.description = '...'`); the inputs and
outputs are read off the written `saved_model.pb` (its `serving_default`
signature) and the declared sub-objects, never typed by hand; the source and
verification sections come from the export record.
"""

import dataclasses
import json
import os
from typing import Dict, Optional

import gin

from official.hub_export import record as record_lib

CARD = 'README.md'
KAGGLE = 'model-instance-metadata.json'

OPTIMIZER_WARNING = (
    'Regularization applied by the optimizer during training (for example '
    'decoupled weight decay in AdamW or LAMB) is not part of this SavedModel: '
    'only the losses listed in `regularization_losses` are. Add weight decay '
    'to your own optimizer when fine-tuning if you need it.')

_LICENSES = {'apache-2.0': 'Apache 2.0', 'mit': 'MIT', 'cc-by-4.0':
             'Attribution 4.0 International (CC BY 4.0)', 'custom': 'Other'}


@gin.configurable
@dataclasses.dataclass
class ModelCard:
  """What a publisher writes about the model (bind in the recipe's gin file).

  Attributes:
    name: model name as published (e.g. 'bert_en_uncased_L-12_H-768_A-12');
      default: the export directory's name.
    publisher: Kaggle/tfhub.dev publisher handle.
    version: model version.
    description: one line (the card's second line).
    overview: paragraphs about the model: architecture, training data, intended
      use.
    task: tfhub.dev task tag; default: the recipe's declared task.
    network_architecture, dataset, language: tfhub.dev metadata tags.
    license: 'apache-2.0', 'mit', 'cc-by-4.0' or 'custom'.
    fine_tunable: whether the model is meant to be fine-tuned.
    usage: a Python snippet; `HANDLE` stands for the model's handle. Default:
      generated for the task.
    preprocessor: handle of the matching preprocessor, named in the usage.
    hyperparameters: fine-tuning relevant settings (dropout rate, batch norm
      momentum, L2 strength, ...), listed in the card.
    asset_path: URL of the published archive (tfhub.dev `asset-path`).
  """
  name: Optional[str] = None
  publisher: str = 'publisher'
  version: int = 1
  description: str = ''
  overview: str = ''
  task: Optional[str] = None
  network_architecture: Optional[str] = None
  dataset: Optional[str] = None
  language: Optional[str] = None
  license: str = 'apache-2.0'
  fine_tunable: bool = True
  usage: Optional[str] = None
  preprocessor: Optional[str] = None
  hyperparameters: Dict[str, object] = dataclasses.field(default_factory=dict)
  asset_path: Optional[str] = None


def for_export(export_name: str) -> ModelCard:
  """The gin-configured card of one export (scope = its name, if any)."""
  if export_name:
    with gin.config_scope(export_name):
      return ModelCard()
  return ModelCard()


def _signature_io(saved_model_dir: str):
  """(inputs, outputs) of serving_default: [(name, dtype, shape)]."""
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  proto = saved_model_pb2.SavedModel()
  with open(os.path.join(saved_model_dir, 'saved_model.pb'), 'rb') as f:
    proto.ParseFromString(f.read())
  sig = proto.meta_graphs[0].signature_def.get('serving_default')
  if sig is None:
    return [], []
  def rows(m):
    out = []
    for name in sorted(m):
      t = m[name]
      shape = (None if t.tensor_shape.unknown_rank else
               [None if d.size < 0 else d.size for d in t.tensor_shape.dim])
      out.append((name, tf.dtypes.as_dtype(t.dtype).name, shape))
    return out
  return rows(sig.inputs), rows(sig.outputs)


def _shape(shape):
  if shape is None:
    return 'any shape'
  return '[' + ', '.join('batch' if i == 0 and d is None else
                         ('?' if d is None else str(d))
                         for i, d in enumerate(shape)) + ']'


def _spec_inputs(spec_json):
  ins = spec_json['inputs']
  parts = [f"`{s['name']}` {s['dtype']} {_shape(s['shape'])}"
           for s in ins['specs']]
  if ins.get('dict'):
    return 'dict of ' + ', '.join(parts)
  if ins.get('list'):
    return 'list of ' + ', '.join(parts)
  return parts[0]


def default_usage(task: str, spec_json: dict, card: ModelCard) -> str:
  """A loading + fine-tuning snippet for the task (HANDLE = the model)."""
  head = ['import tensorflow as tf', 'import tensorflow_hub as hub',
          'import tf_keras  # TF Hub needs Keras 2: pip install tf-keras']
  ins = spec_json['inputs']
  if task == 'text-preprocessing':
    return '\n'.join(head[:2] + [
        'import tensorflow_text  # registers the ops the preprocessor uses',
        '', 'preprocessor = hub.KerasLayer("HANDLE")',
        'encoder_inputs = preprocessor(tf.constant(["hello world"]))',
        '# Sentence pairs, or another sequence length:',
        'preprocessor = hub.load("HANDLE")',
        'tokenized = [preprocessor.tokenize(tf.constant(["hello"])),',
        '             preprocessor.tokenize(tf.constant(["world"]))]',
        'encoder_inputs = preprocessor.bert_pack_inputs(tokenized, '
        'seq_length=64)'])
  if task == 'text-embedding' and ins.get('dict'):
    pre = card.preprocessor or 'PREPROCESSOR_HANDLE'
    return '\n'.join(head + [
        'import tensorflow_text  # for the preprocessor', '',
        'text = tf_keras.Input(shape=(), dtype=tf.string)',
        f'encoder_inputs = hub.KerasLayer("{pre}")(text)',
        'outputs = hub.KerasLayer("HANDLE", trainable=True)(encoder_inputs)',
        'pooled = outputs["pooled_output"]      # [batch, hidden]',
        'sequence = outputs["sequence_output"]  # [batch, seq_length, hidden]',
        'logits = tf_keras.layers.Dense(2)(tf_keras.layers.Dropout(0.1)(pooled))',
        'model = tf_keras.Model(text, logits)'])
  if task == 'text-embedding':
    return '\n'.join(head + [
        '', 'embed = hub.KerasLayer("HANDLE", input_shape=[], dtype=tf.string,',
        '                       trainable=True)',
        'embeddings = embed(tf.constant(["hello world", "a sentence"]))',
        'model = tf_keras.Sequential([embed, tf_keras.layers.Dense(2)])'])
  if task.startswith('image'):
    last = ('logits = layer(images)  # apply tf.nn.softmax for probabilities'
            if task == 'image-classification' else
            'features = layer(images)  # [batch, num_features]')
    lines = head + [
        '', '# float32 RGB images in [0, 1], [batch, height, width, 3]',
        'images = tf.random.uniform([2, 224, 224, 3])',
        'layer = hub.KerasLayer("HANDLE", trainable=True)', last]
    if task == 'image-feature-vector':
      lines += ['model = tf_keras.Sequential([',
                '    tf_keras.Input([224, 224, 3]), layer,',
                '    tf_keras.layers.Dense(NUM_CLASSES)])']
    return '\n'.join(lines)
  return '\n'.join(head + ['', 'layer = hub.KerasLayer("HANDLE", '
                           f'trainable={card.fine_tunable})',
                           'outputs = layer(inputs)'])


def _requirements(saved_model: Optional[dict]):
  """Lines naming the TensorFlow that wrote the model and the op
  libraries to import before loading it (from the export record)."""
  if not saved_model:
    return []
  lines = [f"Written by TensorFlow {saved_model['tensorflow_version']}."]
  for package, ops in sorted(saved_model.get('op_libraries', {}).items()):
    if package == 'unknown':
      lines.append(f"Needs ops no known package registers: {', '.join(ops)}.")
      continue
    module = package.replace('-', '_')
    lines.append(f'Needs `{package}` (`pip install {package}`): '
                 f'`import {module}` before loading, which registers its ops '
                 f"({', '.join(ops)}).")
  return lines + ['']


# Fine-tuning only the top groups, as the card shows it (tests run these
# snippets verbatim with HANDLE replaced).
FREEZE_TF_KERAS = '''hub_layer = hub.KerasLayer("HANDLE", trainable=True)
groups = hub_layer.resolved_object.variable_groups  # bottom to top
print([g.name.numpy().decode() for g in groups])
TOP_K, DECAY = 2, 0.9  # train the top 2 groups, each lower one at 0.9x the rate
frozen = {v.ref() for g in groups[:-TOP_K] for v in g.trainable_variables}
scale = {v.ref(): DECAY ** depth
         for depth, g in enumerate(reversed(groups[-TOP_K:]))
         for v in g.trainable_variables}

def scaled(grad, s):
  if isinstance(grad, tf.IndexedSlices):
    return tf.IndexedSlices(grad.values * s, grad.indices, grad.dense_shape)
  return grad * s

class FineTune(tf_keras.Model):  # build it like tf_keras.Model(inputs, outputs)
  def train_step(self, data):
    x, y = data
    with tf.GradientTape() as tape:
      loss = self.compiled_loss(y, self(x, training=True),
                                regularization_losses=self.losses)
    variables = [v for v in self.trainable_variables if v.ref() not in frozen]
    grads = tape.gradient(loss, variables)
    self.optimizer.apply_gradients(
        (scaled(g, scale.get(v.ref(), 1.0)), v)
        for g, v in zip(grads, variables) if g is not None)
    return {"loss": loss}'''

FREEZE_KERAS3 = '''import keras  # Keras 3
layer = keras.layers.TFSMLayer("HANDLE", call_endpoint="__call__", trainable=True)
groups = layer._reloaded_obj.variable_groups  # TFSMLayer's loaded SavedModel
TOP_K = 2
train = {id(v) for g in groups[-TOP_K:] for v in g.trainable_variables}
for w in list(layer.trainable_weights):
  if id(w.value) not in train:
    w.trainable = False  # fit() leaves it as it is'''


def fine_tuning_controls(spec_json: dict, verification: Optional[dict]
                         ) -> list:
  """Card lines on the tunable hyper-parameters and the variable groups."""
  lines = []
  tunables = spec_json.get('tunables') or {}
  if tunables:
    lines += ['### Tunable hyper-parameters', '',
              '`__call__` takes these keyword arguments (float32 scalars); '
              'omitted, each keeps the value the model was trained with. '
              'Pass them through `hub.KerasLayer(..., arguments=dict(...))` '
              'or `obj(inputs, training=True, name=value)` after '
              '`hub.load`. They only act with `training=True`.', '',
              '| argument | default | meaning |', '| --- | --- | --- |']
    lines += [f'| `{n}` | {t["default"]:g} | {t["description"]} |'
              for n, t in tunables.items()]
    def example(t):
      if t['kind'] == 'dropout':
        return 0.05
      return 0.9 if t['default'] > 0.95 else 0.8
    example = ', '.join(f'{n}={example(t):g}' for n, t in tunables.items())
    lines += ['', '```python',
              f'layer = hub.KerasLayer("HANDLE", trainable=True,',
              f'                       arguments=dict({example}))', '```',
              '']
  if spec_json.get('variable_groups'):
    names = None
    for c in (verification or {}).get('checks', []):
      if c['name'] == 'root.variable_groups partition the variables':
        names = c['value']
    lines += ['### Freezing all but the top layers', '',
              '`variable_groups` lists the variables in named groups, bottom '
              'to top' + (f': {names}' if names else '') + '. Each has '
              '`name` (a string variable), `variables` and '
              '`trainable_variables` (the same variables as the layer\'s '
              'weights).' + (' Sub-objects (`.' + '`, `.'.join(
                  spec_json.get('subobjects', {})) + '`) have their own.'
                             if any(s.get('variable_groups') for s in
                                    spec_json.get('subobjects', {}).values())
                             else ''), '',
              'tf_keras (`hub.KerasLayer`), top groups only, with layer-wise '
              'learning-rate decay:', '', '```python', FREEZE_TF_KERAS, '```',
              '', 'Keras 3 (`TFSMLayer`), top groups only (`__call__` '
              'runs with `training=False` there: no dropout, batch-norm '
              'statistics as exported):', '', '```python',
              FREEZE_KERAS3, '```', '']
  return lines


def render(saved_model_dir: str, card: ModelCard, rec: dict) -> str:
  """The markdown card (tfhub.dev format: metadata lines before a heading)."""
  spec_json = rec['api']
  task = card.task or spec_json['task']
  name = card.name or rec['export']
  lines = [f'# Module {card.publisher}/{name}/{card.version}',
           card.description or f'{name}: exported by the `{rec["recipe"]}` '
           'recipe as a TF2 reusable SavedModel.', '']
  meta = [('asset-path', card.asset_path or f'{name}.tar.gz'),
          ('task', task), ('network-architecture', card.network_architecture),
          ('dataset', card.dataset), ('language', card.language),
          ('fine-tunable', str(card.fine_tunable).lower()),
          ('format', 'saved_model_2'), ('license', card.license)]
  lines += [f'<!-- {k}: {v} -->' for k, v in meta if v]
  lines += ['', '## Overview', '', card.overview.strip() or card.description
            or f'A reusable SavedModel exported from a `{rec["recipe"]}` '
            'checkpoint.', '']

  sig_in, sig_out = _signature_io(saved_model_dir)
  lines += ['## Inputs and outputs', '',
            'Read off the exported SavedModel (`serving_default` equals '
            '`__call__(..., training=False)`).', '',
            f'`__call__` input: {_spec_inputs(spec_json)}' +
            ('' if not spec_json.get('training_arg', True) else
             '; pass `training=True` for training behaviour (dropout, '
             'batch-norm statistics updates) where the model has any.'),
            '', '| | name | dtype | shape | notes |',
            '| --- | --- | --- | --- | --- |']
  lines += [f'| input | `{n}` | {d} | {_shape(s)} | |' for n, d, s in sig_in]
  descriptions = {k: v.get('description', '') for k, v in
                  spec_json['outputs'].items()}
  for n, d, s in sig_out:
    base = n if n in descriptions else n.rsplit('_', 1)[0]
    note = descriptions.get(base, '')
    kind = spec_json['outputs'].get(base, {}).get('kind')
    if kind == 'logits':
      note = (note + ' ' if note else '') + ('logits: apply `tf.nn.softmax` '
                                             '(or sigmoid) for probabilities')
    lines.append(f'| output | `{n}` | {d} | {_shape(s)} | {note} |')
  for sub, sub_spec in spec_json.get('subobjects', {}).items():
    outs = ', '.join(f'`{k}`' for k in sub_spec['outputs'])
    lines.append('')
    lines.append(f'Sub-object `.{sub}`: input {_spec_inputs(sub_spec)}; '
                 f'outputs {outs}.')
  lines.append('')

  usage = card.usage or default_usage(task, spec_json, card)
  lines += ['## Usage', '', '```python', usage.strip(), '```', '']
  lines += _requirements(rec.get('saved_model'))

  v = rec.get('verification')
  reg = None
  if v:
    reg = next((c['value'] for c in v['checks'] if
                c['name'] == 'root.regularization_losses are finite scalars'),
               None)
  lines += ['## Fine-tuning', '']
  if card.hyperparameters:
    lines += [f'- {k}: {val}' for k, val in card.hyperparameters.items()]
  if reg:
    lines.append(f'- `regularization_losses`: {reg} (added to the loss by '
                 '`hub.KerasLayer(..., trainable=True)`)')
  lines += ['', f'**Note:** {OPTIMIZER_WARNING}', '']
  lines += fine_tuning_controls(spec_json, v)

  src = rec['source'].get('checkpoint')
  lines += ['## Source', '']
  if src:
    lines.append(f'- checkpoint: `{os.path.basename(src["path"])}` '
                 f'({src["format"]}, layout `{src["layout"]}`, '
                 f'{src["parameters"]:,} parameters, sha256 '
                 f'`{src["fingerprint_sha256"][:16]}...`)')
  for k, info in rec['source'].get('inputs', {}).items():
    lines.append(f'- {k}: `{os.path.basename(info["path"])}` (sha256 '
                 f'`{info["sha256"][:16]}...`)')
  versions = ', '.join(f'{k} {val}' for k, val in rec['versions'].items()
                       if val)
  lines += [f'- exported with: {versions}',
            f'- recipe: `{rec["recipe"]}`, revision '
            f'`{rec["git_revision"] or "unknown"}`', '']

  lines += ['## Verification', '']
  if not v:
    lines.append('Not verified (exported with `--noverify`).')
  else:
    warns = sum(c['status'] == 'WARN' for c in v['checks'])
    lines.append(f'{v["passed"]} checks passed, {v["failed"]} failed, '
                 f'{warns} warnings, reloaded in a fresh process with '
                 '`hub.load` and `hub.KerasLayer`. Against the source model:')
    lines.append('')
    lines += [f'- {c["name"]}: {c["value"]}' for c in v['checks']
              if 'equals source' in c['name']]
  return '\n'.join(lines).rstrip() + '\n'


def kaggle_metadata(card: ModelCard, rec: dict, usage_md: str) -> dict:
  name = card.name or rec['export']
  return {
      'framework': 'tensorFlow2',
      'instanceSlug': name.lower().replace('_', '-'),
      'overview': card.description or card.overview.strip() or name,
      'usage': usage_md,
      'licenseName': _LICENSES.get(card.license, card.license),
      'fineTunable': bool(card.fine_tunable),
      'trainingData': [card.dataset] if card.dataset else [],
  }


def write(saved_model_dir: str, card: ModelCard, rec: dict) -> str:
  """Writes README.md and the Kaggle metadata into assets.extra/."""
  extra = os.path.join(saved_model_dir, record_lib.EXTRA)
  os.makedirs(extra, exist_ok=True)
  text = render(saved_model_dir, card, rec)
  with open(os.path.join(extra, CARD), 'w') as f:
    f.write(text)
  usage = text[text.index('## Usage'):text.index('## Fine-tuning')].strip()
  with open(os.path.join(extra, KAGGLE), 'w') as f:
    json.dump(kaggle_metadata(card, rec, usage), f, indent=1)
    f.write('\n')
  return text

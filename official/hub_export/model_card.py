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


_SAMPLE_SENTENCES = '["hello world", "The quick brown fox jumps."]'


def _sample(s, task, batch=2):
  """A Python expression for a sample input of TensorSpec json `s`."""
  dtype, shape, name = s['dtype'], s['shape'], s['name'] or ''
  if shape is None:  # Any shape (the seed MyMulModel).
    return 'tf.constant([10., 20.])' if dtype.startswith('float') else (
        f'tf.constant([1, 2], tf.{dtype})')
  size = 224 if task.startswith('image') else 16
  dims = [batch if i == 0 else (size if d is None else d)
          for i, d in enumerate(shape)]
  if dtype == 'string':
    return f'tf.constant({_SAMPLE_SENTENCES})'
  if dtype.startswith('float'):
    return f'tf.random.uniform({dims})'
  fill = 'zeros' if ('type' in name or 'position' in name) else 'ones'
  return f'tf.{fill}({dims}, tf.{dtype})'


def _sample_inputs(spec_json, task):
  ins = spec_json['inputs']
  if ins.get('dict'):
    items = [f'    "{s["name"]}": {_sample(s, task)},' for s in ins['specs']]
    return '{\n' + '\n'.join(items) + '\n}'
  return _sample(ins['specs'][0], task)


def _keras_inputs(spec_json, module):
  """`module.Input(...)` for the inputs (a dict for dict inputs)."""
  def one(s):
    shape = s['shape'][1:] if s['shape'] is not None else []
    args = [f'shape={shape}', f'dtype="{s["dtype"]}"']
    if spec_json['inputs'].get('dict'):
      args.append(f'name="{s["name"]}"')
    return f'{module}.Input({", ".join(args)})'
  ins = spec_json['inputs']
  if ins.get('dict'):
    return '{\n' + '\n'.join(f'    "{s["name"]}": {one(s)},'
                              for s in ins['specs']) + '\n}'
  return one(ins['specs'][0])


def _features_key(spec_json):
  """The output a classifier head goes on (None: the single output)."""
  if not spec_json.get('returns_dict', True):
    return None
  outs = spec_json['outputs']
  for key in ('pooled_output', 'default'):
    if key in outs:
      return key
  return next(k for k, v in outs.items() if v['kind'] != 'ids')


def _text_ops(task):
  return (['import tensorflow_text  # registers the preprocessor\'s ops']
          if task == 'text-preprocessing' else [])


def _classifier(spec_json, module, layer):
  """Lines putting a 2-class head on `layer` and fitting one batch."""
  key = _features_key(spec_json)
  pick = f'["{key}"]' if key else ''
  return [
      '', '# Fine-tuning: a classifier on top, trained end to end.',
      f'x = {_keras_inputs(spec_json, module)}',
      f'features = {layer}(x){pick}',
      f'logits = {module}.layers.Dense(2)(features)',
      f'model = {module}.Model(x, logits)',
      f'model.compile(optimizer={module}.optimizers.Adam(1e-5), loss={module}.'
      'losses.SparseCategoricalCrossentropy(from_logits=True))',
      'model.fit(inputs, tf.constant([0, 1]), epochs=1, verbose=0)']


def _can_classify(spec_json):
  return spec_json['inputs']['specs'][0]['shape'] is not None


def default_usage(task: str, spec_json: dict, card: ModelCard) -> str:
  """A tf_keras + `hub.KerasLayer` snippet that runs as is (HANDLE = the
  model), built from the export's declared API."""
  head = ['import tensorflow as tf', 'import tensorflow_hub as hub',
          'import tf_keras  # TF Hub needs Keras 2: pip install tf-keras'
          ] + _text_ops(task)
  lines = head + ['', f'inputs = {_sample_inputs(spec_json, task)}']
  trainable = card.fine_tunable and spec_json.get('trainable', True)
  if task == 'text-preprocessing':
    return '\n'.join(lines + [
        'preprocessor = hub.KerasLayer("HANDLE")',
        'encoder_inputs = preprocessor(inputs)  # dict of int32 '
        '[batch, seq_length]',
        '# Sentence pairs, or another sequence length:',
        'preprocessor = hub.load("HANDLE")',
        'tokenized = [preprocessor.tokenize(tf.constant(["hello"])),',
        '             preprocessor.tokenize(tf.constant(["world"]))]',
        'encoder_inputs = preprocessor.bert_pack_inputs(tokenized, '
        'seq_length=64)'])
  string_in = (not spec_json['inputs'].get('dict') and
               spec_json['inputs']['specs'][0]['dtype'] == 'string')
  extra = ', input_shape=[], dtype=tf.string' if string_in else ''
  lines.append(f'layer = hub.KerasLayer("HANDLE"{extra}, '
               f'trainable={trainable})')
  if task == 'text-embedding' and spec_json['inputs'].get('dict'):
    pre = card.preprocessor or 'PREPROCESSOR_HANDLE'
    lines.insert(len(head), f'# From text: inputs = hub.KerasLayer("{pre}")'
                 '(strings) (import tensorflow_text first)')
  note = ('  # logits: apply tf.nn.softmax for probabilities'
          if task == 'image-classification' else '')
  lines.append(f'outputs = layer(inputs){note}')
  if trainable and _can_classify(spec_json):
    lines += _classifier(spec_json, 'tf_keras', 'layer')
  return '\n'.join(lines)


KERAS3_LAYER = '''class HubLayer(keras.layers.TFSMLayer):
  """TFSMLayer plus the SavedModel's regularization losses, with weight
  names that optimizers with slots (Adam, momentum) accept."""

  def _add_existing_weight(self, weight):
    # TFSMLayer keeps the ':0' of TF variable names, which optimizers
    # refuse in their slot names ('... is not a valid scope name').
    self._track_variable(keras.Variable(
        initializer=weight, trainable=weight.trainable, dtype=weight.dtype,
        shape=weight.shape, name=weight.name.split(':')[0].replace('/', '_')))

  def call(self, inputs, training=False):
    if self.trainable:  # TFSMLayer itself ignores regularization_losses.
      for loss in self._reloaded_obj.regularization_losses:
        self.add_loss(loss())
    return super().call(inputs, training=training)'''


def saved_endpoints(saved_model_dir: str):
  """Names of the root's function attributes (`serve`, `call_training`, ...),
  read off saved_model.pb."""
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  proto = saved_model_pb2.SavedModel()
  with open(os.path.join(saved_model_dir, 'saved_model.pb'), 'rb') as f:
    proto.ParseFromString(f.read())
  nodes = proto.meta_graphs[0].object_graph_def.nodes
  return sorted(c.local_name for c in nodes[0].children
                if nodes[c.node_id].WhichOneof('kind') == 'function')


def keras3_usage(task: str, spec_json: dict, card: ModelCard,
                 endpoints) -> str:
  """A Keras 3 + `keras.layers.TFSMLayer` snippet that runs as is, on the
  endpoints the export has (`writer.py`: `serve`, `call_training`,
  `<sub>_serve`, ...)."""
  if 'serve' not in endpoints:
    return ''
  lines = ['import keras  # Keras 3 (TensorFlow backend)',
           'import tensorflow as tf'] + _text_ops(task)
  trainable = (card.fine_tunable and spec_json.get('trainable', True) and
               'call_training' in endpoints)
  lines += ['', f'inputs = {_sample_inputs(spec_json, task)}']
  if task == 'text-embedding' and spec_json['inputs'].get('dict'):
    pre = card.preprocessor or 'PREPROCESSOR_HANDLE'
    lines.append(f'# From text: inputs = keras.layers.TFSMLayer("{pre}", '
                 'trainable=False)(strings) (import tensorflow_text first)')
  lines.append('# TFSMLayer loads a local directory (the extracted archive).')
  if trainable:
    lines += ['', KERAS3_LAYER, '',
              'layer = HubLayer("HANDLE", call_endpoint="serve",',
              '                 call_training_endpoint="call_training", '
              'trainable=True)']
  else:
    lines.append('layer = keras.layers.TFSMLayer("HANDLE", trainable=False)')
  lines.append('outputs = layer(inputs)  # training=True runs '
               'call_training' if trainable else 'outputs = layer(inputs)')
  for sub, sub_spec in spec_json.get('subobjects', {}).items():
    if f'{sub}_serve' not in endpoints or sub_spec['inputs'].get('list'):
      continue
    ins = sub_spec['inputs']
    extra = [s for s in ins['specs'] if not (
        spec_json['inputs'].get('dict') and
        s['name'] in {x['name'] for x in spec_json['inputs']['specs']})]
    arg = ('{**inputs, ' + ', '.join(f'"{s["name"]}": {_sample(s, task)}'
                                     for s in extra) + '}') if extra else (
                                         'inputs')
    lines += ['', f'# .{sub} through its own endpoints:',
              f'{sub} = keras.layers.TFSMLayer("HANDLE", '
              f'call_endpoint="{sub}_serve",',
              f'    call_training_endpoint="{sub}_call_training")',
              f'{sub}_outputs = {sub}({arg})']
  if trainable and _can_classify(spec_json):
    lines += _classifier(spec_json, 'keras', 'layer')
  return '\n'.join(lines)


def _float_inputs(spec_json):
  return any(s['dtype'] == 'float32' for s in spec_json['inputs']['specs'])


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
FREEZE_TF_KERAS = '''import tensorflow as tf
import tensorflow_hub as hub
import tf_keras  # TF Hub needs Keras 2: pip install tf-keras

hub_layer = hub.KerasLayer("HANDLE", trainable=True)
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
    lines += ['', '```python', 'import tensorflow_hub as hub', '',
              'layer = hub.KerasLayer("HANDLE", trainable=True,',
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

  lines += usage_section(saved_model_dir, task, spec_json, card)
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


def usage_section(saved_model_dir: str, task: str, spec_json: dict,
                  card: ModelCard) -> list:
  """`## Usage`: tf_keras with hub.KerasLayer, Keras 3 with TFSMLayer (each
  block runs as is with HANDLE replaced by the export's path; tested), and
  mixed precision."""
  usage = card.usage or default_usage(task, spec_json, card)
  lines = ['## Usage', '', '### TensorFlow Hub with tf_keras (Keras 2)', '',
           '```python', usage.strip(), '```', '']
  endpoints = saved_endpoints(saved_model_dir)
  k3 = keras3_usage(task, spec_json, card, endpoints)
  if k3:
    named = ', '.join(f'`{e}`' for e in endpoints
                      if e.endswith(('serve', 'call_training')))
    lines += ['### Keras 3 with `keras.layers.TFSMLayer`', '',
              f'Keras 3 cannot use `hub.KerasLayer`; this SavedModel has '
              f'endpoints for `keras.layers.TFSMLayer`: {named} (inference '
              'and training mode; the input positionally, a dict as one '
              'dict). TFSMLayer ignores `regularization_losses`: the '
              'subclass below adds them.', '', '```python', k3, '```', '']
  if _float_inputs(spec_json):
    lines += ['### Mixed precision', '',
              'Works under tf_keras\'s and Keras 3\'s `mixed_float16` and '
              '`mixed_bfloat16` policies: float16/bfloat16 inputs are cast '
              'to float32 inside, the model computes in float32 and its '
              'outputs are float32.', '']
  return lines


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

"""Conformance to the TF Hub common API of the declared task."""

import numpy as np
import tensorflow as tf

from .graph import check_image_range
from .infer import ENCODER_INPUTS
from .infer import SENTENCES
from .report import WARN
from .report import model_call
from .reusable import call

def check_task(r, obj, spec, cases):
  """Conformance to the TF Hub common API of the declared task."""
  task = spec.get('task', 'custom')
  if task in ('custom', None):
    return
  ins = spec['inputs']
  names = [s['name'] for s in ins['specs']]
  case = cases[0] if cases else None
  out = (call(obj, case['inputs'], False, spec, case['kwargs'])
         if case else None)
  if task == 'text-embedding' and ins['dict']:  # Transformer encoder.
    missing = [n for n in ENCODER_INPUTS if n not in names]
    r.ok(not missing, 'text encoder inputs', ', '.join(names),
         f'missing {missing}' if missing else '')
    if isinstance(out, dict):
      need = ('pooled_output', 'sequence_output', 'default')
      lacking = [k for k in need if k not in out]
      r.ok(not lacking, 'text encoder outputs', ', '.join(sorted(out)),
           f'missing {lacking}' if lacking else '')
      if 'default' in out and 'pooled_output' in out:
        r.ok(np.array_equal(out['default'], out['pooled_output']),
             'text encoder default equals pooled_output')
    return
  if task == 'text-embedding':
    s = ins['specs'][0]
    r.ok(s['dtype'] == 'string' and s['shape'] in (None, [None]),
         'text embedding input', f"{s['dtype']}{s['shape']}",
         'expected a [batch] tf.string')
    if out is not None:
      o = np.asarray(out if not isinstance(out, dict) else out.get(
          'default', next(iter(out.values()))))
      batch = int(tf.shape(case['inputs'])[0])
      r.ok(o.ndim == 2 and o.shape[0] == batch and o.dtype == np.float32,
           'text embedding output', f'{o.dtype}{list(o.shape)}',
           'expected float32 [batch, dim]')
    return
  if task == 'text-preprocessing':
    s = ins['specs'][0]
    r.ok(s['dtype'] == 'string', 'preprocessor input', f"{s['dtype']}{s['shape']}")
    if isinstance(out, dict):
      lacking = [k for k in ENCODER_INPUTS if k not in out]
      if r.ok(not lacking, 'preprocessor outputs', ', '.join(sorted(out)),
              f'missing {lacking}' if lacking else ''):
        ids = np.asarray(out['input_word_ids'])
        r.ok(ids.dtype == np.int32 and ids.ndim == 2,
             'preprocessor output dtype/rank', f'{ids.dtype}{list(ids.shape)}')
        r.ok(ids.shape[1] == 128, 'preprocessor default seq_length',
             str(ids.shape[1]), 'TF Hub preprocessors default to 128',
             fail=WARN)
    for sub in ('tokenize', 'bert_pack_inputs'):
      r.ok(hasattr(obj, sub), f'preprocessor .{sub} exists')
    if hasattr(obj, 'tokenize'):
      tok = r.guard('preprocessor .tokenize', lambda: model_call(
          obj.tokenize, tf.constant(SENTENCES)))
      if tok is not None:
        r.ok(isinstance(tok, tf.RaggedTensor) and tok.dtype == tf.int32,
             'preprocessor .tokenize returns ragged int32',
             f'{type(tok).__name__} {tok.dtype.name}')
        r.ok(hasattr(obj.tokenize, 'get_special_tokens_dict'),
             'preprocessor .tokenize.get_special_tokens_dict exists')
        if hasattr(obj, 'bert_pack_inputs'):
          packed = r.guard('preprocessor .bert_pack_inputs', lambda: model_call(
              obj.bert_pack_inputs, [tok, tok], seq_length=16))
          if packed is not None:
            shape = np.asarray(packed['input_word_ids']).shape
            r.ok(shape == (len(SENTENCES), 16),
                 'preprocessor .bert_pack_inputs(seq_length=16)', str(shape))
    return
  if task.startswith('image'):
    s = ins['specs'][0]
    shape = s['shape']
    r.ok(not ins['dict'] and s['dtype'] == 'float32' and shape is not None and
         len(shape) == 4 and shape[0] is None and shape[-1] == 3,
         'image input', f"{s['dtype']}{shape}",
         'expected float32 [batch, height, width, 3]')
    check_image_range(r, obj)
    if out is not None:
      o = np.asarray(out if not isinstance(out, dict) else out.get(
          'default', next(iter(out.values()))))
      r.ok(o.ndim == 2, f'{task} output', f'{o.dtype}{list(o.shape)}',
           'expected [batch, features or classes]')

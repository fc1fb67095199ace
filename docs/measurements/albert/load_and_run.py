"""hub.load time of an ALBERT SavedModel in a fresh process, then outputs as .npz."""
import os, sys, time
os.environ['TF_USE_LEGACY_KERAS'] = '1'
import numpy as np, tensorflow as tf, tensorflow_hub as hub, tensorflow_text
path, kind, out = sys.argv[1:4]
t0 = time.perf_counter(); obj = hub.load(path); dt = time.perf_counter() - t0
res = {}
if kind == 'encoder':
  rng = np.random.RandomState(0)
  x = dict(input_word_ids=rng.randint(1, 30000, [3, 128]).astype(np.int32),
           input_mask=np.ones([3, 128], np.int32), input_type_ids=np.zeros([3, 128], np.int32))
  x['input_mask'][1:, 100:] = 0
  o = obj(x, training=False)
  res = {k: o[k].numpy() for k in ('pooled_output', 'sequence_output', 'default')}
  m = obj.mlm(dict(x, masked_lm_positions=np.array([[1, 5, 9]] * 3, np.int32)), training=False)
  res['mlm_logits'] = m['mlm_logits'].numpy()
else:
  s = tf.constant(['The quick brown fox.', 'Héllo wörld 日本', '', 'the ' * 200])
  o = obj(s)
  res = {k: v.numpy() for k, v in o.items()}
  p = obj.bert_pack_inputs([obj.tokenize(s), obj.tokenize(s[::-1])], seq_length=32)
  res.update({'pair_' + k: v.numpy() for k, v in p.items()})
np.savez(out, **res)
print(f'LOAD_SECONDS {dt:.2f}')

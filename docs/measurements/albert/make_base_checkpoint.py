"""Writes a random albert_en_base checkpoint the way Model Garden's trainer
does (global_step, model=pretrainer, Adam slots, checkpoint_items; through
Checkpoint.save), a 30000-piece SentencePiece model (word pieces over a
synthetic corpus, ALBERT's special tokens) and the Model Garden
encoder_config.yaml of the same model."""
import io, json, os, string, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'tests', 'testdata', 'albert'))
os.environ['TF_USE_LEGACY_KERAS'] = '1'
import numpy as np
import sentencepiece as spm
import tensorflow as tf, tf_keras
import make_checkpoint as mc
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
base = dict(vocab_size=30000, embedding_width=128, hidden_size=768,
            num_layers=12, num_attention_heads=12, intermediate_size=3072,
            max_position_embeddings=512)
with open(os.path.join(out, 'encoder_config.yaml'), 'w') as f:
  json.dump({'type': 'albert', 'albert': base}, f)  # JSON is YAML.
encoder, pretrainer = mc.build(mc.encoder_config(**base))
opt = tf_keras.optimizers.legacy.Adam(1e-3)
opt.apply_gradients([(tf.zeros_like(v), v) for v in pretrainer.trainable_variables])
ckpt = tf.train.Checkpoint(global_step=tf.Variable(7, dtype=tf.int64), model=pretrainer,
                           optimizer=opt, **pretrainer.checkpoint_items)
print(ckpt.save(os.path.join(out, 'ckpt', 'ckpt')))
print('parameters', sum(int(np.prod(v.shape)) for v in encoder.variables),
      'with mlm', sum(int(np.prod(v.shape)) for v in pretrainer.variables))
rng = np.random.RandomState(0)
letters = np.array(list(string.ascii_lowercase))
words = sorted({''.join(rng.choice(letters, rng.randint(3, 9))) for _ in range(40000)})
words = mc.WORDS + [w for w in words if w not in mc.WORDS]
corpus = [' '.join(rng.choice(words, 12)) for _ in range(40000)] + words
model = io.BytesIO()
spm.SentencePieceTrainer.train(
    sentence_iterator=iter(corpus), model_writer=model, vocab_size=30000,
    pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, model_type='word',
    user_defined_symbols=['[CLS]', '[SEP]', '[MASK]'], minloglevel=2)
with open(os.path.join(out, 'sp.model'), 'wb') as f:
  f.write(model.getvalue())
print('sp.model', spm.SentencePieceProcessor(model_proto=model.getvalue()).get_piece_size())

"""Writes a random BERT-base checkpoint the way Model Garden's trainer does,
plus a 30522-token vocab and a legacy bert_config.json."""
import json, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'tests', 'testdata', 'bert'))
os.environ['TF_USE_LEGACY_KERAS'] = '1'
import make_checkpoint as mc
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
cfg = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12,
           num_attention_heads=12, intermediate_size=3072, hidden_act='gelu',
           max_position_embeddings=512, type_vocab_size=2,
           hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
           initializer_range=0.02)
json.dump(cfg, open(os.path.join(out, 'bert_config.json'), 'w'))
c = mc.bert_config(**{k: v for k, v in cfg.items() if k in mc.TINY})
encoder, pretrainer = mc.build(c, next_sentence=True)
print(mc.trainer_checkpoint(encoder, pretrainer, os.path.join(out, 'ckpt', 'ckpt'), save=True))
vocab = mc.vocab_tokens()
with open(os.path.join(out, 'vocab.txt'), 'w') as f:
  f.write('\n'.join(vocab + [f'tok{i}' for i in range(30522 - len(vocab))]) + '\n')

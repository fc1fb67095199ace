"""The checker's verdicts on SavedModels that other tools wrote (tests/zoo.py).

A good model is never called bad: tf_keras classifiers for fixed 32x32 or
any size, saved with `tf.saved_model.save` or `model.save`; TF Hub's own
`MyMulModel`; a plain `tf.Module`; Model Garden's BERT encoder/preprocessor
and vision exporters, which follow the common APIs with their own signature
naming, all PASS. Keras 3 `model.export()` archives, signatures-only and TF1
SavedModels get "not a reusable SavedModel: <why>" after the checks that
still apply. Each model is built once by its own tool and checked in one
checker process; the costliest builds and checks are `slow`.
"""
import pytest

import zoo
from official.hub_export import verify

slow = pytest.mark.slow

# (zoo model, task, verdict, what the reason or report must say)
ZOO = [
    ('keras_fixed_tf_saved_model_save', 'image-classification', 'PASS',
     'PASS root output logits is logits'),
    pytest.param('keras_fixed_model_save', 'image-classification', 'PASS',
                 'PASS hub.KerasLayer fit step updates weights', marks=slow),
    pytest.param('keras_dynamic_tf_saved_model_save', 'image-classification',
                 'PASS', 'PASS graph has no final softmax/sigmoid before '
                 'logits', marks=slow),
    pytest.param('keras_dynamic_model_save', 'image-classification', 'PASS',
                 'PASS image inputs are in [0, 1]', marks=slow),
    ('keras3_export', 'custom', 'NOT_REUSABLE',
     'not a reusable SavedModel: no __call__, only entry points serve and '
     'signatures (serve, serving_default)'),
    ('my_mul_model', 'custom', 'PASS',
     'PASS root every trainable variable gets a gradient'),
    pytest.param('tf_module', 'custom', 'PASS',
                 'WARN root.trainable_variables exists: missing', marks=slow),
    pytest.param('signatures_only', 'custom', 'NOT_REUSABLE',
                 'not a reusable SavedModel: no __call__, only signatures '
                 '(serving_default)', marks=slow),
    pytest.param('tf1_saved_model', 'custom', 'NOT_REUSABLE',
                 'not a reusable SavedModel: a TF1 SavedModel', marks=slow),
    ('model_garden_bert_encoder', 'text-embedding', 'PASS',
     'PASS serving_default equals __call__(training=False)'),
    pytest.param('model_garden_bert_preprocessor', 'text-preprocessing',
                 'PASS', 'PASS op libraries: tensorflow-text: CaseFoldUTF8',
                 marks=slow),
    pytest.param('model_garden_vision', 'image-feature-vector', 'PASS',
                 'PASS root.__call__(training=False): callable', marks=slow),
]


@pytest.mark.parametrize('name,task,verdict,says', ZOO)
def test_verdict_on_other_tools_saved_models(session_tmp, name, task,
                                             verdict, says):
  path = zoo.BUILDERS[name](str(session_tmp))
  result = verify.consumer_checks(path, task=task)
  report = '\n'.join(result['report'])
  assert (result['verdict'], result['errors']) == (verdict, 0), report
  assert says in report, report
  if verdict == 'NOT_REUSABLE':
    # The checks that still apply ran and passed.
    assert result['failed'] == 0, report
    for check in ('op scan: no op acts on the machine', 'hub.load', 'sizes',
                  'signature serving_default callable'):
      assert f'PASS {check}' in report, (check, report)
    assert f'verdict: NOT_REUSABLE: {says}' in report

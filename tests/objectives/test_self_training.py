"""Self-training: CBST thresholds and pseudo-labels, MRKLD, DRST weights, the objective, a run."""
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvjax import data, models
from rvjax.objectives import self_training as st
from rvjax.train import self_training, syn2real

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from configs import syn2real_digits  # noqa: E402

PROBS = np.array([[0.9, 0.1, 0.0],   # predicted 0
                  [0.6, 0.3, 0.1],   # predicted 0
                  [0.5, 0.4, 0.1],   # predicted 0
                  [0.7, 0.2, 0.1],   # predicted 0
                  [0.2, 0.8, 0.0],   # predicted 1
                  [0.3, 0.45, 0.25]])  # predicted 1; nobody is predicted 2


def test_class_balanced_thresholds_and_pseudo_labels_by_hand():
  # Class 0: confidences 0.9, 0.7, 0.6, 0.5; portion 0.5 -> rank ceil(2) = 2 -> 0.7.
  # Class 1: 0.8, 0.45; portion 0.5 -> rank 1 -> 0.8. Class 2: none -> 1.
  np.testing.assert_allclose(st.class_balanced_thresholds(PROBS, 0.5), [0.7, 0.8, 1.0])
  # portion 0.6: class 0 rank ceil(2.4) = 3 -> 0.6; class 1 rank ceil(1.2) = 2 -> 0.45.
  np.testing.assert_allclose(st.class_balanced_thresholds(PROBS, 0.6), [0.6, 0.45, 1.0])
  labels, selected = st.pseudo_labels(PROBS, [0.7, 0.8, 1.0])
  # ratios p/lambda: row0 (1.29, .125, 0), row3 (1.0, ...), row4 (.29, 1.0, 0) -> selected.
  np.testing.assert_array_equal(selected, [True, False, False, True, True, False])
  np.testing.assert_array_equal(labels[selected], [0, 0, 1])
  # Class balance: a low threshold for a rare, unconfident class still selects it
  # (row 5 at portion 0.6: 0.45 / 0.45 = 1 beats 0.3 / 0.6).
  labels, selected = st.pseudo_labels(PROBS, st.class_balanced_thresholds(PROBS, 0.6))
  assert selected[5] and labels[5] == 1
  with pytest.raises(ValueError, match="portion"):
    st.class_balanced_thresholds(PROBS, 0.0)


def test_mrkld_and_density_ratio_weights_by_hand():
  logits = jnp.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
  p = np.exp(np.asarray(logits)) / np.exp(np.asarray(logits)).sum(-1, keepdims=True)
  np.testing.assert_allclose(st.mrkld(logits), -np.log(p).mean(-1), rtol=1e-5)
  np.testing.assert_allclose(st.mrkld(logits)[1], np.log(3), rtol=1e-6)  # uniform: its minimum
  # P(s|x) = 0.5, 0.2, 0.8 with 100 source and 50 target examples: r = p/(1-p) * 0.5.
  r = np.array([1.0, 0.25, 4.0]) * 0.5
  np.testing.assert_allclose(st.density_ratio_weights([0.5, 0.2, 0.8], 100, 50),
                             r / r.mean(), rtol=1e-5)
  np.testing.assert_allclose(st.density_ratio_weights([0.5, 0.2, 0.8], 100, 50, max_weight=1.5),
                             np.minimum(r / r.mean(), 1.5), rtol=1e-5)


def test_weighted_objective_matches_numpy():
  model = models.create("cnn", num_classes=10, widths=(4, 8, 8))
  x = jax.random.uniform(jax.random.key(0), (4, 8, 8, 1))
  variables = model.init(jax.random.key(1), x, train=False)
  params, state = variables["params"], {k: v for k, v in variables.items() if k != "params"}
  batch = {"image": x, "label": jnp.array([1, 2, 3, 4]), "mask": jnp.array([1.0, 1, 1, 0]),
           "weight": jnp.array([1.0, 0.5, 2.0, 3.0]), "pseudo": jnp.array([0.0, 1, 1, 1])}
  obj = st.make(model.apply, mrkld_weight=0.3, freeze_bn=True)
  loss, (new_state, _) = obj(params, state, batch, jax.random.key(2))
  logits = np.asarray(model.apply(variables, x, train=False), np.float64)
  logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  ce = -logp[np.arange(4), [1, 2, 3, 4]]
  per = ce + 0.3 * np.array([0, 1, 1, 1]) * (-logp.mean(-1))
  expect = np.sum(np.array([1, 1, 1, 0]) * np.array([1, 0.5, 2, 3]) * per) / 3
  np.testing.assert_allclose(loss, expect, rtol=1e-5)
  assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), new_state, state))


def test_tiny_self_training_runs_every_method(tmp_path):
  d = str(tmp_path)
  syn2real.pretrain_source(syn2real_digits.source_path(d, "digits"), "digits_rotation", "cnn",
                           model_kwargs={"widths": (4, 8, 8)}, steps=2, batch_size=16)
  config = syn2real_digits.get_config(f"row=asg_pg,tiny,source=digits,source_dir={d},st=drst")
  out = self_training.run(config)
  assert out["method"] == "drst" and "real_test/accuracy" in out["start"]
  best, _, row = syn2real.train_row(config)
  n_real = len(data.load("digits", "train"))
  for method in ("cbst", "crst"):
    res = self_training.self_train(config, method, best, row)
    assert res["method"] == method and len(res["rounds"]) == 2
    assert [r["portion"] for r in res["rounds"]] == pytest.approx([0.2, 0.4])
    for r in res["rounds"]:  # at least the portion of every predicted class is pseudo-labelled
      assert r["portion"] * n_real <= r["selected"] < n_real
    assert 0.0 <= res["real_test/accuracy"] <= 1.0
  with pytest.raises(ValueError, match="st="):
    syn2real_digits.get_config("row=scratch,st=bogus")

"""Model stealing: budgets, query strategies, answer defences, active selection, the evaluator."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvjax import data as data_lib
from rvjax import stealing
from rvjax.evaluators import stealing as stealing_eval

pytestmark = pytest.mark.usefixtures("fast_compile")


@pytest.mark.parametrize("budget", [0, -3, 2.5, True])
def test_budget_below_one_or_not_an_integer_is_rejected(budget):
  with pytest.raises(ValueError, match="query budget"):
    stealing.check_budget(budget)


def test_random_queries():
  rng = np.random.default_rng(0)
  for kind in ("uniform", "gaussian", "photos"):
    x = stealing.random_queries(rng, 50, (8, 8, 1), kind)
    assert x.shape == (50, 8, 8, 1) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
  g = stealing.random_queries(rng, 400, (8, 8, 1), "gaussian")
  assert abs(g.mean() - 0.5) < 0.01 and 0.2 < g.std() < 0.25  # N(0.5, 0.25^2), clipped.
  with pytest.raises(ValueError, match="Unknown random query kind"):
    stealing.random_queries(rng, 5, (8, 8, 1), "margin")


def test_synthetic_queries_are_rendered_digits_at_the_victims_size():
  x = stealing.random_queries(np.random.default_rng(0), 40, (8, 8, 1), "synthetic")
  assert x.shape == (40, 8, 8, 1) and x.dtype == np.float32
  assert x.min() >= 0 and x.max() <= 1 and x.std() > 0.05  # Not blank.
  # Images differ from each other (one key per image); 40 = the evaluator test's budget
  # (one compilation).
  assert np.abs(x[1:] - x[:1]).max(axis=(1, 2, 3)).min() > 0.01
  # Domain randomization ("full_dr"): some digits come inverted (dark on light), which the
  # canonical "none" rendering (light on black, like sklearn's digits) never gives.
  assert (x.mean(axis=(1, 2, 3)) > 0.5).any() and (x.mean(axis=(1, 2, 3)) < 0.5).any()
  again = stealing.random_queries(np.random.default_rng(0), 40, (8, 8, 1), "synthetic")
  np.testing.assert_array_equal(x, again)  # Deterministic for a seed ...
  other = stealing.random_queries(np.random.default_rng(1), 40, (8, 8, 1), "synthetic")
  assert np.abs(x - other).max() > 0.1  # ... and the seed matters.
  with pytest.raises(ValueError, match="square images with 1 or 3 channels"):
    stealing.random_queries(np.random.default_rng(0), 4, (8, 6, 1), "synthetic")
  with pytest.raises(ValueError, match="query budget"):
    stealing.random_queries(np.random.default_rng(0), 0, (8, 8, 1), "synthetic")


def test_defences():
  p = jnp.array([[0.62, 0.27, 0.11], [0.40, 0.35, 0.25]])
  np.testing.assert_allclose(stealing.round_probs(p, 1), [[0.6, 0.3, 0.1], [0.4, 0.4, 0.2]],
                             atol=1e-6)
  q = stealing.poison_probs(p, 0.3)
  np.testing.assert_allclose(q, 0.7 * p + 0.3 * np.array([[0, 0, 1], [0, 0, 1]]), atol=1e-6)
  np.testing.assert_allclose(q.sum(-1), 1.0, atol=1e-6)
  assert np.argmax(q, -1).tolist() == [0, 2]  # Kept where confident, flipped where not.
  np.testing.assert_array_equal(stealing.defend(p, ""), p)
  with pytest.raises(ValueError, match="Unknown defence"):
    stealing.defend(p, "noise")


def test_smallest_margin_skips_asked_rows():
  probs = np.array([[0.5, 0.4, 0.1], [0.9, 0.05, 0.05], [0.34, 0.33, 0.33], [0.6, 0.3, 0.1]])
  assert stealing.smallest_margin(probs, 2, np.zeros(4, bool)).tolist() == [2, 0]
  assert stealing.smallest_margin(probs, 2, np.array([0, 0, 1, 0], bool)).tolist() == [0, 3]


def test_evaluator_steals_within_budget_and_rejects_budget_below_one():
  rng = np.random.default_rng(0)
  w = jnp.asarray(rng.normal(size=(64, 3)).astype(np.float32))
  predict_fn = jax.jit(lambda state, x: (x.reshape(x.shape[0], -1) - 0.5) @ w * state)
  images = rng.uniform(size=(60, 8, 8, 1)).astype(np.float32)
  labels = np.argmax(np.asarray(predict_fn(1.0, images)), -1).astype(np.int32)
  test = data_lib.Dataset(images, labels, 3)
  with pytest.raises(ValueError, match="query budget"):
    stealing_eval.Evaluator(predict_fn, test_ds=test, budgets=(0,))
  ev = stealing_eval.Evaluator(predict_fn, test_ds=test, budgets=(40,),
                               strategies=("synthetic", "margin"), defence="poison",
                               substitute="cnn_tiny", steps=3, batch_size=16, rounds=2,
                               transfer_steps=2)
  out = dict(ev.run(1.0))
  assert out["victim/accuracy"] == 1.0 and out["victim/defended_accuracy"] <= 1.0
  assert out["synthetic/40/queries"] == 40 and out["margin/40/queries"] == 40
  for s in ("synthetic", "margin"):
    assert 0 <= out[f"{s}/40/agreement"] <= 1 and 0 <= out[f"{s}/40/accuracy"] <= 1
    # The victim is always right on its own labels, so agreement equals accuracy here.
    assert out[f"{s}/40/agreement"] == out[f"{s}/40/accuracy"]


def test_distill_objective_is_cross_entropy_to_the_answers():
  from rvjax import objectives
  apply_fn = lambda v, x, train, mutable, rngs: (x.reshape(x.shape[0], -1) @ v["params"]["w"], {})
  rng = np.random.default_rng(0)
  params = {"w": jnp.asarray(rng.normal(size=(4, 3)).astype(np.float32))}
  probs = rng.dirichlet(np.ones(3), 5).astype(np.float32)
  batch = {"image": rng.uniform(size=(5, 2, 2, 1)).astype(np.float32), "probs": probs,
           "label": np.argmax(probs, -1).astype(np.int32),
           "mask": np.array([1, 1, 1, 1, 0], np.float32)}
  loss, _ = objectives.create("distill", apply_fn)(params, {}, batch, jax.random.key(0))
  z = batch["image"].reshape(5, -1) @ np.asarray(params["w"], np.float64)
  log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
  np.testing.assert_allclose(loss, -(probs * log_p).sum(-1)[:4].mean(), rtol=1e-5)
  with pytest.raises(ValueError, match="probs"):
    objectives.create("distill", apply_fn)(params, {}, {k: v for k, v in batch.items()
                                                        if k != "probs"}, jax.random.key(0))

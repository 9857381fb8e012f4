"""Feature-collision poisons, the k-NN filter, fine-tuning the head only, and the evaluator."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvjax import data as data_lib
from rvjax import models, objectives, poisoning
from rvjax.evaluators import poisoning as poisoning_eval
from rvjax.train import fit, state as state_lib, step as step_lib

pytestmark = pytest.mark.usefixtures("fast_compile")


def test_forward_backward_step_is_the_hand_computed_update():
  rng = np.random.default_rng(0)
  w = rng.normal(size=(16, 3)).astype(np.float32)
  features = lambda x: x.reshape(x.shape[0], -1) @ w  # f(x) = W^T vec(x)
  x, t, b = (rng.uniform(size=(2, 4, 4, 1)).astype(np.float32) for _ in range(3))
  beta, lr = 0.5, 0.05
  got = poisoning.forward_backward_step(features, jnp.asarray(x), features(t), jnp.asarray(b),
                                        beta=beta, lr=lr)
  xf, tf, bf = (a.reshape(2, -1).astype(np.float64) for a in (x, t, b))
  grad = 2 * (xf @ w - tf @ w) @ w.T  # d/dx ||W^T x - W^T t||^2
  x_hat = xf - lr * grad
  expected = np.clip((x_hat + lr * beta * bf) / (1 + lr * beta), 0, 1)
  assert 0 < np.mean((expected == 0) | (expected == 1)) < 1  # Some pixels are clipped.
  np.testing.assert_allclose(np.asarray(got).reshape(2, -1), expected, atol=1e-5)


@pytest.fixture(scope="module")
def victim():
  model = models.create("cnn_tiny", num_classes=10)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)), train=False)
  return model, variables


def test_penultimate_is_the_heads_input(victim):
  model, variables = victim
  x = jax.random.uniform(jax.random.key(1), (5, 8, 8, 1))
  feats = poisoning.penultimate(model.apply, variables)(x)
  head = variables["params"]["head"]
  np.testing.assert_allclose(feats @ head["kernel"] + head["bias"],
                             model.apply(variables, x, train=False), rtol=1e-5, atol=1e-5)


def test_craft_decreases_feature_distance_and_beta_keeps_poisons_near_bases(victim):
  model, variables = victim
  features = poisoning.penultimate(model.apply, variables)
  targets = jax.random.uniform(jax.random.key(2), (3, 8, 8, 1))
  bases = jax.random.uniform(jax.random.key(3), (3, 8, 8, 1))
  near, dist = poisoning.craft(features, targets, bases, beta=0.0, lr=0.1, steps=30)
  assert dist.shape == (31, 3)
  assert np.all(np.asarray(dist[-1]) < 0.5 * np.asarray(dist[0]))
  assert float(near.min()) >= 0.0 and float(near.max()) <= 1.0
  anchored, _ = poisoning.craft(features, targets, bases, beta=50.0, lr=0.1, steps=30)
  assert (jnp.linalg.norm(anchored - bases) < 0.5 * jnp.linalg.norm(near - bases))
  marked = poisoning.watermark(bases, targets, 0.3)
  np.testing.assert_allclose(marked, 0.7 * bases + 0.3 * targets, rtol=1e-6)
  with pytest.raises(ValueError, match="opacity"):
    poisoning.watermark(bases, targets, 1.0)


def test_knn_filter_matches_sklearn_neighbours():
  from sklearn.neighbors import NearestNeighbors
  rng = np.random.default_rng(0)
  feats = rng.normal(size=(60, 4)).astype(np.float32)
  labels = rng.integers(0, 3, 60)
  k = 5
  _, idx = NearestNeighbors(n_neighbors=k + 1).fit(feats).kneighbors(feats)
  counts = np.stack([np.bincount(labels[row[1:]], minlength=3) for row in idx])
  expected = counts[np.arange(60), labels] == counts.max(-1)
  keep = poisoning.knn_label_filter(feats, labels, k=k, num_classes=3)
  assert 0 < expected.mean() < 1
  np.testing.assert_array_equal(keep, expected)
  with pytest.raises(ValueError, match="k must lie"):
    poisoning.knn_label_filter(feats, labels, k=60, num_classes=3)


def test_head_only_fine_tuning_changes_only_the_head(victim):
  model, _ = victim
  tx = fit.make_optimizer(0.05, 3, trainable="^head/")
  state = state_lib.init_fn(model, tx, (1, 8, 8, 1))(jax.random.key(0))
  step_fn = step_lib.compile_train_step(objectives.create("erm", fit.eval_only(model.apply)), tx)
  rng = np.random.default_rng(0)
  arrays = {"image": rng.uniform(size=(20, 8, 8, 1)).astype(np.float32),
            "label": rng.integers(0, 10, 20).astype(np.int32)}
  tuned, metrics = fit.fit(step_fn, fit.start(state, tx), arrays, key=jax.random.key(1),
                           steps=3, batch_size=8)
  changed = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))),
                         state.params, tuned.params)
  assert changed.pop("head") == {"kernel": True, "bias": True}
  assert not any(jax.tree.leaves(changed))
  # Eval-mode features: the running BN statistics are not touched either.
  assert jax.tree.all(jax.tree.map(lambda a, b: bool(np.all(a == b)), state.model_state,
                                   tuned.model_state))
  assert int(tuned.step) == 3 and np.isfinite(float(metrics["loss"]))


def test_evaluator_runs_and_rejects_a_budget_larger_than_the_data(victim):
  model, variables = victim
  rng = np.random.default_rng(0)
  ds = data_lib.Dataset(rng.uniform(size=(40, 8, 8, 1)).astype(np.float32),
                        np.repeat(np.arange(2), 20).astype(np.int32), 2)
  with pytest.raises(ValueError, match="larger than the data"):
    poisoning_eval.Evaluator(model.apply, train_ds=ds, test_ds=ds, poisons_per_target=20)
  small = models.create("cnn_tiny", num_classes=2)
  tx = fit.make_optimizer(0.01, 2)
  state = state_lib.init_fn(small, tx, (1, 8, 8, 1))(jax.random.key(0))
  ev = poisoning_eval.Evaluator(small.apply, train_ds=ds, test_ds=ds, num_targets=2,
                                poisons_per_target=3, craft_steps=3, craft_lr=0.1, steps=2,
                                batch_size=16, defence="knn", knn_k=3)
  preds = ev._predictions(state, ds.images)
  # Targets are drawn from correctly classified examples; with 2 balanced classes even a
  # constant prediction gets 20 of 40 right.
  assert (preds == ds.labels).sum() >= 2
  out = dict(ev.run(state))
  assert set(out) == {"success_rate", "clean_accuracy", "feature_distance_ratio",
                      "poisons_removed", "clean_removed"}
  assert all(0.0 <= v <= 1.0 for v in out.values())

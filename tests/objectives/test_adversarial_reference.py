"""Adversarial objectives against hand computations on tiny linear models.

The objectives run eagerly, so a recording `apply_fn` sees the concrete batches the update
trains on (the attack's own passes are traced and skipped); each test then recomputes the loss
or the perturbation by hand and names the broken implementation it catches.
"""
import jax
import jax.numpy as jnp
import numpy as np

from rvjax import objectives


def _recording(logits):
  """An `apply_fn` computing `logits(params, x)` that records every concrete input batch."""
  seen = []

  def apply(variables, x, *, train, mutable, rngs):
    if not isinstance(x, jax.core.Tracer):
      seen.append(np.asarray(x))
    return logits(variables["params"], x), {}

  return apply, seen


def _linear(params, x):
  return x.reshape(x.shape[0], -1) @ params["w"]


def _batch(x, y):
  return {"image": jnp.asarray(x, jnp.float32), "label": jnp.asarray(y, jnp.int32),
          "mask": jnp.ones(len(y), jnp.float32)}


def _softmax(z):
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def test_trades_loss_by_hand():
  """Catches: the KL direction swapped (KL(q || p) instead of KL(p || q), p the clean
  prediction), and the loss weighting: L = mean CE(p) + beta * mean KL(p || q)."""
  rng = np.random.default_rng(0)
  w = rng.normal(size=(16, 3)).astype(np.float32) * 2
  apply, seen = _recording(_linear)
  x = rng.uniform(0.2, 0.8, size=(4, 4, 4, 1))
  y = np.array([0, 1, 2, 1])
  objective = objectives.create("trades", apply, eps=0.2, step_size=0.1, steps=3, beta=6.0)
  loss, (_, metrics) = objective({"w": jnp.asarray(w)}, {}, _batch(x, y), jax.random.key(0))
  x_clean, x_adv = seen[-2], seen[-1]
  np.testing.assert_allclose(x_clean, x, atol=1e-6)
  assert np.abs(x_adv - x).max() > 0.1  # the attack moved
  p = _softmax(x_clean.reshape(4, -1) @ w)
  q = _softmax(x_adv.reshape(4, -1) @ w)
  kl = np.mean(np.sum(p * np.log(p / q), -1))
  assert abs(kl - np.mean(np.sum(q * np.log(q / p), -1))) > 0.02  # the directions differ
  ce = np.mean(-np.log(p[np.arange(4), y]))
  np.testing.assert_allclose(float(metrics["kl"]), kl, rtol=1e-4)
  np.testing.assert_allclose(float(loss), ce + 6.0 * kl, rtol=1e-4)


def test_fast_at_default_step_is_one_and_a_quarter_eps():
  """Catches: Fast-AT's default step eps instead of 1.25 eps. Two classes: the CE gradient sign
  s = sign(w_1 - w_0) at label 0 is constant, so x_adv - x = clip(u + alpha s, -eps, eps),
  u ~ U[-eps, eps]; with alpha = 1.25 eps every pixel moves >= 0.25 eps along s."""
  rng = np.random.default_rng(1)
  w = rng.normal(size=(64, 2)).astype(np.float32)
  apply, seen = _recording(_linear)
  x = rng.uniform(0.3, 0.7, size=(8, 8, 8, 1))
  eps = 0.1
  objective = objectives.create("fast_at", apply, eps=eps)
  loss, (_, metrics) = objective({"w": jnp.asarray(w)}, {}, _batch(x, np.zeros(8)),
                                 jax.random.key(0))
  d = (seen[-1] - x).reshape(8, -1)
  assert np.min(d * np.sign(w[:, 1] - w[:, 0])) >= 0.25 * eps - 1e-5
  assert np.abs(d).max() <= eps + 1e-5
  z = seen[-1].reshape(8, -1) @ w  # the loss is the CE at the perturbed batch
  np.testing.assert_allclose(float(loss), np.mean(np.log(_softmax(z)[:, 0]) * -1), rtol=1e-4)


def test_pgd_at_trains_on_the_last_iterate_by_default():
  """Catches: PGD-AT training on the best iterate by default (Madry et al. use the last).
  One-pixel two-class model g = -100 (x - 0.75)^2 around x = 0.5, eps 0.3, step 1: PGD bounces
  between 0.2 and 0.8; the last of 2 steps is 0.2 wherever the start is below 0.75 (11 in 12),
  while the best iterate is never 0.2."""
  g = lambda v: -100.0 * (v - 0.75) ** 2
  logits = lambda params, x: jnp.stack([jnp.zeros(x.shape[0]), g(x.reshape(-1))], -1)
  x, y = np.full((16, 1, 1, 1), 0.5), np.zeros(16)
  kw = dict(eps=0.3, step_size=1.0, steps=2)
  for select, want_low in (("last", True), ("best", False)):
    apply, seen = _recording(logits)
    kwargs = kw if select == "last" else dict(kw, select="best")
    objectives.create("pgd_at", apply, **kwargs)({}, {}, _batch(x, y), jax.random.key(0))
    low = np.isclose(seen[-1].ravel(), 0.2, atol=1e-5)
    assert low.any() == want_low, select

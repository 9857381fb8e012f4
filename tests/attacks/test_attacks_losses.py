"""Losses against numpy formulas, and the per-example best selection."""
import jax.numpy as jnp
import numpy as np
import pytest

from rvjax import attacks
from rvjax.attacks import losses


def _logits(n=12, k=6, seed=0):
  rng = np.random.default_rng(seed)
  z = rng.normal(size=(n, k)).astype(np.float32) * 3
  y = rng.integers(0, k, n).astype(np.int32)
  t = ((y + rng.integers(1, k, n)) % k).astype(np.int32)
  return z, y, t


def _log_softmax(z):
  z = z.astype(np.float64)
  z = z - z.max(1, keepdims=True)
  return z - np.log(np.exp(z).sum(1, keepdims=True))


def test_ce_margin_kl_match_numpy():
  z, y, _ = _logits()
  r = np.arange(len(y))
  np.testing.assert_allclose(attacks.ce(z, y), -_log_softmax(z)[r, y], rtol=1e-5, atol=1e-6)
  other = np.where(np.eye(z.shape[1], dtype=bool)[y], -np.inf, z).max(1)
  np.testing.assert_allclose(attacks.margin(z, y), other - z[r, y], rtol=1e-6)
  z2 = z[::-1].copy()
  lp, lq = _log_softmax(z2), _log_softmax(z)
  want = (np.exp(lp) * (lp - lq)).sum(1)
  np.testing.assert_allclose(attacks.kl(z, z2), want, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(attacks.kl(z, z), 0.0, atol=1e-6)


def test_dlr_matches_numpy_formula():
  z, y, t = _logits()
  r = np.arange(len(y))
  s = np.sort(z, axis=1)  # ascending: s[:, -1] = z_pi1
  max_other = np.where(np.eye(z.shape[1], dtype=bool)[y], -np.inf, z).max(1)
  want = -(z[r, y] - max_other) / (s[:, -1] - s[:, -3] + 1e-12)
  np.testing.assert_allclose(attacks.dlr(z, y), want, rtol=1e-5)
  want_t = -(z[r, y] - z[r, t]) / (s[:, -1] - 0.5 * (s[:, -3] + s[:, -4]) + 1e-12)
  np.testing.assert_allclose(attacks.dlr_targeted(z, y, t), want_t, rtol=1e-5)
  # DLR is invariant to shifting and positively scaling the logits.
  np.testing.assert_allclose(attacks.dlr(3 * z + 7, y), want, rtol=1e-4, atol=1e-6)


def test_objective_signs():
  z, y, t = _logits()
  np.testing.assert_allclose(losses.objective("ce", True)(z, y, t), -attacks.ce(z, t))
  np.testing.assert_allclose(losses.objective("margin", True)(z, y, t), -attacks.margin(z, t))
  np.testing.assert_allclose(losses.objective("dlr", True)(z, y, t), attacks.dlr_targeted(z, y, t))
  np.testing.assert_allclose(losses.objective("dlr", False)(z, y, t), attacks.dlr(z, y))


def test_best_selection_prefers_success_then_value():
  values = jnp.array([[5.0, 1.0, 2.0], [1.0, 3.0, 2.0]])
  succ = jnp.array([[False, False, True], [True, False, True]])
  np.testing.assert_array_equal(losses.best_index(values, succ), [1, 1, 0])
  x = jnp.zeros((3, 2))
  best = (x, jnp.array([1.0, 1.0, 1.0]), jnp.array([False, True, False]))
  cand = (x + 1, jnp.array([0.0, 5.0, 1.0]), jnp.array([True, False, False]))
  bx, bv, bs = losses.keep_best(best, cand)
  np.testing.assert_array_equal(bx[:, 0], [1.0, 0.0, 0.0])  # tie (example 2) keeps the old one
  np.testing.assert_array_equal(bv, [0.0, 1.0, 1.0])
  np.testing.assert_array_equal(bs, [True, True, False])


@pytest.mark.parametrize("targeted,k", [(False, 2), (True, 3)])
def test_dlr_needs_enough_classes(targeted, k):
  with pytest.raises(ValueError, match="loss"):
    losses.check_loss("dlr", targeted, k)
  losses.check_loss("dlr", targeted, k + 1)

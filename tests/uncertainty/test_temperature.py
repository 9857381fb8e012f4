"""Temperature scaling: recovers the over-confidence factor, lowers ECE and NLL; input checks."""
import warnings

import jax
import numpy as np
import pytest

from rvjax import metrics
from rvjax.uncertainty import apply_temperature, fit_temperature


def _calibrated(n=4000, k=10, seed=0):
  """Logits whose softmax is calibrated by construction: labels drawn from softmax(logits)."""
  rng = np.random.default_rng(seed)
  z = (rng.normal(size=(n, k)) * 1.5).astype(np.float32)
  p = np.exp(z - z.max(1, keepdims=True))
  p /= p.sum(1, keepdims=True)
  y = (rng.random((n, 1)) > np.cumsum(p, 1)).sum(1).clip(0, k - 1).astype(np.int32)
  return z, y


def _nll_np(z, y, t):
  z = z.astype(np.float64) / t
  z = z - z.max(1, keepdims=True)
  return np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y])


def test_overconfident_logits_get_temperature_near_5():
  z, y = _calibrated()
  t = fit_temperature(5 * z, y)
  assert 4.0 < t < 6.0, t
  probs = lambda logits: np.asarray(jax.nn.softmax(logits, -1))
  before, after = probs(5 * z), probs(apply_temperature(5 * z, t))
  assert metrics.ece(after, y) < 0.5 * metrics.ece(before, y)
  assert metrics.nll(after, y) < metrics.nll(before, y)
  # T is the minimizer: a numpy NLL is not lower on either side.
  assert _nll_np(5 * z, y, t) <= min(_nll_np(5 * z, y, t * 1.01), _nll_np(5 * z, y, t / 1.01))


def test_calibrated_logits_get_temperature_near_1_and_deterministic():
  z, y = _calibrated(seed=1)
  t = fit_temperature(z, y)
  assert 0.9 < t < 1.1, t
  assert fit_temperature(z, y) == t


def test_matches_grid_search():
  z, y = _calibrated(n=1000, k=5, seed=2)
  grid = np.exp(np.linspace(np.log(0.2), np.log(5), 2001))
  best = grid[np.argmin([_nll_np(3 * z, y, g) for g in grid])]
  np.testing.assert_allclose(fit_temperature(3 * z, y), best, rtol=3e-3)


def test_bounds_and_constant_logits_warn():
  z = np.array([[5.0, 0.0], [0.0, 5.0]], np.float32)  # all correct: NLL falls as T -> 0
  with pytest.warns(RuntimeWarning, match="at or beyond the bound"):
    t = fit_temperature(z, np.array([0, 1]), bounds=(0.1, 10.0))
  assert t == pytest.approx(0.1, rel=1e-4)
  with pytest.warns(RuntimeWarning, match="every row of logits is constant"):
    assert fit_temperature(np.zeros((3, 4), np.float32), np.array([0, 1, 2])) == 1.0


def test_one_constant_row_does_not_stop_the_fit():
  """A constant row has a uniform softmax at every T: it must not turn the fit into T = 1."""
  z, y = _calibrated(n=2000, seed=3)
  z = 5 * z
  z[7] = 0.25  # One constant row among 2000 overconfident ones.
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # A trustworthy fit warns about nothing.
    t = fit_temperature(z, y)
  assert 4.0 < t < 6.0, t
  # The constant row adds the same NLL at every T, so the minimizer equals the one without it.
  keep = np.arange(len(y)) != 7
  np.testing.assert_allclose(t, fit_temperature(z[keep], y[keep]), rtol=1e-4)


def test_apply_temperature():
  z = np.array([[2.0, -4.0]], np.float32)
  np.testing.assert_allclose(apply_temperature(z, 2.0), [[1.0, -2.0]])
  np.testing.assert_allclose(jax.jit(apply_temperature)(z, 2.0), [[1.0, -2.0]])
  with pytest.raises(ValueError, match="temperature must be finite and > 0"):
    apply_temperature(z, 0.0)
  with pytest.raises(ValueError, match="temperature must be a scalar"):
    apply_temperature(z, np.ones(2))


def test_fit_temperature_bad_inputs():
  z, y = _calibrated(n=20, k=3)
  with pytest.raises(ValueError, match="shape \\(N, K\\)"):
    fit_temperature(z[0], y)
  with pytest.raises(ValueError, match="lengths must match"):
    fit_temperature(z, y[:-1])
  with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
    fit_temperature(z, y + 3)
  with pytest.raises(ValueError, match="NaN or inf"):
    fit_temperature(np.where(np.arange(3) == 0, np.nan, z).astype(np.float32), y)
  with pytest.raises(ValueError, match="max_iter"):
    fit_temperature(z, y, max_iter=0)
  with pytest.raises(ValueError, match="bounds"):
    fit_temperature(z, y, bounds=(2.0, 1.0))

"""Hyperspherical energy against its direct pairwise formula and closed forms."""
import numpy as np
import pytest

from rvjax import metrics


def _direct(x, s):
  x = x / np.linalg.norm(x, axis=1, keepdims=True)
  vals = [np.linalg.norm(x[i] - x[j]) for i in range(len(x)) for j in range(len(x)) if i != j]
  vals = np.array(vals)
  return np.mean(-np.log(vals)) if s == 0 else np.mean(vals ** (-s))


@pytest.mark.parametrize("s", [0, 1, 2])
def test_energy_matches_the_pairwise_formula(s):
  x = np.random.default_rng(s).normal(size=(12, 5)) * np.arange(1, 13)[:, None]  # any norms
  np.testing.assert_allclose(metrics.hyperspherical_energy(x, s), _direct(x, s), rtol=1e-4)


def test_energy_closed_forms_and_order():
  antipodal = np.array([[3.0, 0.0], [-1.0, 0.0]])  # unit vectors at distance 2
  np.testing.assert_allclose(metrics.hyperspherical_energy(antipodal, 0), -np.log(2), rtol=1e-5)
  np.testing.assert_allclose(metrics.hyperspherical_energy(antipodal, 1), 0.5, rtol=1e-5)
  np.testing.assert_allclose(metrics.hyperspherical_energy(antipodal, 2), 0.25, rtol=1e-5)
  rng = np.random.default_rng(0)
  spread = rng.normal(size=(64, 8))
  clustered = np.ones((64, 8)) + 0.1 * rng.normal(size=(64, 8))
  for s in (0, 1, 2):  # uniform features have lower energy than a tight cluster
    assert metrics.hyperspherical_energy(spread, s) < metrics.hyperspherical_energy(clustered, s)


def test_energy_bad_input():
  with pytest.raises(ValueError, match="N >= 2"):
    metrics.hyperspherical_energy(np.ones((1, 4)))
  with pytest.raises(ValueError, match="s"):
    metrics.hyperspherical_energy(np.ones((3, 4)), -1)

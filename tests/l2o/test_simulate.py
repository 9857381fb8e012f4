"""Learning to simulate: psi -> knob ranges, the Gaussian REINFORCE gradient, the unrolled
gradient through the inner training against finite differences, psi files."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from rvjax import data
from rvjax.data import knobs as knobs_lib
from rvjax.l2o import reinforce, simulate


def test_knob_ranges_by_hand_and_valid_for_the_renderer(tmp_path):
  u = jnp.zeros(len(simulate.LEARNED))  # every fraction 0.5
  r = simulate.knob_ranges(u)
  np.testing.assert_allclose(r["rotation"], [-22.5, 22.5])
  np.testing.assert_allclose(r["scale"], [0.75, 1.25])
  np.testing.assert_allclose(r["blur"], [0.0, 1.0])
  np.testing.assert_allclose(r["noise"], [0.0, 0.15])
  big = simulate.as_overrides(jnp.full(len(simulate.LEARNED), 30.0))  # saturates at the span
  knobs_lib.make("none", **big)  # inside every knob's domain: no ValueError
  assert big["rotation"] == [-45.0, 45.0]
  path = str(tmp_path / "psi.json")
  saved = simulate.save_psi(path, u)
  assert json.load(open(path)) == saved
  with pytest.raises(FileExistsError):
    simulate.save_psi(path, u)
  ds = data.load("syndigits", "val", preset="none", knobs=saved, num=20)
  assert ds.images.shape == (20, 8, 8, 1)


def test_gaussian_reinforce_gradient_matches_the_analytic_one():
  mu, sigma, c = jnp.array([0.3, -0.5]), 0.4, jnp.array([1.0, 0.0])
  np.testing.assert_allclose(simulate.gaussian_log_prob(jnp.array([0.1, 0.2]), mu, sigma),
                             stats.norm.logpdf([0.1, 0.2], mu, sigma).sum(), rtol=1e-5)
  u = mu + sigma * jax.random.normal(jax.random.key(0), (200_000, 2))
  reward = -jnp.sum((u - c) ** 2, -1)  # E[R] = -|mu - c|^2 - 2 sigma^2
  grad = jax.grad(lambda m: reinforce.surrogate_loss(
      simulate.gaussian_log_prob(u, m, sigma)[:, None], reward[:, None], jnp.full(1, -1.5),
      jnp.zeros((len(u), 1)), entropy_bonus=0.0))(mu)
  np.testing.assert_allclose(grad, 2 * (mu - c), atol=0.03)  # the gradient of -E[R]


def test_unrolled_gradient_matches_finite_differences(fast_compile):
  val = data.load("digits", "train")
  run = simulate.InnerTraining(val.images[:16], val.labels[:16], steps=2, batch_size=4,
                               widths=(4, 4, 4), lr=0.5)
  key = jax.random.key(0)
  # One compiled program: its values at u +- eps * direction give the finite difference.
  ce_and_grad = jax.jit(jax.value_and_grad(lambda u: run.val_scores(u, key)[1]))
  u = jnp.array([0.5, -0.2, 0.1, 0.3, -0.4, 0.0])
  g = ce_and_grad(u)[1]
  direction = jnp.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])  # rotation and blur
  eps = 3e-3
  numeric = (ce_and_grad(u + eps * direction)[0] - ce_and_grad(u - eps * direction)[0]) / (2 * eps)
  assert abs(float(g @ direction)) > 1e-4
  np.testing.assert_allclose(g @ direction, numeric, rtol=0.05, atol=1e-4)

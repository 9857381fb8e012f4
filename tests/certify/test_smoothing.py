"""Randomized smoothing: radius formula, abstention, Clopper-Pearson bound, the evaluator."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from scipy import stats

from rvjax import evaluators
from rvjax.certify import smoothing

ALPHA = 0.001


def constant(k):
  """A base classifier voting class k on every input (K = 4)."""
  return lambda images: jnp.broadcast_to(jax.nn.one_hot(k, 4), (images.shape[0], 4))


def threshold(images):
  """Class 1 iff the first pixel exceeds 0.5: P(class 1 at x) = Phi((x_0 - 0.5) / sigma)."""
  z = images[:, 0, 0, 0] - 0.5
  return jnp.stack([-z, z], -1)


def test_unanimous_votes_give_the_closed_form_radius():
  """n_A = n: the Clopper-Pearson bound is alpha^(1/n), so r = sigma Phi^-1(alpha^(1/n))."""
  x = jnp.full((3, 2, 2, 1), 0.5)
  pred, radius = smoothing.smooth_certify(constant(2), x, jax.random.key(0), 0.5, 10, 500,
                                          ALPHA, batch_size=300)
  assert pred.tolist() == [2, 2, 2]
  np.testing.assert_allclose(radius, 0.5 * stats.norm.ppf(ALPHA ** (1 / 500)), rtol=1e-6)


def test_clopper_pearson_matches_the_beta_quantile():
  """Catches a two-sided bound (alpha / 2) or swapped beta parameters."""
  n_a = np.array([0, 3, 70, 100])
  expected = [0.0] + [stats.beta.ppf(0.01, k, 100 - k + 1) for k in n_a[1:]]
  np.testing.assert_allclose(smoothing.pa_lower_bound(n_a, 100, 0.01), expected)
  # Coverage by its definition: P(Binomial(100, p) >= n_a) = alpha at p = the bound.
  p = smoothing.pa_lower_bound(np.array([70]), 100, 0.01)[0]
  assert stats.binom.sf(69, 100, p) == pytest.approx(0.01, rel=1e-6)


def test_linear_classifier_radius_is_sound_and_close():
  """True radius of the smoothed threshold classifier = |x_0 - 0.5| (the distance to the
  boundary); the certificate lies below it and, with n = 20,000, close to it. On the boundary
  p_A = 1/2 and CERTIFY abstains."""
  sigma = 0.25
  x = jnp.full((3, 1, 1, 1), 0.5).at[0, 0, 0, 0].set(0.7).at[1, 0, 0, 0].set(0.2)
  pred, radius = smoothing.smooth_certify(threshold, x, jax.random.key(1), sigma, 100, 20_000,
                                          ALPHA, batch_size=30_000)
  assert pred.tolist() == [1, 0, smoothing.ABSTAIN]
  assert radius[2] == 0.0
  true = np.array([0.2, 0.3])
  assert np.all(radius[:2] <= true) and np.all(radius[:2] >= true - 0.03)


@pytest.mark.parametrize("kwargs, match", [
    (dict(sigma=0.0), "sigma must be > 0"),
    (dict(sigma=-1.0), "sigma must be > 0"),
    (dict(n0=200, n=100), "n0 .* must be <= n"),
    (dict(n0=0), "n0 must be an integer >= 1"),
    (dict(alpha=1.0), "alpha must lie in"),
])
def test_bad_arguments(kwargs, match):
  args = {**dict(sigma=0.25, n0=10, n=100, alpha=ALPHA), **kwargs}
  with pytest.raises(ValueError, match=match):
    smoothing.smooth_certify(constant(0), jnp.zeros((1, 2, 2, 1)), jax.random.key(0), **args)


def test_evaluator_counts_correct_certified_examples():
  """A constant classifier: certified accuracy is the share of that label up to its radius
  sigma Phi^-1(alpha^(1/n)) (0.456 here) and 0 beyond."""
  data = ml_collections.ConfigDict({"name": "digits", "data_dir": "", "kwargs": {}})
  ev = evaluators.create("smoothing", lambda state, images: constant(state)(images), data=data,
                         mesh=None, sigma=0.25, n0=5, n=200, radii=(0.0, 0.4, 1.0),
                         num_examples=40, batch_size=20, sample_batch=400)
  out = dict(ev.run(3))
  share = float(np.mean(ev.labels == 3))
  assert share > 0
  assert out["certified_accuracy/r=0"] == out["certified_accuracy/r=0.4"] == pytest.approx(share)
  assert out["certified_accuracy/r=1"] == 0.0 and out["abstain_rate"] == 0.0
  assert out["mean_radius"] == pytest.approx(0.25 * stats.norm.ppf(ALPHA ** (1 / 200)))

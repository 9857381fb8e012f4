"""Randomized smoothing (Cohen et al. 2019): certified L2 radii of a Gaussian-smoothed classifier.

The smoothed classifier g(x) = argmax_c P(f(x + d) = c), d ~ N(0, sigma^2 I), is robust at x
within the L2 radius sigma * Phi^-1(p_A) whenever the top class has probability p_A > 1/2.
CERTIFY estimates it by Monte Carlo: n0 samples pick the candidate class c_A, n fresh samples
count n_A votes for it, and the one-sided Clopper-Pearson bound p_A >= Beta(alpha; n_A, n - n_A + 1)
holds with probability >= 1 - alpha. If that bound is <= 1/2 the classifier abstains (-1).
Models take images in [0, 1], so the base classifier is f(clip(x + d, 0, 1)); clipping is part of
f, so the certificate is unchanged.
The samples run on device in fixed-size batches (one compilation); the bound runs on the host.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from rvjax import validate

ABSTAIN = -1


def check_args(sigma, n0: int, n: int, alpha: float) -> None:
  """Raises ValueError unless sigma > 0, 1 <= n0 <= n and 0 < alpha < 1."""
  if not sigma > 0:
    raise ValueError(f"sigma must be > 0, got {sigma}.")
  for name, value in (("n0", n0), ("n", n)):
    if isinstance(value, bool) or int(value) != value or value < 1:
      raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
  if n0 > n:
    raise ValueError(f"n0 (selection samples) must be <= n (estimation samples), got n0={n0} > "
                     f"n={n}.")
  if not 0.0 < alpha < 1.0:
    raise ValueError(f"alpha must lie in (0, 1), got {alpha}.")


@functools.partial(jax.jit, static_argnames=("logits_fn", "num", "chunk"))
def class_counts(logits_fn, x: jax.Array, key: jax.Array, sigma, *, num: int,
                 chunk: int) -> jax.Array:
  """Votes (N, K) int32 of f over `num` noisy copies clip(x + sigma N(0, I), 0, 1) per image.

  Args:
    logits_fn: images (M, H, W, C) -> logits (M, K); static (one compilation per function).
    x: (N, H, W, C) images in [0, 1].
    key: PRNG key.
    sigma: noise standard deviation > 0.
    num: samples per image.
    chunk: samples per image per forward pass (the pass sees chunk * N images).
  """
  n_chunks = -(-num // chunk)
  k = jax.eval_shape(logits_fn, x).shape[-1]

  def votes(i):
    noise = sigma * jax.random.normal(jax.random.fold_in(key, i), (chunk,) + x.shape, x.dtype)
    noisy = jnp.clip(x[None] + noise, 0.0, 1.0)
    logits = logits_fn(noisy.reshape((-1,) + x.shape[1:]))
    pred = jnp.argmax(logits, -1).reshape(chunk, x.shape[0])
    valid = (i * chunk + jnp.arange(chunk)) < num
    return jnp.sum(jax.nn.one_hot(pred, k, dtype=jnp.int32) * valid[:, None, None], 0)

  return jnp.sum(jax.lax.map(votes, jnp.arange(n_chunks)), 0)


def pa_lower_bound(n_a, n: int, alpha: float) -> np.ndarray:
  """One-sided (1 - alpha) Clopper-Pearson lower bound on p from n_a successes of n (array)."""
  n_a = np.asarray(n_a)
  bound = stats.beta.ppf(alpha, np.maximum(n_a, 1), n - n_a + 1)
  return np.where(n_a > 0, bound, 0.0)


def smooth_certify(logits_fn, x: jax.Array, key: jax.Array, sigma: float, n0: int, n: int,
                   alpha: float, *, batch_size: int = 4096):
  """Cohen et al.'s CERTIFY for a batch of images; not jit-able itself (host-side bound).

  Args:
    logits_fn: the base classifier, images (M, H, W, C) -> logits (M, K). Reuse one function
      object across calls: it is a static argument of the compiled sampler.
    x: (N, H, W, C) images in [0, 1].
    key: PRNG key (selection and estimation samples use independent halves).
    sigma: noise level > 0 (pixel units).
    n0: selection samples per image >= 1; n: estimation samples per image >= n0.
    alpha: failure probability in (0, 1).
    batch_size: images per forward pass (noisy copies of all N images together).

  Returns:
    (prediction (N,) int, -1 for abstain; radius (N,) float >= 0, 0 where abstaining), numpy.
  """
  check_args(sigma, n0, n, alpha)
  validate.check_images(x, name="x")
  chunk = max(1, batch_size // x.shape[0])
  k_select, k_estimate = jax.random.split(key)
  select = class_counts(logits_fn, x, k_select, sigma, num=n0, chunk=min(chunk, n0))
  c_a = np.asarray(jnp.argmax(select, -1))
  counts = np.asarray(class_counts(logits_fn, x, k_estimate, sigma, num=n, chunk=min(chunk, n)))
  p_lower = pa_lower_bound(counts[np.arange(len(c_a)), c_a], n, alpha)
  certified = p_lower > 0.5
  radius = np.where(certified, sigma * stats.norm.ppf(np.where(certified, p_lower, 0.75)), 0.0)
  return np.where(certified, c_a, ABSTAIN), radius

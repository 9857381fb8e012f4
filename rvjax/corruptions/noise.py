"""Noise corruptions: gaussian, shot (Poisson), impulse (salt and pepper) and speckle noise.

Each function corrupts ONE image `x` of shape (H, W, C) in [0, 1] with its own `key`, given the
table entry `c` for the severity; `scale` (the size ratio to the table's reference) is unused,
since noise acts per pixel. Every element (pixel and channel) gets an independent draw, as in the
published numpy recipes, so grayscale and colour images are handled alike. Poisson counts come
from `poisson`, an exact fixed-work inverse-CDF sampler (jax.random.poisson's rejection loops
are several times slower on CPU).
"""
import math

import jax
import jax.numpy as jnp
from jax import lax


def gaussian_noise(key: jax.Array, x: jax.Array, c: float, scale: float) -> jax.Array:
  """x + N(0, c^2), clipped to [0, 1]; `c` is the standard deviation in [0, 1] units."""
  del scale
  return jnp.clip(x + c * jax.random.normal(key, x.shape, x.dtype), 0.0, 1.0)


def poisson(key: jax.Array, lam: jax.Array, lam_max: float) -> jax.Array:
  """Poisson(lam) counts (float) for rates 0 <= lam <= `lam_max` (static), by inverse CDF.

  One uniform u per element; starting at k0 = max(0, floor(lam - 7 sqrt(lam))) with
  P(X < k0) from the regularized incomplete gamma function, the pmf is summed over a fixed
  number of steps (14 sqrt(lam_max) + 24) and the count is the first k with CDF(k) >= u. The
  mass left outside [k0, k0 + steps] is below 1e-11. Fixed work per element, unlike
  jax.random.poisson's rejection loops, which are slow on CPU.
  """
  u = jax.random.uniform(key, lam.shape, lam.dtype)
  k0 = jnp.maximum(jnp.floor(lam - 7.0 * jnp.sqrt(lam)), 0.0)
  below = jnp.where(k0 > 0, jax.scipy.special.gammaincc(jnp.maximum(k0, 1.0), lam), 0.0)
  pmf = jnp.exp(jax.scipy.special.xlogy(k0, lam) - lam - jax.scipy.special.gammaln(k0 + 1.0))
  top = lam + 7.0 * jnp.sqrt(lam) + 10.0  # never count past the upper tail (rounding guard)
  steps = int(math.ceil(14.0 * math.sqrt(lam_max) + 24.0))

  def step(i, state):
    count, cdf, p = state
    k = k0 + i
    cdf = cdf + p
    count = count + ((cdf < u) & (k < top)).astype(lam.dtype)
    return count, cdf, p * lam / (k + 1.0)

  count, _, _ = lax.fori_loop(0, steps, step, (k0, below, pmf))
  return count


def shot_noise(key: jax.Array, x: jax.Array, c: float, scale: float) -> jax.Array:
  """Poisson(x * c) / c, clipped to [0, 1]; `c` is the photon count of a white pixel."""
  del scale
  return jnp.clip(poisson(key, x * c, float(c)) / c, 0.0, 1.0)


def impulse_noise(key: jax.Array, x: jax.Array, c: float, scale: float) -> jax.Array:
  """Salt and pepper: a fraction `c` of the elements set to 0 or 1 with equal odds.

  Matches skimage.util.random_noise(mode="s&p", amount=c): each element flips with
  probability c, independently per channel.
  """
  del scale
  u = jax.random.uniform(key, (2,) + x.shape)
  return jnp.where(u[0] < c, (u[1] < 0.5).astype(x.dtype), x)


def speckle_noise(key: jax.Array, x: jax.Array, c: float, scale: float) -> jax.Array:
  """x + x * N(0, c^2), clipped to [0, 1] (multiplicative noise)."""
  del scale
  return jnp.clip(x + x * c * jax.random.normal(key, x.shape, x.dtype), 0.0, 1.0)

"""Noise corruptions: gaussian, shot (Poisson), impulse (salt and pepper) and speckle noise.

Each function corrupts ONE image `x` of shape (H, W, C) in [0, 1] with its own `key`, given the
table entry `c` for the severity; `scale` (the size ratio to the table's reference) is unused,
since noise acts per pixel. Every element (pixel and channel) gets an independent draw, as in the
published numpy recipes, so grayscale and colour images are handled alike.

Sampling is fixed work per element, without loops (jax.random.poisson's rejection loops are slow
on CPU): Poisson counts come from `poisson`, Walker alias tables on the 8-bit grid of rates plus
a short inverse CDF for the remainder; salt and pepper compares one 32-bit word per element with
two thresholds.
"""
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats


def gaussian_noise(key: jax.Array, x: jax.Array, c: float, scale: float) -> jax.Array:
  """x + N(0, c^2), clipped to [0, 1]; `c` is the standard deviation in [0, 1] units."""
  del scale
  return jnp.clip(x + c * jax.random.normal(key, x.shape, x.dtype), 0.0, 1.0)


# The alias tables hold Poisson(rate * j / LEVELS) for j = 0..LEVELS: the 8-bit grid of values.
LEVELS = 255
# Probability mass dropped by truncating a Poisson distribution to a table (then renormalized).
_TAIL = 1e-12


def _alias(pmf):
  """Walker alias table of `pmf` (n,): (prob, alias) lists, Vose's construction in float64."""
  n = len(pmf)
  q = [v * n for v in pmf]
  prob, alias = [1.0] * n, list(range(n))
  small = [i for i, v in enumerate(q) if v < 1.0]
  large = [i for i, v in enumerate(q) if v >= 1.0]
  while small and large:
    s, g = small.pop(), large[-1]
    prob[s], alias[s] = q[s], g
    q[g] -= 1.0 - q[s]
    if q[g] < 1.0:
      small.append(large.pop())
  return prob, alias


@functools.lru_cache(maxsize=16)
def alias_tables(rate: float):
  """Alias tables of Poisson(rate * j / LEVELS), j = 0..LEVELS, as sampling constants.

  Returns (threshold uint32 (LEVELS + 1, n), alias int32 (LEVELS + 1, n), index bits): n, a
  power of two, covers counts 0..n-1, beyond which each distribution has mass < 1e-12 (dropped,
  then renormalized). Draw: the top `index bits` of a uniform 32-bit word give the cell i, the
  low bits v; the count is i if v < threshold[j, i], else alias[j, i].
  """
  bits = max(1, math.ceil(math.log2(stats.poisson.isf(_TAIL, rate) + 2)))
  n = 1 << bits
  pmf = stats.poisson.pmf(np.arange(n)[None, :], rate * np.arange(LEVELS + 1)[:, None] / LEVELS)
  pmf /= pmf.sum(axis=1, keepdims=True)
  rows = [_alias(list(row)) for row in pmf]
  prob = np.array([r[0] for r in rows])
  threshold = np.floor(prob * 2.0 ** (32 - bits)).astype(np.uint32)  # prob 1: always i
  return threshold, np.array([r[1] for r in rows], np.int32), bits


def _small_poisson(u, lam, lam_max):
  """Poisson(lam) for 0 <= lam <= lam_max (static, small) by inverse CDF of uniforms `u`.

  Sums the pmf over the fixed number of counts beyond which Poisson(lam_max) has mass < 1e-12,
  renormalized by that truncated total so that rounding can never yield an impossible count.
  """
  steps = int(stats.poisson.isf(_TAIL, lam_max)) + 1
  p = jnp.exp(-lam)
  cdfs = [p]
  for k in range(1, steps + 1):
    p = p * lam / k
    cdfs.append(cdfs[-1] + p)
  target = u * cdfs[-1]
  return sum((cdf < target).astype(lam.dtype) for cdf in cdfs[:-1])


def poisson(key: jax.Array, x: jax.Array, rate: float) -> jax.Array:
  """Poisson(rate * x) counts (float32, same shape as `x`) for `x` in [0, 1], `rate` static.

  Splits rate * x = rate * j / 255 + d with j the 8-bit level at or below x (float32 values
  within 1e-4 / 255 under a level count as on it, d clamped at 0): the first term is
  drawn from precomputed alias tables (`alias_tables`), the remainder d < rate / 255 (zero on
  8-bit images) by `_small_poisson`; the sum of the two independent counts is Poisson(rate * x)
  exactly, up to the 1e-12 tails dropped and the 22- to 24-bit resolution of the uniforms.
  """
  threshold, alias, bits = alias_tables(float(rate))
  words = jax.random.bits(key, (2,) + x.shape, jnp.uint32)
  t = jnp.clip(x, 0.0, 1.0) * LEVELS
  j = jnp.clip(jnp.floor(t + 1e-4), 0, LEVELS).astype(jnp.int32)
  remainder = rate / LEVELS * jnp.maximum(t - j, 0.0)
  cell = (words[0] >> (32 - bits)).astype(jnp.int32)
  flat = j * (1 << bits) + cell
  v = words[0] & np.uint32((1 << (32 - bits)) - 1)
  count = jnp.where(v < jnp.asarray(threshold.ravel())[flat], cell,
                    jnp.asarray(alias.ravel())[flat])
  u = (words[1] >> 8).astype(jnp.float32) * 2.0 ** -24
  return count.astype(jnp.float32) + _small_poisson(u, remainder, rate / LEVELS)


def shot_noise(key: jax.Array, x: jax.Array, c: float, scale: float) -> jax.Array:
  """Poisson(x * c) / c, clipped to [0, 1]; `c` is the photon count of a white pixel."""
  del scale
  return jnp.clip(poisson(key, x, float(c)) / c, 0.0, 1.0)


def impulse_noise(key: jax.Array, x: jax.Array, c: float, scale: float) -> jax.Array:
  """Salt and pepper: a fraction `c` of the elements set to 0 or 1 with equal odds.

  Matches skimage.util.random_noise(mode="s&p", amount=c): each element flips with
  probability c, independently per channel. One uniform 32-bit word w per element:
  w < c 2^32 flips it, to 1 (salt) in the lower half of that range, else to 0 (pepper).
  """
  del scale
  flip = 2 * round(c * 2.0 ** 31)
  words = jax.random.bits(key, x.shape, jnp.uint32)
  hit = words < np.uint32(min(flip, 2 ** 32 - 1))
  return jnp.where(hit, (words < np.uint32(flip // 2)).astype(x.dtype), x)


def speckle_noise(key: jax.Array, x: jax.Array, c: float, scale: float) -> jax.Array:
  """x + x * N(0, c^2), clipped to [0, 1] (multiplicative noise)."""
  del scale
  return jnp.clip(x + x * c * jax.random.normal(key, x.shape, x.dtype), 0.0, 1.0)

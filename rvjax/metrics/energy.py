"""Hyperspherical energy of a set of features (Liu et al. 2018; used by CSG, Chen et al. 2021).

The features are projected onto the unit sphere; the energy is the mean over ordered pairs
i != j of f_s(||x_i - x_j||), with f_s(z) = z^-s for s > 0 and f_0(z) = log(1 / z). Lower energy
means the features are spread more uniformly over the sphere (more diverse).
"""
import jax.numpy as jnp

from rvjax import validate

EPS = 1e-6  # Distances are floored here, so coincident features give a large, finite energy.


def hyperspherical_energy(features, s: int | float = 1):
  """E_s of (N, D) features (N >= 2), a scalar >= 0 for s > 0 (any sign for s = 0)."""
  features = jnp.asarray(features, jnp.float32)
  if features.ndim != 2 or features.shape[0] < 2:
    raise ValueError(f"features must have shape (N >= 2, D), got {features.shape}.")
  validate.check_positive(s, "s", allow_zero=True)
  x = features / jnp.maximum(jnp.linalg.norm(features, axis=1, keepdims=True), 1e-12)
  d2 = jnp.sum(x * x, 1)[:, None] + jnp.sum(x * x, 1)[None] - 2.0 * x @ x.T
  dist = jnp.sqrt(jnp.maximum(d2, EPS ** 2))
  f = -jnp.log(dist) if s == 0 else dist ** (-float(s))
  n = features.shape[0]
  off = 1.0 - jnp.eye(n)
  return jnp.sum(f * off) / (n * (n - 1))

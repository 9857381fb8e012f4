"""Classical low-light enhancement: adaptive gamma correction (no learning, no reference)."""
from typing import Any

import jax.numpy as jnp

from rvjax.restore import _checks


def gamma_brighten(images: Any, *, target_mean: float = 0.5) -> jnp.ndarray:
  """Per-image gamma x^g with g = log(target_mean) / log(mean(x)), so a uniformly lit image's mean
  maps to `target_mean`; images already brighter than the target are left unchanged (g <= 1).

  Args:
    images: (N, H, W, C) float in [0, 1] (clipped to [1e-4, 1] first).
    target_mean: in (0, 1).

  Returns:
    (N, H, W, C) float32 in [0, 1].
  """
  if not 0.0 < target_mean < 1.0:
    raise ValueError(f"target_mean must be in (0, 1), got {target_mean}.")
  x = jnp.clip(_checks.check_noisy(images), 1e-4, 1.0)
  mean = jnp.clip(jnp.mean(x, axis=(1, 2, 3), keepdims=True), 1e-4, 1.0 - 1e-4)
  g = jnp.minimum(jnp.log(target_mean) / jnp.log(mean), 1.0)
  return x ** g

"""Argument checks shared by the degradation operators: one-line ValueErrors at trace time."""
from typing import Any

import jax.numpy as jnp
import numpy as np

from rvjax import validate


def check_images(images: Any) -> None:
  """(N, H, W, C) floating images; values in [0, 1] checked when concrete."""
  validate.check_images(images)


def check_nonnegative(value: Any, name: str) -> None:
  """Scalar or per-image array >= 0; checked only when concrete (a traced value passes)."""
  if validate.is_concrete(value):
    arr = np.asarray(value)
    if arr.size and (not np.all(np.isfinite(arr)) or arr.min() < 0):
      raise ValueError(f"{name} must be finite and >= 0, got {arr.min() if arr.size == 1 else arr}.")


def per_image(value: Any, n: int, name: str) -> jnp.ndarray:
  """A scalar or (N,) parameter as an (N, 1, 1, 1) float32 array for broadcasting over images."""
  arr = jnp.asarray(value, jnp.float32)
  if arr.ndim == 0:
    return jnp.broadcast_to(arr, (n,)).reshape(n, 1, 1, 1)
  if arr.shape != (n,):
    raise ValueError(f"{name} must be a scalar or have shape ({n},) (one per image), got "
                     f"{arr.shape}.")
  return arr.reshape(n, 1, 1, 1)

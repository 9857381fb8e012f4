"""Input checks of the classical restorers: shapes always, values only when concrete."""
from typing import Any

import jax.numpy as jnp

from rvjax import validate


def check_noisy(images: Any) -> jnp.ndarray:
  """(N, H, W, C) floating images (noisy values outside [0, 1] allowed) as float32."""
  shape = getattr(images, "shape", None)
  if shape is None or len(shape) != 4:
    raise ValueError(f"images must be a rank-4 NHWC batch, got shape {shape}.")
  if not jnp.issubdtype(images.dtype, jnp.floating):
    raise ValueError(f"images must be floating point (float32, [0, 1] scale), got {images.dtype}.")
  return jnp.asarray(images, jnp.float32)


def to_planes(x: jnp.ndarray) -> jnp.ndarray:
  """(N, H, W, C) -> (N * C, H, W): every channel of every image as its own plane."""
  n, h, w, c = x.shape
  return jnp.transpose(x, (0, 3, 1, 2)).reshape(n * c, h, w)


def from_planes(p: jnp.ndarray, n: int, c: int) -> jnp.ndarray:
  """Inverse of `to_planes`."""
  return jnp.transpose(p.reshape(n, c, *p.shape[1:]), (0, 2, 3, 1))


def check_positive(value: Any, name: str, *, allow_zero: bool = False) -> None:
  """A static hyperparameter > 0 (>= 0 if allow_zero)."""
  validate.check_positive(value, name, allow_zero=allow_zero)

"""Argument checks shared by the degradation operators: one-line ValueErrors at trace time."""
from typing import Any

import jax.numpy as jnp
import numpy as np

from rvjax import validate

KERNEL_SUM_TOL = 1e-3


def check_images(images: Any) -> None:
  """(N, H, W, C) floating images; values in [0, 1] checked when concrete."""
  validate.check_images(images)


def check_nonnegative(value: Any, name: str) -> None:
  """Scalar or per-image array >= 0; checked only when concrete (a traced value passes)."""
  if validate.is_concrete(value):
    arr = np.asarray(value)
    if arr.size and (not np.all(np.isfinite(arr)) or arr.min() < 0):
      raise ValueError(f"{name} must be finite and >= 0, got {arr.min() if arr.size == 1 else arr}.")


def check_kernel(kernel: Any, images: Any) -> None:
  """A (k, k') kernel, or an (N, k, k') stack of one per image, with odd sides, no larger than the
  images, each summing to 1 (sum checked when concrete)."""
  shape = getattr(kernel, "shape", None)
  n = images.shape[0]
  if shape is None or len(shape) not in (2, 3) or (len(shape) == 3 and shape[0] != n):
    raise ValueError(f"kernel must be a 2-D (k, k) array or an ({n}, k, k) stack of one per "
                     f"image, got shape {shape}.")
  kh, kw = shape[-2:]
  if kh % 2 == 0 or kw % 2 == 0:
    raise ValueError(f"kernel sides must be odd (the center is a pixel), got shape {tuple(shape)}.")
  h, w = images.shape[1:3]
  if kh > h or kw > w:
    raise ValueError(f"kernel of shape {tuple(shape)} is larger than the {h}x{w} images.")
  if validate.is_concrete(kernel):
    totals = np.sum(np.asarray(kernel, np.float64), axis=(-2, -1)).ravel()
    worst = float(totals[np.argmax(np.abs(totals - 1.0))]) if np.all(np.isfinite(totals)) else np.nan
    if not np.isfinite(worst) or abs(worst - 1.0) > KERNEL_SUM_TOL:
      raise ValueError(f"kernel must be normalized (sum 1), got sum {worst:.6g}; divide it by "
                       "its sum.")


def per_image(value: Any, n: int, name: str) -> jnp.ndarray:
  """A scalar or (N,) parameter as an (N, 1, 1, 1) float32 array for broadcasting over images."""
  arr = jnp.asarray(value, jnp.float32)
  if arr.ndim == 0:
    return jnp.broadcast_to(arr, (n,)).reshape(n, 1, 1, 1)
  if arr.shape != (n,):
    raise ValueError(f"{name} must be a scalar or have shape ({n},) (one per image), got "
                     f"{arr.shape}.")
  return arr.reshape(n, 1, 1, 1)

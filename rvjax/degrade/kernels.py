"""Blur kernels for `rvjax.degrade.blur`: (k, k) float32 arrays with odd k, summing to 1.

  kernels.gaussian(9, 1.6)    isotropic gaussian, sigma in pixels
  kernels.box(5)              uniform average
  kernels.line(3)             horizontal line: the 3x3 M with one row of ones (divided by 3);
                              line(k, angle) rotates it (degrees, bilinear rasterization)
  kernels.motion(key, 15)     a random camera-shake trajectory (smooth random walk)

`line` with a traced angle and `motion` are jit-able (size is static). `check_kernel` is the
rule every kernel consumer (blur, Fourier deconvolution) applies.
"""
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rvjax import validate

KERNEL_SUM_TOL = 1e-3


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


def _check_size(size: int) -> int:
  if int(size) != size or size < 1 or size % 2 == 0:
    raise ValueError(f"kernel size must be a positive odd integer, got {size}.")
  return int(size)


def gaussian(size: int, sigma: float) -> jnp.ndarray:
  """(size, size) gaussian exp(-(i^2 + j^2) / (2 sigma^2)), normalized to sum 1; sigma > 0."""
  size = _check_size(size)
  if not sigma > 0:
    raise ValueError(f"gaussian kernel sigma must be > 0, got {sigma}.")
  r = np.arange(size) - size // 2
  g = np.exp(-0.5 * (r / sigma) ** 2)
  k = np.outer(g, g)
  return jnp.asarray(k / k.sum(), jnp.float32)


def box(size: int) -> jnp.ndarray:
  """(size, size) uniform kernel 1 / size^2."""
  size = _check_size(size)
  return jnp.full((size, size), 1.0 / size ** 2, jnp.float32)


def _splat(points: jnp.ndarray, size: int) -> jnp.ndarray:
  """Bilinear rasterization of (P, 2) (row, col) offsets from the center into a normalized kernel."""
  pos = jnp.clip(points + size // 2, 0.0, size - 1.0)
  r0 = jnp.clip(jnp.floor(pos[:, 0]), 0, size - 2).astype(jnp.int32) if size > 1 else \
      jnp.zeros(points.shape[0], jnp.int32)
  c0 = jnp.clip(jnp.floor(pos[:, 1]), 0, size - 2).astype(jnp.int32) if size > 1 else \
      jnp.zeros(points.shape[0], jnp.int32)
  fr, fc = pos[:, 0] - r0, pos[:, 1] - c0
  k = jnp.zeros((size + 1, size + 1), jnp.float32)
  k = k.at[r0, c0].add((1 - fr) * (1 - fc)).at[r0 + 1, c0].add(fr * (1 - fc))
  k = k.at[r0, c0 + 1].add((1 - fr) * fc).at[r0 + 1, c0 + 1].add(fr * fc)
  k = k[:size, :size]
  return k / jnp.sum(k)


def line(size: int, angle: float = 0.0) -> jnp.ndarray:
  """(size, size) linear motion blur through the center at `angle` degrees (0: one row of ones).

  At angle 0 this is exactly the middle row set to 1 / size (the seed's 3x3 M for size 3); other
  angles rasterize the `size` unit-spaced samples of the segment bilinearly. `angle` may be traced.
  """
  size = _check_size(size)
  t = jnp.arange(size, dtype=jnp.float32) - size // 2
  a = jnp.deg2rad(jnp.asarray(angle, jnp.float32))
  return _splat(jnp.stack([-t * jnp.sin(a), t * jnp.cos(a)], -1), size)


def motion(key: jax.Array, size: int, *, steps: int = 64, smoothness: float = 0.3) -> jnp.ndarray:
  """(size, size) random camera-shake kernel: a smooth random walk rasterized and normalized.

  The walk starts in a random direction whose heading drifts by N(0, smoothness^2) radians per
  step; the trajectory is centered and scaled so that its extent fits the kernel.

  Args:
    key: PRNG key.
    size: odd kernel side in pixels.
    steps: samples along the trajectory.
    smoothness: std of the heading change per step (0 gives a straight line).
  """
  size = _check_size(size)
  k_theta, k_turn = jax.random.split(key)
  theta = jax.random.uniform(k_theta, (), minval=0.0, maxval=2 * jnp.pi)
  heading = theta + jnp.cumsum(smoothness * jax.random.normal(k_turn, (steps,)))
  path = jnp.cumsum(jnp.stack([jnp.sin(heading), jnp.cos(heading)], -1), 0)
  path = path - 0.5 * (path.max(0) + path.min(0))
  extent = jnp.maximum(jnp.max(jnp.abs(path)), 1e-6)
  return _splat(path * ((size - 1) / 2) / extent, size)

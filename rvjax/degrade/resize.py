"""Bicubic resizing as MATLAB's imresize (the super-resolution literature's D operator).

MATLAB's imresize(x, s, 'bicubic') uses Keys' cubic (a = -0.5); when shrinking (s < 1) it
anti-aliases by stretching the kernel by 1 / s (support 4 / s input pixels) and scaling it by s,
and it extends the image symmetrically (edge pixel repeated) at the borders. Each axis is a
fixed (out, in) matrix, so the resize is two matmuls: jit-able, batched and differentiable.
SR benchmarks (Set5 et al.) build their low-resolution inputs this way; PIL's bicubic agrees
away from the borders but treats the borders differently.
"""
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rvjax.degrade import _checks


def _cubic(x: np.ndarray) -> np.ndarray:
  ax = np.abs(x)
  ax2, ax3 = ax ** 2, ax ** 3
  return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) +
          (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


@functools.lru_cache(maxsize=64)
def resize_matrix(in_len: int, out_len: int, scale: float) -> np.ndarray:
  """(out_len, in_len) float32 matrix of MATLAB imresize's bicubic weights along one axis."""
  width = 4.0 / scale if scale < 1 else 4.0
  kernel = (lambda t: scale * _cubic(scale * t)) if scale < 1 else _cubic
  u = np.arange(1, out_len + 1) / scale + 0.5 * (1 - 1 / scale)  # 1-based input coordinates
  left = np.floor(u - width / 2)
  taps = int(math.ceil(width)) + 2
  idx = left[:, None] + np.arange(taps)[None, :]
  weights = kernel(u[:, None] - idx)
  weights /= weights.sum(1, keepdims=True)
  mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
  idx = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
  mat = np.zeros((out_len, in_len), np.float64)
  np.add.at(mat, (np.repeat(np.arange(out_len), taps), idx.ravel()), weights.ravel())
  return mat.astype(np.float32)


def imresize(images: Any, scale: float) -> jnp.ndarray:
  """Bicubic resize by `scale` (> 0) of (N, H, W, C) images to (N, ceil(sH), ceil(sW), C).

  Not clipped: bicubic overshoots slightly at edges (clip before saving or quantizing).
  """
  if not scale > 0:
    raise ValueError(f"scale must be > 0, got {scale}.")
  x = jnp.asarray(images, jnp.float32)
  if x.ndim != 4:
    raise ValueError(f"images must be a rank-4 NHWC batch, got shape {x.shape}.")
  h, w = x.shape[1:3]
  rows = jnp.asarray(resize_matrix(h, int(math.ceil(h * scale - 1e-9)), float(scale)))
  cols = jnp.asarray(resize_matrix(w, int(math.ceil(w * scale - 1e-9)), float(scale)))
  hi = jax.lax.Precision.HIGHEST
  x = jnp.einsum("oh,nhwc->nowc", rows, x, precision=hi)
  return jnp.einsum("pw,nowc->nopc", cols, x, precision=hi)


def downsample(key: Any, images: Any, *, factor: int, crop: bool = False) -> jnp.ndarray:
  """Anti-aliased bicubic down-sampling by an integer factor: (N, H, W, C) -> (N, H/f, W/f, C).

  Args:
    key: ignored (deterministic); may be None.
    images: (N, H, W, C) float in [0, 1].
    factor: integer >= 1 dividing H and W.
    crop: if True, first crop H and W down to multiples of `factor` (bottom/right rows dropped,
      the SR literature's "modcrop") instead of raising.

  Returns:
    (N, H // factor, W // factor, C) float32, not clipped (bicubic may overshoot [0, 1] slightly).
  """
  del key
  _checks.check_images(images)
  if int(factor) != factor or factor < 1:
    raise ValueError(f"factor must be an integer >= 1, got {factor}.")
  factor = int(factor)
  h, w = images.shape[1:3]
  if h % factor or w % factor:
    if not crop:
      raise ValueError(f"factor {factor} does not divide the image size {h}x{w}; pass "
                       "crop=True to crop to a multiple first.")
    images = images[:, :h - h % factor, :w - w % factor]
  return imresize(images, 1.0 / factor)


def sr_input(key: Any, images: Any, *, factor: int) -> jnp.ndarray:
  """The input of an SRCNN/VDSR-style network: bicubic down-sampling by `factor` then bicubic
  up-sampling back, after cropping H and W to multiples of `factor` (bottom/right dropped).

  (N, H, W, C) -> (N, H - H % factor, W - W % factor, C) float32, not clipped; key ignored.
  """
  low = downsample(key, images, factor=factor, crop=True)
  return imresize(low, float(factor))

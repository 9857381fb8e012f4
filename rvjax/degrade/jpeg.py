"""Differentiable JPEG: 8x8 block DCT, quantization with the IJG tables, reconstruction.

The forward pass is baseline JPEG without chroma subsampling (4:4:4) and without entropy coding
(lossless, so irrelevant to the image): RGB -> YCbCr (JFIF), level shift, orthonormal 8x8 DCT-II,
divide by the quality-scaled table, round, multiply back, inverse DCT, RGB, clip. Rounding is
what a gradient cannot pass; two surrogates:
  * "straight_through": the forward pass rounds exactly, the backward pass is the identity;
  * "soft": round(z) + (z - round(z))^3 in both passes (Shin & Song 2017), a smooth
    approximation whose derivative 3 (z - round(z))^2 is nonzero almost everywhere.
Single-channel images use the luminance table only. Sizes not divisible by 8 are padded by edge
replication (as encoders do) and cropped back.
"""
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rvjax import validate
from rvjax.corruptions import digital, tables
from rvjax.degrade import _checks

ROUNDINGS = ("straight_through", "soft")

_RGB_TO_YCC = np.array([[0.299, 0.587, 0.114],
                        [-0.168736, -0.331264, 0.5],
                        [0.5, -0.418688, -0.081312]], np.float32)


def quant_tables(quality: int) -> np.ndarray:
  """(2, 8, 8) luminance and chrominance tables scaled as libjpeg does for quality in [1, 100]."""
  if int(quality) != quality or not 1 <= quality <= 100:
    raise ValueError(f"quality must be an integer in [1, 100], got {quality}.")
  return np.stack([digital.quantization_table(base, quality)
                   for base in (tables.JPEG_LUMINANCE, tables.JPEG_CHROMINANCE)])


def _round(z: jnp.ndarray, rounding: str) -> jnp.ndarray:
  r = jnp.round(z)
  if rounding == "soft":
    return r + (z - jax.lax.stop_gradient(r)) ** 3
  return z + jax.lax.stop_gradient(r - z)


def jpeg(key: Any, images: Any, *, quality: int = 50,
         rounding: str = "straight_through") -> jnp.ndarray:
  """JPEG compression artifacts (blockiness, ringing) at `quality`, differentiably.

  Args:
    key: ignored (deterministic); may be None.
    images: (N, H, W, C) float in [0, 1], C = 1 (grayscale) or 3 (RGB).
    quality: integer in [1, 100] (libjpeg's scale; lower = blockier).
    rounding: "straight_through" (exact forward pass) or "soft" (cubic surrogate).

  Returns:
    (N, H, W, C) float32 in [0, 1].
  """
  del key
  _checks.check_images(images)
  validate.check_choice(rounding, "rounding", ROUNDINGS)
  x = jnp.asarray(images, jnp.float32)
  n, h, w, c = x.shape
  if c not in (1, 3):
    raise ValueError(f"jpeg needs 1 or 3 channels, got {c}.")
  tables = jnp.asarray(quant_tables(quality))
  x = jnp.pad(x * 255.0, ((0, 0), (0, -h % 8), (0, -w % 8), (0, 0)), mode="edge")
  ycc = jnp.asarray(_RGB_TO_YCC)
  if c == 3:
    x = jnp.einsum("ij,nhwj->nhwi", ycc, x, precision=jax.lax.Precision.HIGHEST)
    x = x.at[..., 1:].add(128.0)
    q = tables[jnp.array([0, 1, 1])]
  else:
    q = tables[:1]
  hp, wp = x.shape[1:3]
  # (N, H, W, C) -> (N, C, H/8, W/8, 8, 8) blocks.
  blocks = x.reshape(n, hp // 8, 8, wp // 8, 8, c).transpose(0, 5, 1, 3, 2, 4) - 128.0
  d = jnp.asarray(digital.dct_matrix())
  hi = jax.lax.Precision.HIGHEST
  coef = jnp.einsum("ui,nchwij,vj->nchwuv", d, blocks, d, precision=hi)
  qb = q[None, :, None, None]
  coef = _round(coef / qb, rounding) * qb
  blocks = jnp.einsum("ui,nchwuv,vj->nchwij", d, coef, d, precision=hi) + 128.0
  x = blocks.transpose(0, 2, 4, 3, 5, 1).reshape(n, hp, wp, c)
  if c == 3:
    x = x.at[..., 1:].add(-128.0)
    x = jnp.einsum("ij,nhwj->nhwi", jnp.linalg.inv(ycc), x, precision=hi)
  return jnp.clip(x[:, :h, :w] / 255.0, 0.0, 1.0)

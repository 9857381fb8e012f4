"""Wavelet shrinkage denoising with the orthonormal Haar wavelet.

A `levels`-level 2-D Haar decomposition per channel, detail coefficients soft- or
hard-thresholded, then reconstruction. Odd sides are extended by repeating the last row/column
(pywt's "symmetric" mode for a 2-tap filter) and cropped back, so this equals
skimage.restoration.denoise_wavelet(x, sigma, wavelet="db1", mode=mode, method=method,
wavelet_levels=levels, channel_axis=-1, rescale_sigma=False) on float input (not clipped).
Thresholds: "BayesShrink" (Chang et al. 2000) per subband sigma^2 / sqrt(max(E[d^2] - sigma^2,
eps)); "VisuShrink" (Donoho & Johnstone 1994) sigma sqrt(2 log(H W)) everywhere.
"""
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import scipy.stats

from rvjax import validate
from rvjax.restore import _checks

METHODS = ("BayesShrink", "VisuShrink")
MODES = ("soft", "hard")
_MAD_TO_SIGMA = 1.0 / scipy.stats.norm.ppf(0.75)
_R2 = math.sqrt(0.5)


def _analysis(u):
  """One Haar level of (B, H, W) planes: approximation and the (ad, da, dd) details."""
  u = jnp.pad(u, ((0, 0), (0, u.shape[1] % 2), (0, u.shape[2] % 2)), mode="edge")
  lo, hi = (u[:, 0::2] + u[:, 1::2]) * _R2, (u[:, 0::2] - u[:, 1::2]) * _R2
  split = lambda v: ((v[:, :, 0::2] + v[:, :, 1::2]) * _R2, (v[:, :, 0::2] - v[:, :, 1::2]) * _R2)
  aa, ad = split(lo)
  da, dd = split(hi)
  return aa, (ad, da, dd)


def _synthesis(aa, details, shape):
  ad, da, dd = details
  merge = lambda a, d: jnp.stack([(a + d) * _R2, (a - d) * _R2], -1).reshape(*a.shape[:2], -1)
  lo, hi = merge(aa, ad), merge(da, dd)
  u = jnp.stack([(lo + hi) * _R2, (lo - hi) * _R2], 2).reshape(lo.shape[0], -1, lo.shape[2])
  return u[:, :shape[0], :shape[1]]


def default_levels(h: int, w: int) -> int:
  """skimage's default: pywt's maximum Haar level minus 3, at least 1."""
  return max(int(math.floor(math.log2(min(h, w)))) - 3, 1)


def _shrink(d, t, mode):
  if mode == "soft":
    return jnp.sign(d) * jnp.maximum(jnp.abs(d) - t, 0.0)
  return jnp.where(jnp.abs(d) > t, d, 0.0)


@functools.partial(jax.jit, static_argnames=("levels", "method", "mode", "estimate"))
def _denoise(x, sigma, levels, method, mode, estimate):
  n, h, w, c = x.shape
  a = _checks.to_planes(x)
  shapes, details = [], []
  for _ in range(levels):
    shapes.append(a.shape[1:])
    a, d = _analysis(a)
    details.append(d)
  if estimate:  # MAD of the finest diagonal details, per plane.
    s = jnp.median(jnp.abs(details[0][2]), axis=(1, 2)) * _MAD_TO_SIGMA
  else:
    s = jnp.broadcast_to(sigma, (a.shape[0],))
  var = (s * s)[:, None, None]
  eps = jnp.finfo(jnp.float32).eps
  for level in range(levels - 1, -1, -1):
    shrunk = []
    for d in details[level]:
      if method == "BayesShrink":
        dvar = jnp.mean(d * d, axis=(1, 2), keepdims=True)
        t = var / jnp.sqrt(jnp.maximum(dvar - var, eps))
      else:
        t = jnp.sqrt(var) * math.sqrt(2 * math.log(h * w))
      shrunk.append(_shrink(d, t, mode))
    a = _synthesis(a, shrunk, shapes[level])
  return _checks.from_planes(a, n, c)


def wavelet_denoise(images: Any, *, sigma: float | None = None, method: str = "BayesShrink",
                    mode: str = "soft", levels: int | None = None) -> jnp.ndarray:
  """Haar wavelet shrinkage of every channel of every image.

  Args:
    images: (N, H, W, C) float, [0, 1] scale.
    sigma: noise std on the 0-255 scale (>= 0; may be traced), or None to estimate it per channel
      from the finest diagonal details (median absolute deviation / 0.6745).
    method: "BayesShrink" (adaptive per subband) or "VisuShrink" (universal threshold).
    mode: "soft" or "hard" thresholding.
    levels: decomposition levels (>= 1), default `default_levels(H, W)`.

  Returns:
    (N, H, W, C) float32, not clipped.
  """
  x = _checks.check_noisy(images)
  validate.check_choice(method, "method", METHODS)
  validate.check_choice(mode, "mode", MODES)
  h, w = x.shape[1:3]
  levels = default_levels(h, w) if levels is None else int(levels)
  if levels < 1 or 2 ** levels > min(h, w):
    raise ValueError(f"levels must be in [1, log2(min(H, W))] for {h}x{w} images, got {levels}.")
  if sigma is not None and not isinstance(sigma, jax.core.Tracer):
    _checks.check_positive(sigma, "sigma", allow_zero=True)
  s = jnp.float32(0.0 if sigma is None else sigma) / 255.0
  return _denoise(x, s, levels, method, mode, sigma is None)

"""Non-local means (Buades, Coll & Morel 2005) with square patches and a square search window.

Each pixel becomes the weighted mean of the pixels in its (2 d + 1)^2 search window, with
weights exp(-max(D - 2 sigma^2, 0) / h^2), where D is the mean squared difference between the
two (2 r + 1)^2 patches over all channels (uniform patch weights; the "- 2 sigma^2" removes
the distance the noise alone adds). Boundaries are mirrored. The search window is a
`lax.scan` over offsets, each an O(H W) box filter, so memory stays at a few images.
This is the classic algorithm scikit-image's denoise_nl_means(fast_mode=True) also implements;
that one skips weights below exp(-5) and averages boundary pixels slightly differently, so the
two agree closely but not to rounding.
"""
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rvjax.restore import _checks


def _box_sum(z, size):
  return jax.lax.reduce_window(z, 0.0, jax.lax.add, (1, size, size), (1, 1, 1), "VALID")


@functools.partial(jax.jit, static_argnames=("patch_radius", "search_radius"))
def _nlm(x, h, sigma, patch_radius, search_radius):
  n, height, width, c = x.shape
  pad = patch_radius + search_radius
  xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
  span = (height + 2 * patch_radius, width + 2 * patch_radius)
  ref = jax.lax.dynamic_slice(xp, (0, search_radius, search_radius, 0), (n,) + span + (c,))
  patch = 2 * patch_radius + 1
  offsets = np.stack(np.meshgrid(np.arange(2 * search_radius + 1),
                                 np.arange(2 * search_radius + 1), indexing="ij"), -1)
  inv_h2 = 1.0 / (h * h)

  def step(carry, offset):
    total, weights = carry
    other = jax.lax.dynamic_slice(xp, (0, offset[0], offset[1], 0), (n,) + span + (c,))
    dist = _box_sum(jnp.sum((ref - other) ** 2, -1), patch) / (patch * patch * c)
    wgt = jnp.exp(-jnp.maximum(dist - 2.0 * sigma * sigma, 0.0) * inv_h2)[..., None]
    center = other[:, patch_radius:patch_radius + height, patch_radius:patch_radius + width]
    return (total + wgt * center, weights + wgt), None

  zeros = jnp.zeros_like(x)
  (total, weights), _ = jax.lax.scan(step, (zeros, zeros[..., :1]), jnp.asarray(offsets.reshape(-1, 2)))
  return total / weights


def nlm_denoise(images: Any, *, sigma: float, h: float | None = None, patch_size: int = 7,
                patch_distance: int = 11) -> jnp.ndarray:
  """Non-local means denoising of (N, H, W, C) images (channels share the patch weights).

  Args:
    images: (N, H, W, C) float, [0, 1] scale.
    sigma: >= 0 noise std on the 0-255 scale (subtracted from patch distances).
    h: > 0 filtering strength on the 0-255 scale; default 0.8 sigma (scikit-image's advice with
      sigma given); larger = smoother. Both may be traced.
    patch_size: odd patch side (2 r + 1).
    patch_distance: search radius d in pixels (window (2 d + 1)^2); below min(H, W).

  Returns:
    (N, H, W, C) float32 (a convex combination of input pixels).
  """
  x = _checks.check_noisy(images)
  if patch_size < 1 or patch_size % 2 == 0:
    raise ValueError(f"patch_size must be a positive odd integer, got {patch_size}.")
  r = patch_size // 2
  if patch_distance < 1 or patch_distance + r >= min(x.shape[1:3]):
    raise ValueError(f"patch_distance + patch_size // 2 must be in [1, min(H, W)) for "
                     f"{x.shape[1]}x{x.shape[2]} images, got {patch_distance} + {r}.")
  if h is None:
    h = 0.8 * sigma
  for name, value in (("sigma", sigma), ("h", h)):
    if not isinstance(value, jax.core.Tracer):
      _checks.check_positive(value, name, allow_zero=name == "sigma")
  return _nlm(x, jnp.float32(h) / 255.0, jnp.float32(sigma) / 255.0, r, int(patch_distance))

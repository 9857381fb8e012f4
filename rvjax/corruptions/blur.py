"""Blur corruptions: defocus, glass, motion, zoom and gaussian blur.

Each function corrupts ONE image `x` (H, W, C) in [0, 1] given its `key`, the table entry `c`
and `scale` = min(H, W) / table reference size, which multiplies every pixel-unit parameter.

Differences from the published scripts:
- motion_blur: the original calls ImageMagick's MotionBlurImage through Wand. Here the same
  kernel (one-sided gaussian of width 2 ceil(radius) + 1, taps at ceil(i sin a - 1/2),
  ceil(i cos a - 1/2)) is applied as a sum of edge-clamped shifted copies, in float, without
  the PNG round trip; the angle is uniform in [-45, 45] degrees per image.
- glass_blur: the original visits pixels (h, w) of [d + 1, H - d] x [d + 1, W - d] in reverse
  raster order and swaps each with a random neighbour at offset in [-d, d)^2, one swap at a time.
  Here every pixel draws the same offset distribution and initiates exactly one swap per
  iteration, but the swaps run in (2d + 1)^2 rounds: a round swaps all pixels whose coordinates
  are congruent to (a, b) modulo 2d + 1, which never touch each other, so each round is one
  gather. The result is still a permutation of the pixels (colour histogram kept) with the same
  share of moved pixels and mean displacement as the loop (measured at 32 px for d = 1, 2, 4),
  but the order of swaps differs, so the longest chains are shorter (max displacement ~8 px
  instead of ~11 px at d = 1, two iterations).
  The intermediate 8-bit quantization of the original is kept.
- defocus_blur and zoom_blur follow the published formulas (cv2 disk kernel with its 3x3 / 5x5
  anti-alias blur and reflect-101 borders; scipy order-1 zoom of a center crop); gaussian_blur
  is skimage's gaussian (truncate 4, edge borders). Results match the references to float
  rounding, apart from the references' 8-bit output.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from rvjax.corruptions import imaging


def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
  """Anti-aliased, normalized disk of `radius` pixels (the published defocus kernel).

  A binary disk on a grid of half-width max(8, ceil(radius)), blurred by a 3x3 (radius <= 8) or
  5x5 gaussian of sigma `alias_blur` with reflect-101 borders, as cv2.GaussianBlur; zero rows
  and columns at the border are trimmed (they do not change the filtered image).
  """
  half, ksize = (8, 3) if radius <= 8 else (int(math.ceil(radius)), 5)
  grid = np.arange(-half, half + 1, dtype=np.float64)
  yy, xx = np.meshgrid(grid, grid, indexing="ij")
  disk = (yy ** 2 + xx ** 2 <= radius ** 2).astype(np.float64)
  disk /= disk.sum()
  t = np.arange(ksize) - (ksize - 1) / 2
  g = np.exp(-t ** 2 / (2 * max(alias_blur, 1e-6) ** 2))
  g /= g.sum()
  r = ksize // 2
  padded = np.pad(disk, r, mode="reflect")
  rows = sum(g[i] * padded[i:i + disk.shape[0], :] for i in range(ksize))
  kernel = sum(g[i] * rows[:, i:i + disk.shape[1]] for i in range(ksize))
  nonzero = np.argwhere(np.abs(kernel) > 0)
  keep = int(np.max(np.abs(nonzero - half))) if nonzero.size else 0
  return kernel[half - keep:half + keep + 1, half - keep:half + keep + 1].astype(np.float32)


def defocus_blur(key: jax.Array, x: jax.Array, c, scale: float) -> jax.Array:
  """Convolution with an anti-aliased disk; c = (radius, alias sigma) in pixels."""
  del key
  radius, alias = c
  return jnp.clip(imaging.filter2d(x, disk_kernel(radius * scale, alias * scale)), 0.0, 1.0)


def gaussian_blur(key: jax.Array, x: jax.Array, c: float, scale: float) -> jax.Array:
  """Gaussian blur of sigma `c` pixels (edge borders, truncated at 4 sigma)."""
  del key
  return jnp.clip(imaging.gaussian_blur(x, c * scale), 0.0, 1.0)


def _swap_round(x, offsets, phase, d):
  """One round of non-overlapping swaps: pixels at `phase` mod (2d + 1) swap with their partner."""
  h, w = x.shape[:2]
  period = 2 * d + 1
  lo = d + 1
  qh = jnp.arange(h)[:, None]
  qw = jnp.arange(w)[None, :]
  ph_a, ph_b = phase // period, phase % period

  def is_source(ph, pw):
    inside = (ph >= lo) & (ph <= h - d) & (pw >= lo) & (pw <= w - d)
    return inside & ((ph - lo) % period == ph_a) & ((pw - lo) % period == ph_b)

  def partner(ph, pw):
    ph_c, pw_c = jnp.clip(ph, 0, h - 1), jnp.clip(pw, 0, w - 1)
    return ph + offsets[ph_c, pw_c, 0], pw + offsets[ph_c, pw_c, 1]

  # The unique round-source whose partner window [p - d, p + d - 1] could contain q.
  own_h = qh + d - jnp.mod(qh + d - lo - ph_a, period)
  own_w = qw + d - jnp.mod(qw + d - lo - ph_b, period)
  tgt_h, tgt_w = partner(own_h, own_w)
  owned = is_source(own_h, own_w) & (tgt_h == qh) & (tgt_w == qw)
  src_here = is_source(qh, qw)
  par_h, par_w = partner(qh, qw)
  src_h = jnp.where(src_here, par_h, jnp.where(owned, own_h, qh))
  src_w = jnp.where(src_here, par_w, jnp.where(owned, own_w, qw))
  return x[jnp.clip(src_h, 0, h - 1), jnp.clip(src_w, 0, w - 1)]


def glass_blur(key: jax.Array, x: jax.Array, c, scale: float) -> jax.Array:
  """Blur, local pixel shuffles, blur; c = (sigma px, max shuffle distance px, iterations)."""
  sigma, delta, iterations = c
  sigma = sigma * scale
  d = max(1, int(round(delta * scale)))
  x = jnp.floor(imaging.gaussian_blur(x, sigma) * 255.0) / 255.0
  h, w = x.shape[:2]
  for offsets in jax.random.randint(key, (iterations, h, w, 2), -d, d):
    x = lax.fori_loop(0, (2 * d + 1) ** 2,
                      lambda phase, img, off=offsets: _swap_round(img, off, phase, d), x)
  return jnp.clip(imaging.gaussian_blur(x, sigma), 0.0, 1.0)


def motion_blur(key: jax.Array, x: jax.Array, c, scale: float) -> jax.Array:
  """Line blur at a random angle in [-45, 45] degrees; c = (radius, sigma) in pixels."""
  radius, sigma = c
  angle = jax.random.uniform(key, (), minval=-45.0, maxval=45.0)
  weights = imaging.motion_kernel(radius * scale, sigma * scale)
  return jnp.clip(imaging.line_blur(x, weights, angle), 0.0, 1.0)


def zoom_blur(key: jax.Array, x: jax.Array, c, scale: float) -> jax.Array:
  """Mean of the image and its center zooms by each factor in `c` (dimensionless, not scaled)."""
  del key, scale
  h, w = x.shape[:2]
  rows = np.stack([imaging.zoom_positions(h, z) for z in c])
  cols = np.stack([imaging.zoom_positions(w, z) for z in c])

  def add(acc, pos):
    return acc + imaging.resample_linear(x, pos[0], pos[1]), None

  total, _ = lax.scan(add, x, (jnp.asarray(rows), jnp.asarray(cols)))
  return jnp.clip(total / (len(c) + 1), 0.0, 1.0)

"""Array primitives shared by the corruption families: kernels, filtering, resampling, colour.

Every function here works on ONE image `x` of shape (H, W, C), float32 (the suite `vmap`s over
the batch). Kernel, index and resampling tables that depend only on static parameters are built
with numpy at trace time, so they become constants of the compiled program. Filters avoid XLA's
depthwise convolution (slow on CPU): separable filters are banded matrix products, small 2-D
kernels sums of shifted copies, large ones FFT products.

Padding modes use numpy's names: "edge" (scipy "nearest"), "symmetric" (scipy "reflect",
d c b a | a b c d), "reflect" (OpenCV's default BORDER_REFLECT_101 and scipy "mirror",
d c b | a b c d) and "constant" (zeros).
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

_HIGHEST = lax.Precision.HIGHEST


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> np.ndarray:
  """Normalized 1-D gaussian taps with radius int(truncate * sigma + 0.5), as scipy.ndimage."""
  if sigma <= 0:
    return np.ones((1,), np.float32)
  radius = int(truncate * sigma + 0.5)
  t = np.arange(-radius, radius + 1, dtype=np.float64)
  k = np.exp(-0.5 * (t / sigma) ** 2)
  return (k / k.sum()).astype(np.float32)


def filter_matrix(n: int, taps, mode: str) -> np.ndarray:
  """(n, n) matrix of a 1-D correlation with centered `taps`, the border `mode` folded in.

  Row i holds the weights of the padded samples i .. i + len(taps) - 1 mapped back to the
  source pixels they copy, as np.pad(mode) maps them (any pad width); "constant" drops them.
  """
  taps = np.asarray(taps, np.float64)
  r = taps.size // 2
  if mode == "constant":
    source = np.pad(np.arange(n), (r, taps.size - 1 - r), constant_values=-1)
  else:
    source = np.pad(np.arange(n), (r, taps.size - 1 - r), mode=mode)
  cols = source[np.arange(n)[:, None] + np.arange(taps.size)[None, :]]
  rows = np.broadcast_to(np.arange(n)[:, None], cols.shape)
  weights = np.broadcast_to(taps[None, :], cols.shape)
  keep = cols >= 0
  m = np.zeros((n, n), np.float64)
  np.add.at(m, (rows[keep], cols[keep]), weights[keep])
  return m.astype(np.float32)


def separable_filter(x: jax.Array, taps, mode: str = "edge") -> jax.Array:
  """Filters `x` (H, W, C) with the 1-D `taps` along H then along W (two banded matmuls)."""
  h, w = x.shape[:2]
  return apply_resize(x, filter_matrix(h, taps, mode), filter_matrix(w, taps, mode))


def filter2d(x: jax.Array, kernel, mode: str = "reflect") -> jax.Array:
  """Correlates every channel of `x` (H, W, C) with the same static 2-D `kernel` (kh, kw).

  The kernel's anchor is its center (kh // 2, kw // 2), as cv2.filter2D; `mode` pads the borders.
  Kernels up to 7x7 run as exact sums of shifted copies, larger ones by FFT of the padded image.
  """
  kernel = np.asarray(kernel, np.float32)
  kh, kw = kernel.shape
  h, w = x.shape[:2]
  xp = jnp.pad(x, ((kh // 2, kh - 1 - kh // 2), (kw // 2, kw - 1 - kw // 2), (0, 0)), mode=mode)
  if kernel.size <= 49:
    return sum(float(kernel[i, j]) * xp[i:i + h, j:j + w]
               for i in range(kh) for j in range(kw) if kernel[i, j] != 0)
  # Zero-padded to 5-smooth FFT sizes (faster than, e.g., 238 = 2 * 7 * 17): the circular wrap
  # still reaches only the first kh - 1 rows and kw - 1 columns, which are cut off.
  fh, fw = (fft_size(n) for n in xp.shape[:2])
  flipped = np.zeros((fh, fw), np.float32)
  flipped[:kh, :kw] = kernel[::-1, ::-1]
  spectrum = jnp.asarray(np.fft.rfft2(flipped).astype(np.complex64))[..., None]
  out = jnp.fft.irfft2(jnp.fft.rfft2(xp, s=(fh, fw), axes=(0, 1)) * spectrum, s=(fh, fw),
                       axes=(0, 1))
  return out[kh - 1:kh - 1 + h, kw - 1:kw - 1 + w].astype(x.dtype)


def fft_size(n: int) -> int:
  """The smallest m >= n whose only prime factors are 2, 3 and 5."""
  m = n
  while True:
    k = m
    for p in (2, 3, 5):
      while k % p == 0:
        k //= p
    if k == 1:
      return m
    m += 1


def gaussian_blur(x: jax.Array, sigma: float, *, truncate: float = 4.0,
                  mode: str = "edge") -> jax.Array:
  """Per-channel gaussian blur of `x` (H, W, C), as skimage.filters.gaussian (default mode)."""
  return separable_filter(x, gaussian_kernel1d(sigma, truncate), mode)


def motion_kernel(radius: float, sigma: float) -> np.ndarray:
  """One-sided gaussian line weights of ImageMagick's motion blur: width 2 * ceil(radius) + 1."""
  width = 2 * int(math.ceil(radius)) + 1
  i = np.arange(width, dtype=np.float64)
  k = np.exp(-i ** 2 / (2.0 * max(sigma, 1e-6) ** 2))
  return (k / k.sum()).astype(np.float32)


def line_blur(x: jax.Array, weights, angle_deg: jax.Array) -> jax.Array:
  """Motion blur of `x` (H, W, C): sum_i w_i x(p + o_i) along a line at `angle_deg` (traced).

  The i-th tap samples the pixel offset by (ceil(i sin a - 1/2), ceil(i cos a - 1/2)) rows and
  columns, as ImageMagick's MotionBlurImage; outside pixels repeat the edge.
  """
  h, w = x.shape[:2]
  weights = jnp.asarray(weights, jnp.float32)
  steps = jnp.arange(weights.shape[0], dtype=jnp.float32)
  angle = jnp.deg2rad(angle_deg)
  dys = jnp.ceil(steps * jnp.sin(angle) - 0.5).astype(jnp.int32)
  dxs = jnp.ceil(steps * jnp.cos(angle) - 0.5).astype(jnp.int32)

  def tap(acc, tap_args):
    wi, dy, dx = tap_args
    rows = jnp.clip(jnp.arange(h) + dy, 0, h - 1)
    cols = jnp.clip(jnp.arange(w) + dx, 0, w - 1)
    return acc + wi * jnp.take(jnp.take(x, rows, axis=0), cols, axis=1), None

  out, _ = lax.scan(tap, jnp.zeros_like(x), (weights, dys, dxs))
  return out


def resample_linear(x: jax.Array, rows, cols) -> jax.Array:
  """Separable linear interpolation of `x` (H, W, C) at fractional `rows` and `cols` positions.

  Positions are in input pixel indices and are clamped to the image; output is
  (len(rows), len(cols), C).
  """
  def along(v, pos, axis):
    n = v.shape[axis]
    pos = jnp.clip(jnp.asarray(pos, jnp.float32), 0.0, n - 1.0)
    i0 = jnp.floor(pos).astype(jnp.int32)
    i1 = jnp.minimum(i0 + 1, n - 1)
    frac = pos - i0
    shape = [1] * v.ndim
    shape[axis] = -1
    frac = frac.reshape(shape)
    return jnp.take(v, i0, axis=axis) * (1 - frac) + jnp.take(v, i1, axis=axis) * frac
  return along(along(x, rows, 0), cols, 1)


def zoom_positions(n: int, zoom: float) -> np.ndarray:
  """Source positions of a center crop zoomed by `zoom` >= 1 and trimmed back to `n` pixels.

  Crops ceil(n / zoom) central pixels, resizes them to round(crop * zoom) with scipy.ndimage.zoom's
  order-1 grid (corner pixels aligned), and keeps the central `n`, as the published clipped_zoom.
  """
  crop = int(math.ceil(n / zoom))
  top = (n - crop) // 2
  out = int(round(crop * zoom))
  trim = (out - n) // 2
  step = (crop - 1) / (out - 1) if out > 1 else 0.0
  return (top + (np.arange(n) + trim) * step).astype(np.float32)


def clipped_zoom(x: jax.Array, zoom: float) -> jax.Array:
  """Zooms `x` (H, W, C) into its center by the static factor `zoom` >= 1; same shape out."""
  h, w = x.shape[:2]
  return resample_linear(x, zoom_positions(h, zoom), zoom_positions(w, zoom))


def box_resize_matrix(n_in: int, n_out: int) -> np.ndarray:
  """(n_out, n_in) weights of Pillow's BOX resampling along one axis.

  Output pixel i averages the input pixels whose centers fall inside the box of width
  max(n_in / n_out, 1) centered on (i + 0.5) * n_in / n_out; upsampling reduces to nearest.
  """
  scale = n_in / n_out
  support = 0.5 * max(scale, 1.0)
  inv = 1.0 / max(scale, 1.0)
  m = np.zeros((n_out, n_in), np.float64)
  for i in range(n_out):
    center = (i + 0.5) * scale
    lo = max(int(center - support + 0.5), 0)
    hi = min(int(center + support + 0.5), n_in)
    for j in range(lo, hi):
      t = (j - center + 0.5) * inv
      m[i, j] = 1.0 if -0.5 < t <= 0.5 else 0.0
    m[i] /= max(m[i].sum(), 1e-12)
  return m.astype(np.float32)


def apply_resize(x: jax.Array, m_rows, m_cols) -> jax.Array:
  """Applies (h_out, H) and (w_out, W) resampling matrices to `x` (H, W, C)."""
  x = jnp.einsum("ih,hwc->iwc", jnp.asarray(m_rows), x, precision=_HIGHEST)
  return jnp.einsum("jw,iwc->ijc", jnp.asarray(m_cols), x, precision=_HIGHEST)


def sample_bilinear(x: jax.Array, rows: jax.Array, cols: jax.Array, mode: str) -> jax.Array:
  """Samples every channel of `x` (H, W, C) at (rows, cols) arrays of shape (H', W').

  `mode` is scipy.ndimage's boundary mode ("reflect", "mirror", "nearest", "constant").
  """
  def one(channel):
    return jax.scipy.ndimage.map_coordinates(channel, [rows, cols], order=1, mode=mode)
  return jax.vmap(one, in_axes=-1, out_axes=-1)(x)


def rgb_to_gray(x: jax.Array) -> jax.Array:
  """ITU-R 601 luma of RGB `x` (..., 3) -> (..., 1); a 1-channel input is returned as is."""
  if x.shape[-1] == 1:
    return x
  return (0.299 * x[..., :1] + 0.587 * x[..., 1:2] + 0.114 * x[..., 2:3])


def rgb_to_hsv(x: jax.Array) -> jax.Array:
  """RGB (..., 3) in [0, 1] -> HSV (..., 3) in [0, 1], as skimage.color.rgb2hsv."""
  r, g, b = x[..., 0], x[..., 1], x[..., 2]
  v = jnp.max(x, axis=-1)
  delta = v - jnp.min(x, axis=-1)
  safe = jnp.where(delta > 0, delta, 1.0)
  s = jnp.where(delta > 0, delta / jnp.where(v > 0, v, 1.0), 0.0)
  h = jnp.where(b == v, 4.0 + (r - g) / safe,
                jnp.where(g == v, 2.0 + (b - r) / safe, (g - b) / safe))
  h = jnp.where(delta > 0, jnp.mod(h / 6.0, 1.0), 0.0)
  return jnp.stack([h, s, v], axis=-1)


def hsv_to_rgb(x: jax.Array) -> jax.Array:
  """HSV (..., 3) in [0, 1] -> RGB (..., 3), as skimage.color.hsv2rgb.

  Uses the closed form channel_n = v - v s clip(min(k, 4 - k), 0, 1), k = (n + 6 h) mod 6 for
  n = 5, 3, 1 (R, G, B), equal to the sector table up to float rounding.
  """
  h, s, v = x[..., :1], x[..., 1:2], x[..., 2:3]
  k = jnp.mod(jnp.asarray([5.0, 3.0, 1.0], x.dtype) + 6.0 * h, 6.0)
  return v - v * s * jnp.clip(jnp.minimum(k, 4.0 - k), 0.0, 1.0)

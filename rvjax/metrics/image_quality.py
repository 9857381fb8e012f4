"""Full-reference image quality: PSNR and SSIM, one value per image of an NHWC batch.

Both are jit-compatible and take float NHWC batches of equal shape. Values are not range-checked
(restorers may overshoot [0, 1]; clip first if you want the [0, 1] convention enforced);
`data_range` is the dynamic range used in the constants (1.0 for [0, 1] images).

Both take `y_channel=True` (compare the luma Y of RGB images, as super-resolution papers do;
MATLAB's rgb2ycbcr: Y = 16/255 + (65.481 R + 128.553 G + 24.966 B) / 255) and `crop=s` (drop s
border pixels on every side first, the SR convention crop = scale). The no-reference score is
`rvjax.metrics.niqe`.
"""
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rvjax import validate

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # int(3.5 * sigma + 0.5): scipy's gaussian_filter truncated at 3.5 sigma -> 11 taps.
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _check_pair(x: Any, y: Any, data_range: float) -> None:
  for name, a in (("x", x), ("y", y)):
    shape = getattr(a, "shape", None)
    if shape is None or len(shape) != 4:
      raise ValueError(f"{name} must be a rank-4 NHWC batch, got shape {shape}.")
    if not jnp.issubdtype(a.dtype, jnp.floating):
      raise ValueError(f"{name} must be floating point (float32 in [0, 1]), got dtype {a.dtype}.")
    if validate.is_concrete(a) and a.size and not np.all(np.isfinite(np.asarray(a))):
      raise ValueError(f"{name} contains NaN or inf values.")
  if tuple(x.shape) != tuple(y.shape):
    raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}.")
  validate.check_positive(data_range, "data_range")


_Y_WEIGHTS = (65.481 / 255, 128.553 / 255, 24.966 / 255)


def rgb_to_y(x: Any) -> jnp.ndarray:
  """(N, H, W, 3) RGB in [0, 1] -> (N, H, W, 1) luma Y in [16/255, 235/255] (ITU-R BT.601,
  MATLAB rgb2ycbcr scaled to [0, 1])."""
  return 16.0 / 255 + jnp.tensordot(jnp.asarray(x, jnp.float32), jnp.asarray(_Y_WEIGHTS),
                                    axes=[[-1], [0]])[..., None]


def _select(x: Any, y: Any, y_channel: bool, crop: int):
  """The Y channel and/or border crop of both images, with clear errors."""
  if y_channel:
    if x.shape[-1] != 3:
      raise ValueError(f"y_channel=True needs RGB (3-channel) images, got shape {tuple(x.shape)}.")
    x, y = rgb_to_y(x), rgb_to_y(y)
  if crop:
    if int(crop) != crop or crop < 0 or 2 * crop >= min(x.shape[1:3]):
      raise ValueError(f"crop must be an integer in [0, min(H, W) / 2), got {crop} for "
                       f"{x.shape[1]}x{x.shape[2]} images.")
    x, y = x[:, crop:-crop, crop:-crop], y[:, crop:-crop, crop:-crop]
  return x, y


def psnr(x: Any, y: Any, *, data_range: float = 1.0, y_channel: bool = False,
         crop: int = 0) -> jnp.ndarray:
  """Peak signal-to-noise ratio 10 log10(data_range^2 / MSE) in dB, MSE over H, W, C per image.

  Matches skimage.metrics.peak_signal_noise_ratio per image; identical images give +inf.

  Args:
    x, y: (N, H, W, C) float images (reference and test; the metric is symmetric).
    data_range: the value range of the images (1.0 for [0, 1]).
    y_channel: compare the luma Y of RGB images (`rgb_to_y`).
    crop: pixels dropped on every border first.

  Returns:
    (N,) float32 PSNR in dB.
  """
  _check_pair(x, y, data_range)
  x, y = _select(x, y, y_channel, crop)
  return _psnr(x, y, data_range)


@functools.partial(jax.jit, static_argnums=2)
def _psnr(x, y, data_range):
  x = jnp.asarray(x, jnp.float32)
  y = jnp.asarray(y, jnp.float32)
  mse = jnp.mean((x - y) ** 2, axis=(1, 2, 3))
  return 10.0 * jnp.log10(data_range ** 2 / mse)


def _gaussian_taps() -> np.ndarray:
  r = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
  g = np.exp(-0.5 * (r / SSIM_SIGMA) ** 2)
  return (g / g.sum()).astype(np.float32)


def _blur_valid(z: jnp.ndarray) -> jnp.ndarray:
  """Separable 11x11 gaussian, 'valid' output: (B, H, W, 1) -> (B, H - 10, W - 10, 1)."""
  g = jnp.asarray(_gaussian_taps())
  dn = ("NHWC", "HWIO", "NHWC")
  hi = jax.lax.Precision.HIGHEST
  z = jax.lax.conv_general_dilated(z, g.reshape(-1, 1, 1, 1), (1, 1), "VALID",
                                   dimension_numbers=dn, precision=hi)
  return jax.lax.conv_general_dilated(z, g.reshape(1, -1, 1, 1), (1, 1), "VALID",
                                      dimension_numbers=dn, precision=hi)


def ssim(x: Any, y: Any, *, data_range: float = 1.0, y_channel: bool = False,
         crop: int = 0) -> jnp.ndarray:
  """Structural similarity (Wang et al. 2004) per image, mean over channels.

  Gaussian 11x11 window (sigma 1.5, truncated at radius 5), K1 = 0.01, K2 = 0.03, population
  (co)variances. Matches skimage.metrics.structural_similarity(x_i, y_i, gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False, data_range=data_range, channel_axis=-1): skimage filters
  with reflect padding and then crops 5 pixels on every side before the mean, so only windows lying
  fully inside the image count; here the filter is computed 'valid', which gives those same
  (H - 10) x (W - 10) windows without padding.

  Args:
    x, y: (N, H, W, C) float images with H, W >= 11.
    data_range: the value range of the images (1.0 for [0, 1]).
    y_channel: compare the luma Y of RGB images (`rgb_to_y`).
    crop: pixels dropped on every border first.

  Returns:
    (N,) float32 mean SSIM, in [-1, 1].
  """
  _check_pair(x, y, data_range)
  x, y = _select(x, y, y_channel, crop)
  n, h, w, c = x.shape
  win = 2 * SSIM_RADIUS + 1
  if h < win or w < win:
    raise ValueError(f"ssim needs images of at least {win}x{win} pixels, got {h}x{w}.")
  return _ssim(x, y, data_range)


@functools.partial(jax.jit, static_argnums=2)
def _ssim(x, y, data_range):
  n, h, w, c = x.shape
  x = jnp.asarray(x, jnp.float32)
  y = jnp.asarray(y, jnp.float32)
  # Channels become batch entries: (N, H, W, C) -> (N * C, H, W, 1); 5 maps blurred at once.
  to_b = lambda a: jnp.transpose(a, (0, 3, 1, 2)).reshape(n * c, h, w, 1)
  xb, yb = to_b(x), to_b(y)
  stats = _blur_valid(jnp.concatenate([xb, yb, xb * xb, yb * yb, xb * yb], 0))
  ux, uy, uxx, uyy, uxy = jnp.split(stats, 5, 0)
  vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
  c1 = (SSIM_K1 * data_range) ** 2
  c2 = (SSIM_K2 * data_range) ** 2
  s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
  return jnp.mean(s.reshape(n, c, -1), axis=(1, 2))

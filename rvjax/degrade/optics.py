"""Blur y = M (*) x: per-channel 2-D convolution with a normalized kernel.

Kernels come from `rvjax.degrade.kernels` or the caller: a (k, k') array with odd sides, summing
to 1, no larger than the image (checked when concrete; the sum only then).
"""
from typing import Any

import jax
import jax.numpy as jnp

from rvjax import validate
from rvjax.degrade import _checks, kernels, noise

PADDINGS = ("symmetric", "reflect", "wrap", "edge")


def blur(key: Any, images: Any, *, kernel: Any, padding: str = "symmetric") -> jnp.ndarray:
  """Convolves every channel of every image with `kernel` (true convolution: kernel flipped).

  Args:
    key: ignored (deterministic); may be None.
    images: (N, H, W, C) float in [0, 1].
    kernel: (k, k') odd-sided array summing to 1, or (N, k, k') to blur each image with its own.
    padding: boundary extension, a `jnp.pad` mode: "symmetric" (edge repeated, like
      scipy.ndimage mode "reflect"), "reflect", "wrap" (circular, the model Fourier-domain
      deconvolution inverts exactly) or "edge".

  Returns:
    (N, H, W, C) float32 of the same shape, in [0, 1] for a nonnegative kernel.
  """
  del key
  _checks.check_images(images)
  validate.check_choice(padding, "padding", PADDINGS)
  kernel = jnp.asarray(kernel, jnp.float32)
  x = jnp.asarray(images, jnp.float32)
  kernels.check_kernel(kernel, x)
  if kernel.ndim == 3:
    return jax.vmap(lambda im, k: _convolve(im[None], k, padding)[0])(x, kernel)
  return _convolve(x, kernel, padding)


def blur_noise(key: jax.Array, images: Any, *, kernel: Any, sigma: Any = 0.0,
               padding: str = "symmetric") -> jnp.ndarray:
  """Non-blind deblurring's forward model y = k (x) x + n: `blur`, then `noise.gaussian_noise`
  of std `sigma` on the 0-255 scale (not clipped). (N, H, W, C) -> float32 of the same shape."""
  return noise.gaussian_noise(key, blur(None, images, kernel=kernel, padding=padding), sigma=sigma)


def _convolve(x: jnp.ndarray, kernel: jnp.ndarray, padding: str) -> jnp.ndarray:
  kh, kw = kernel.shape
  c = x.shape[-1]
  x = jnp.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)), mode=padding)
  w = jnp.tile(kernel[::-1, ::-1, None, None], (1, 1, 1, c))
  return jax.lax.conv_general_dilated(x, w, (1, 1), "VALID", feature_group_count=c,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                      precision=jax.lax.Precision.HIGHEST)

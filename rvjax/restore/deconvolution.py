"""Non-blind deconvolution in the Fourier domain: Wiener-Hunt and Tikhonov.

Both assume circular convolution y = k (*) x (+ noise) — blur with `padding="wrap"` to invert
exactly — and apply, per channel, X = conj(K) Y / (|K|^2 + balance |R|^2):
  * wiener:   R = the discrete Laplacian (a smoothness prior), as
              skimage.restoration.wiener(image, psf, balance, clip=False);
  * tikhonov: R = 1 (an L2 penalty on the image itself).
The kernel is centered on pixel (0, 0) before its FFT, so a centered kernel does not shift the
result.
"""
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rvjax.degrade import kernels
from rvjax.restore import _checks

_LAPLACIAN = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], np.float32)


def transfer_function(kernel: jnp.ndarray, shape: tuple[int, int]) -> jnp.ndarray:
  """rfft2 of `kernel` zero-padded to `shape` with its center moved to (0, 0): (H, W // 2 + 1)."""
  kh, kw = kernel.shape
  padded = jnp.zeros(shape, jnp.float32).at[:kh, :kw].set(kernel)
  return jnp.fft.rfft2(jnp.roll(padded, (-(kh // 2), -(kw // 2)), axis=(0, 1)))


@functools.partial(jax.jit, static_argnames=("laplacian",))
def _deconvolve(x, kernel, balance, laplacian):
  n, h, w, c = x.shape
  k = transfer_function(kernel, (h, w))
  reg = jnp.abs(transfer_function(jnp.asarray(_LAPLACIAN), (h, w))) ** 2 if laplacian else 1.0
  filt = jnp.conj(k) / (jnp.abs(k) ** 2 + balance * reg)
  planes = jnp.fft.irfft2(filt * jnp.fft.rfft2(_checks.to_planes(x)), s=(h, w))
  return _checks.from_planes(planes.astype(jnp.float32), n, c)


def _run(images, kernel, balance, laplacian):
  x = _checks.check_noisy(images)
  kernel = jnp.asarray(kernel, jnp.float32)
  kernels.check_kernel(kernel, x)
  if kernel.ndim != 2:
    raise ValueError(f"deconvolution takes one (k, k) kernel for the batch, got {kernel.shape}.")
  if not isinstance(balance, jax.core.Tracer):
    _checks.check_positive(balance, "balance")
  return _deconvolve(x, kernel, jnp.float32(balance), laplacian)


def wiener(images: Any, *, kernel: Any, balance: float) -> jnp.ndarray:
  """Wiener-Hunt deconvolution with a Laplacian regularizer.

  Args:
    images: (N, H, W, C) float blurred images, [0, 1] scale.
    kernel: (k, k') odd-sided blur kernel summing to 1, no larger than the images.
    balance: > 0, regularization weight (noise-to-signal ratio; larger = smoother).

  Returns:
    (N, H, W, C) float32, not clipped.
  """
  return _run(images, kernel, balance, True)


def tikhonov(images: Any, *, kernel: Any, balance: float) -> jnp.ndarray:
  """Tikhonov (L2-regularized) deconvolution X = conj(K) Y / (|K|^2 + balance).

  Args, returns: as `wiener`.
  """
  return _run(images, kernel, balance, False)

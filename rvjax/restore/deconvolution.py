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


def pseudo_inverse_kernel(kernel: Any, size: int, *, balance: float) -> np.ndarray:
  """The Tikhonov-regularized pseudo-inverse of a blur `kernel` as a (size, size) spatial kernel.

  Its transfer function is conj(K) / (|K|^2 + balance) (the `tikhonov` filter), taken on a
  grid of max(4 size, 256) pixels so that its circular wrap is negligible, then cropped to the
  `size` x `size` window whose center (index (size - 1) // 2 on each axis) is pixel (0, 0).
  Convolving (true convolution, not correlation) a blurred image with it approximates
  `tikhonov(images, kernel=kernel, balance=balance)` away from the borders.

  Args:
    kernel: (k, k') odd-sided blur kernel summing to 1.
    size: >= 1, side of the returned kernel.
    balance: > 0, the regularization weight.

  Returns:
    (size, size) float64 numpy array.
  """
  kernel = np.asarray(kernel, np.float64)
  if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
    raise ValueError(f"pseudo_inverse_kernel needs an odd-sided (k, k') kernel, "
                     f"got {kernel.shape}.")
  if int(size) < 1:
    raise ValueError(f"pseudo_inverse_kernel size must be >= 1, got {size}.")
  _checks.check_positive(balance, "balance")
  n = max(4 * int(size), 256, 2 * max(kernel.shape))
  padded = np.zeros((n, n))
  padded[:kernel.shape[0], :kernel.shape[1]] = kernel
  # numpy, not `transfer_function`: this runs while a model's init is being traced.
  k = np.fft.rfft2(np.roll(padded, (-(kernel.shape[0] // 2), -(kernel.shape[1] // 2)), (0, 1)))
  inverse = np.fft.irfft2(np.conj(k) / (np.abs(k) ** 2 + balance), s=(n, n))
  c = (int(size) - 1) // 2
  return np.roll(inverse, (c, c), axis=(0, 1))[:size, :size]


def separable_factors(inverse: Any, rank: int) -> tuple[np.ndarray, np.ndarray]:
  """The top-`rank` separable components of a 2-D kernel by its SVD (Xu et al. 2014, sec. 3.2).

  inverse ~= sum_i cols[:, i] outer rows[:, i], with the singular value split evenly
  (sqrt(s_i) on each factor); the error falls as `rank` grows and is exact at full rank.

  Args:
    inverse: (h, w) kernel.
    rank: 1 <= rank <= min(h, w), number of components.

  Returns:
    cols (h, rank) vertical factors and rows (w, rank) horizontal factors, float64.
  """
  inverse = np.asarray(inverse, np.float64)
  if inverse.ndim != 2 or not 1 <= int(rank) <= min(inverse.shape):
    raise ValueError(f"separable_factors needs a 2-D kernel and 1 <= rank <= its smaller side, "
                     f"got shape {inverse.shape} and rank {rank}.")
  u, s, vt = np.linalg.svd(inverse)
  root = np.sqrt(s[:rank])
  return u[:, :rank] * root, vt[:rank].T * root

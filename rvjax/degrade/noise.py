"""Additive and signal-dependent noise: the denoising forward models y = x + e.

Noise levels are given on the 0-255 scale, as the denoising literature states them (sigma = 25
means a standard deviation of 25 / 255 on [0, 1] images). Outputs are NOT clipped unless
`clip=True`: the published denoising protocol adds unclipped, unquantized noise.
"""
from typing import Any

import jax
import jax.numpy as jnp

from rvjax.degrade import _checks


def gaussian_noise(key: jax.Array, images: Any, *, sigma: Any, clip: bool = False) -> jnp.ndarray:
  """Additive white gaussian noise y = x + (sigma / 255) n, n ~ N(0, 1) per pixel and channel.

  Args:
    key: PRNG key.
    images: (N, H, W, C) float in [0, 1].
    sigma: >= 0 on the 0-255 scale; a scalar or an (N,) array (one level per image, e.g. drawn
      from a blind range [0, 55]).
    clip: clip the result to [0, 1].

  Returns:
    (N, H, W, C) float32; in [0, 1] only if clip.
  """
  _checks.check_images(images)
  _checks.check_nonnegative(sigma, "sigma")
  x = jnp.asarray(images, jnp.float32)
  s = _checks.per_image(sigma, x.shape[0], "sigma") / 255.0
  y = x + s * jax.random.normal(key, x.shape, jnp.float32)
  return jnp.clip(y, 0.0, 1.0) if clip else y


def blind_gaussian_noise(key: jax.Array, images: Any, *, sigma_min: float = 0.0,
                         sigma_max: float = 55.0) -> jnp.ndarray:
  """AWGN whose level is drawn per image, sigma ~ U[sigma_min, sigma_max] (0-255 scale): the
  blind DnCNN-B training range [0, 55]. Not clipped. Returns (N, H, W, C) float32."""
  if not 0 <= sigma_min <= sigma_max:
    raise ValueError(f"need 0 <= sigma_min <= sigma_max, got {sigma_min} and {sigma_max}.")
  _checks.check_images(images)
  k_sigma, k_noise = jax.random.split(key)
  sigma = jax.random.uniform(k_sigma, (images.shape[0],), minval=sigma_min, maxval=sigma_max)
  return gaussian_noise(k_noise, images, sigma=sigma)


def poisson_gaussian(key: jax.Array, images: Any, *, gain: Any, sigma: Any = 0.0,
                     clip: bool = False) -> jnp.ndarray:
  """Poisson-gaussian (shot + read) noise, heteroscedastic gaussian form (Foi et al. 2008).

  y = x + sqrt(gain * x + (sigma / 255)^2) n, n ~ N(0, 1): the variance of a Poisson count with
  gain * photons = x plus gaussian read noise. The gaussian form keeps y differentiable in x
  (reparameterized); it matches the Poisson variance exactly and its shape well above ~10
  photons (gain <= 0.1).

  Args:
    key: PRNG key.
    images: (N, H, W, C) float in [0, 1].
    gain: >= 0, photon gain in [0, 1] units (1 / photons at full scale); scalar or (N,).
    sigma: >= 0 read-noise std on the 0-255 scale; scalar or (N,).
    clip: clip the result to [0, 1].

  Returns:
    (N, H, W, C) float32.
  """
  _checks.check_images(images)
  _checks.check_nonnegative(gain, "gain")
  _checks.check_nonnegative(sigma, "sigma")
  x = jnp.asarray(images, jnp.float32)
  n = x.shape[0]
  a = _checks.per_image(gain, n, "gain")
  b = _checks.per_image(sigma, n, "sigma") / 255.0
  std = jnp.sqrt(a * jnp.maximum(x, 0.0) + b * b + 1e-12)
  y = x + std * jax.random.normal(key, x.shape, jnp.float32)
  return jnp.clip(y, 0.0, 1.0) if clip else y

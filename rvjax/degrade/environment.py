"""Degraded visual environments: low light, haze, rain. All (key, images, **params) -> images.

  low_light   y = exposure * x^gamma + Poisson-gaussian sensor noise, clipped
  haze        I = J t + A (1 - t), t = exp(-beta depth) or a random smooth transmission
  rain        bright motion-blurred streaks composited by screen blending 1 - (1 - J)(1 - R)
"""
from typing import Any

import jax
import jax.numpy as jnp

from rvjax.degrade import _checks, kernels, noise, optics


def _is_zero(value: Any) -> bool:
  """True for a concrete all-zero value; a traced one counts as nonzero."""
  return not isinstance(value, jax.core.Tracer) and not jnp.any(jnp.asarray(value) != 0)


def low_light(key: jax.Array, images: Any, *, exposure: Any = 0.25, gamma: Any = 1.5,
              gain: Any = 0.0, sigma: Any = 0.0, clip: bool = True) -> jnp.ndarray:
  """Dark, noisy capture: y = exposure * x^gamma, plus `noise.poisson_gaussian(gain, sigma)`.

  Args:
    key: PRNG key (used for the noise; may be None when gain = sigma = 0).
    images: (N, H, W, C) float in [0, 1].
    exposure: in (0, 1], the fraction of light kept; scalar or (N,).
    gamma: >= 1 darkens mid-tones more than highlights; scalar or (N,).
    gain, sigma: shot-noise gain and read noise (0-255 scale), see `noise.poisson_gaussian`.
    clip: clip the result to [0, 1] (a sensor saturates and cannot go negative).

  Returns:
    (N, H, W, C) float32.
  """
  _checks.check_images(images)
  _checks.check_nonnegative(exposure, "exposure")
  _checks.check_nonnegative(gamma, "gamma")
  x = jnp.asarray(images, jnp.float32)
  n = x.shape[0]
  y = _checks.per_image(exposure, n, "exposure") * (
      jnp.maximum(x, 1e-8) ** _checks.per_image(gamma, n, "gamma"))
  if key is not None:
    y = noise.poisson_gaussian(key, jnp.clip(y, 0.0, 1.0), gain=gain, sigma=sigma)
  elif any(not _is_zero(v) for v in (gain, sigma)):
    raise ValueError("low_light needs a key when gain or sigma is nonzero (sensor noise).")
  return jnp.clip(y, 0.0, 1.0) if clip else y


def haze(key: Any, images: Any, *, depth: Any = None, beta: Any = 1.0, airlight: Any = 0.9,
         t_min: float = 0.2, grid: int = 4) -> jnp.ndarray:
  """Atmospheric scattering I = J t + A (1 - t) (Koschmieder; McCartney / He et al.'s model).

  Args:
    key: PRNG key for the random transmission; may be None when `depth` is given.
    images: (N, H, W, C) clean scene radiance J in [0, 1].
    depth: optional (N, H, W) or (N, H, W, 1) scene depth >= 0 (any unit); t = exp(-beta depth).
      If None, t is a random smooth field: uniform values on a (grid x grid) lattice,
      bicubically upsampled, mapped to [t_min, 1].
    beta: >= 0 scattering coefficient (used with `depth`); scalar or (N,).
    airlight: atmospheric light A in [0, 1]; scalar or (N,).
    t_min: lowest transmission of the random field, in [0, 1].
    grid: lattice size of the random field (larger = less smooth).

  Returns:
    (N, H, W, C) float32 in [0, 1].
  """
  _checks.check_images(images)
  _checks.check_nonnegative(beta, "beta")
  _checks.check_nonnegative(airlight, "airlight")
  if not 0.0 <= t_min <= 1.0:
    raise ValueError(f"t_min must lie in [0, 1], got {t_min}.")
  x = jnp.asarray(images, jnp.float32)
  n, h, w, _ = x.shape
  if depth is not None:
    d = jnp.asarray(depth, jnp.float32)
    d = d[..., None] if d.ndim == 3 else d
    if d.shape != (n, h, w, 1):
      raise ValueError(f"depth must have shape ({n}, {h}, {w}) or ({n}, {h}, {w}, 1), got "
                       f"{d.shape}.")
    _checks.check_nonnegative(d, "depth")
    t = jnp.exp(-_checks.per_image(beta, n, "beta") * d)
  else:
    if key is None:
      raise ValueError("haze needs a key for its random transmission when depth is None.")
    coarse = jax.random.uniform(key, (n, grid, grid, 1))
    field = jnp.clip(jax.image.resize(coarse, (n, h, w, 1), "cubic"), 0.0, 1.0)
    t = t_min + (1.0 - t_min) * field
  a = _checks.per_image(airlight, n, "airlight")
  return x * t + a * (1.0 - t)


def rain(key: jax.Array, images: Any, *, density: float = 0.01, length: int = 15,
         angle: Any = None, brightness: float = 0.8) -> jnp.ndarray:
  """Rain streaks: random drops smeared along one direction, screen-blended onto the image.

  Drops are Bernoulli(density) pixels with random brightness; each image's drops are blurred
  with `kernels.line(length, angle)` and scaled so a full streak reaches `brightness`.

  Args:
    key: PRNG key.
    images: (N, H, W, C) float in [0, 1].
    density: fraction of pixels starting a streak, in [0, 1].
    length: odd streak length in pixels (<= the image side).
    angle: streak angle in degrees from horizontal (90 = vertical rain); scalar, (N,), or None
      for a random angle in [60, 120] per image.
    brightness: peak streak intensity in [0, 1].

  Returns:
    (N, H, W, C) float32 in [0, 1].
  """
  _checks.check_images(images)
  if not 0.0 <= density <= 1.0 or not 0.0 <= brightness <= 1.0:
    raise ValueError(f"density and brightness must lie in [0, 1], got {density} and {brightness}.")
  x = jnp.asarray(images, jnp.float32)
  n = x.shape[0]
  k_drop, k_val, k_angle = jax.random.split(key, 3)
  if angle is None:
    angle = jax.random.uniform(k_angle, (n,), minval=60.0, maxval=120.0)
  angles = jnp.broadcast_to(jnp.asarray(angle, jnp.float32), (n,))
  drops = jax.random.bernoulli(k_drop, density, x.shape[:3] + (1,)).astype(jnp.float32)
  drops = drops * jax.random.uniform(k_val, drops.shape, minval=0.5, maxval=1.0)
  streak_kernels = jax.vmap(lambda a: kernels.line(length, a))(angles)
  streaks = optics.blur(None, drops, kernel=streak_kernels, padding="wrap")
  streaks = jnp.clip(streaks * (length * brightness), 0.0, 1.0)
  return 1.0 - (1.0 - x) * (1.0 - streaks)

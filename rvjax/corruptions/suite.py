"""The corruption suite: names, parameter lookup and the batched, jitted `corrupt`.

Image sizes: the tables are published for 32 px (`table="cifar10"`) and 224 px
(`table="imagenet"`) images. Pick the table whose reference size is closest to your images
(cifar10 for digits, CIFAR, SVHN, 64 px Tiny ImageNet; imagenet for >= 128 px). Every parameter
in pixel units (blur radii and sigmas, glass-blur shuffle distance, motion and snow streak
length, snow flake zoom, spatter blob size, frost crystal size, elastic displacement and affine
jitter) is multiplied by `scale = min(H, W) / reference size`, so that a corruption covers the
same fraction of the image at any resolution; the glass-blur distance is rounded and kept >= 1,
the snow zoom is kept >= 1. Dimensionless parameters (noise levels, blend weights, zoom-blur
factors, pixelate ratios, JPEG quality, fog strength) are used as published. With s = 1 (32 px
images and the CIFAR table, 224 px and the ImageNet table) this is exactly the published recipe,
up to the differences listed in the family modules.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from rvjax import validate
from rvjax.corruptions import blur, digital, noise, tables, weather

NAMES = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
    "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
    "elastic_transform", "pixelate", "jpeg_compression",
    "speckle_noise", "gaussian_blur", "spatter", "saturate",
)
"""The 15 benchmark corruptions of ImageNet-C / CIFAR-10-C, then the 4 held-out extra ones."""

COMMON = NAMES[:15]
EXTRA = NAMES[15:]
# Corruptions that draw random numbers; the others ignore the key.
RANDOM = frozenset({"gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise",
                    "glass_blur", "motion_blur", "snow", "frost", "fog", "spatter",
                    "elastic_transform"})

_FUNCTIONS = {
    "gaussian_noise": noise.gaussian_noise, "shot_noise": noise.shot_noise,
    "impulse_noise": noise.impulse_noise, "speckle_noise": noise.speckle_noise,
    "defocus_blur": blur.defocus_blur, "glass_blur": blur.glass_blur,
    "motion_blur": blur.motion_blur, "zoom_blur": blur.zoom_blur,
    "gaussian_blur": blur.gaussian_blur,
    "snow": weather.snow, "frost": weather.frost, "fog": weather.fog, "spatter": weather.spatter,
    "brightness": digital.brightness, "contrast": digital.contrast,
    "saturate": digital.saturate, "elastic_transform": digital.elastic_transform,
    "pixelate": digital.pixelate, "jpeg_compression": digital.jpeg_compression,
}
assert set(_FUNCTIONS) == set(NAMES)

MIN_SIZE = 8


def _check_static(name, severity, table):
  validate.check_choice(name, "corruption name", NAMES)
  validate.check_choice(table, "corruption table", tuple(tables.TABLES))
  if (isinstance(severity, bool) or not isinstance(severity, (int, np.integer))
      or not 1 <= severity <= 5):
    raise ValueError(f"severity must be an integer in 1..5, got {severity!r}.")


def parameters(name: str, severity: int, table: str = "cifar10"):
  """The published parameters of `name` at `severity` (1..5) in `table` ("cifar10"/"imagenet")."""
  _check_static(name, severity, table)
  return tables.TABLES[table][name][severity - 1]


def _check_key(key):
  if key is None:
    raise ValueError("corrupt needs an explicit key=jax.random.key(...).")
  dtype = getattr(key, "dtype", None)
  if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
    if key.shape != ():
      raise ValueError(f"key must be a single key, got a key array of shape {key.shape}.")
    return
  if dtype != jnp.uint32 or tuple(key.shape) != (2,):
    raise ValueError("key must be a jax.random.key or a raw uint32[2] PRNGKey, got "
                     f"{type(key).__name__} with dtype {dtype}.")


def corrupt(x: jax.Array, name: str, severity: int, *, key: jax.Array,
            table: str = "cifar10") -> jax.Array:
  """Applies corruption `name` at `severity` to a batch of images, on device.

  Args:
    x: float images (N, H, W, C) in [0, 1], C = 1 or 3, H and W >= 8.
    name: one of `NAMES` (ImageNet-C spelling), static.
    severity: integer 1..5, static.
    key: a jax.random key; split into one key per image, and within an image into one key per
      random draw. Deterministic corruptions ignore it.
    table: "cifar10" (CIFAR-10-C parameters, 32 px reference) or "imagenet" (ImageNet-C, 224 px);
      pixel-unit parameters scale with min(H, W) / reference size (see module docstring).

  Returns:
    The corrupted images, same shape and dtype as `x`, values in [0, 1].

  Raises:
    ValueError: unknown name or table, severity outside 1..5, bad key, or `x` not a float NHWC
      batch in [0, 1] with 1 or 3 channels (values are checked when `x` is concrete).
  """
  _check_static(name, severity, table)
  validate.check_images(x, name="x")
  if x.shape[-1] not in (1, 3):
    raise ValueError(f"x must have 1 or 3 channels (NHWC), got shape {tuple(x.shape)}.")
  if min(x.shape[1:3]) < MIN_SIZE:
    raise ValueError(f"x must be at least {MIN_SIZE}x{MIN_SIZE} pixels, got {tuple(x.shape)}.")
  _check_key(key)
  return _corrupt(x, key, name=name, severity=int(severity), table=table)


@functools.partial(jax.jit, static_argnames=("name", "severity", "table"))
def _corrupt(x, key, *, name, severity, table):
  n, h, w, _ = x.shape
  scale = min(h, w) / tables.REFERENCE_SIZE[table]
  param = tables.TABLES[table][name][severity - 1]
  fn = _FUNCTIONS[name]
  if name == "frost":
    fn = functools.partial(fn, feature_scale=tables.FROST_FEATURE_SCALE[table])
  # Threefry's original counter scheme draws 3-8x faster on XLA:CPU than the partitionable one;
  # each image has its own key, so a batch sharded across devices still splits along its keys.
  with jax.threefry_partitionable(False):
    keys = jax.random.split(key, n)
    out = jax.vmap(lambda k, img: fn(k, img, param, scale))(keys, x.astype(jnp.float32))
  return out.astype(x.dtype)

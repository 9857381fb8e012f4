"""Image augmentation ops: AugMix's operations, and random crop / flip for training.

The AugMix ops act on ONE image (H, W, C) float in [0, 1] (use `jax.vmap` for a batch) and follow
Pillow's definitions on the 8-bit grid: autocontrast, equalize, posterize, rotate, solarize,
shear_x / shear_y, translate_x / translate_y. AugMix (Hendrycks et al., 2020) leaves out the
ops that overlap the ImageNet-C / CIFAR-10-C test corruptions (contrast, color, brightness,
sharpness, blur, noise, JPEG); so does `OPS` here.

Magnitudes (`apply_op`): each application draws level ~ U(0.1, severity) and, as AugMix's
int_parameter / float_parameter, maps it linearly onto the op's range at level 10:
  posterize: bits = 4 - floor(level * 4 / 10)           (4 bits kept at low levels)
  rotate:    floor(level * 30 / 10) degrees, random sign
  solarize:  threshold = 256 - floor(level * 256 / 10) on the 0..255 grid
  shear_x/y: level * 0.3 / 10, random sign
  translate: floor(level * size / 3 / 10) pixels, random sign (size = W for x, H for y)
autocontrast and equalize have no magnitude. Geometric ops sample bilinearly at pixel centers
(Pillow's affine convention) and fill the outside with 0 (black), as Pillow does.
"""
import jax
import jax.numpy as jnp
from jax import lax

from rvjax import validate

# Pixel-wise ops first, then the geometric (affine) ones; `apply_op` relies on this order.
OPS = ("autocontrast", "equalize", "posterize", "solarize", "rotate", "shear_x", "shear_y",
       "translate_x", "translate_y")


def autocontrast(x: jax.Array) -> jax.Array:
  """Stretches each channel of `x` (H, W, C) linearly so its min -> 0 and max -> 1.

  Constant channels are left unchanged (as Pillow). Float version, no 8-bit truncation.
  """
  lo = jnp.min(x, axis=(0, 1), keepdims=True)
  hi = jnp.max(x, axis=(0, 1), keepdims=True)
  span = hi - lo
  return jnp.where(span > 0, (x - lo) / jnp.where(span > 0, span, 1.0), x)


def equalize(x: jax.Array) -> jax.Array:
  """Pillow's ImageOps.equalize per channel of `x` (H, W, C), on the 0..255 grid.

  With h the 256-bin histogram and step = (N - h[last used level]) // 255, level i maps to
  (step // 2 + sum_{j < i} h[j]) // step; channels with step 0 are left unchanged.
  """
  levels = jnp.clip(jnp.round(x * 255.0), 0, 255).astype(jnp.int32)

  def channel(v, orig):
    hist = jnp.zeros((256,), jnp.int32).at[v.ravel()].add(1)
    last = 255 - jnp.argmax(hist[::-1] > 0)
    step = (v.size - hist[last]) // 255
    safe = jnp.maximum(step, 1)
    lut = jnp.minimum((step // 2 + jnp.cumsum(hist) - hist) // safe, 255)
    return jnp.where(step > 0, lut[v].astype(x.dtype) / 255.0, orig)

  return jax.vmap(channel, in_axes=-1, out_axes=-1)(levels, x)


def posterize(x: jax.Array, bits) -> jax.Array:
  """Keeps the top `bits` (0..8, may be traced) of each 8-bit value: (v & ~(2^(8-bits)-1)) / 255."""
  v = jnp.clip(jnp.round(x * 255.0), 0, 255)
  q = jnp.exp2(8.0 - jnp.asarray(bits, jnp.float32))
  return (jnp.floor(v / q) * q / 255.0).astype(x.dtype)


def solarize(x: jax.Array, threshold) -> jax.Array:
  """Inverts values at or above `threshold` (in [0, 1] units; 1/255 per 8-bit level): 1 - x."""
  return jnp.where(x < threshold, x, 1.0 - x)


def affine(x: jax.Array, matrix) -> jax.Array:
  """Pillow-style affine resampling of `x` (H, W, C), bilinear.

  Output pixel center (u, v) (column, row, from the top-left corner) reads the input at
  (a u + b v + c, d u + e v + f) for matrix = (a, b, c, d, e, f); reads outside the image give 0,
  reads inside use edge-clamped neighbours, as Pillow's Image.transform(AFFINE, BILINEAR).
  """
  a, b, c, d, e, f = (jnp.asarray(m, jnp.float32) for m in matrix)
  h, w = x.shape[:2]
  v, u = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32) + 0.5,
                      jnp.arange(w, dtype=jnp.float32) + 0.5, indexing="ij")
  cols = a * u + b * v + c
  rows = d * u + e * v + f
  inside = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)

  def one(channel):
    return jax.scipy.ndimage.map_coordinates(channel, [rows - 0.5, cols - 0.5], order=1,
                                             mode="nearest")

  return jnp.where(inside[..., None], jax.vmap(one, in_axes=-1, out_axes=-1)(x), 0.0)


def rotation_matrix(degrees, height: int, width: int):
  """Affine matrix of a counter-clockwise rotation by `degrees` about the image center."""
  t = -jnp.deg2rad(jnp.asarray(degrees, jnp.float32))
  cos, sin = jnp.cos(t), jnp.sin(t)
  cx, cy = width / 2.0, height / 2.0
  return (cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy)


def rotate(x: jax.Array, degrees) -> jax.Array:
  """Rotates `x` (H, W, C) counter-clockwise by `degrees` about its center (Pillow's rotate)."""
  return affine(x, rotation_matrix(degrees, *x.shape[:2]))


def shear_x(x: jax.Array, factor) -> jax.Array:
  """Horizontal shear: output (u, v) reads input column u + factor * v."""
  return affine(x, (1.0, factor, 0.0, 0.0, 1.0, 0.0))


def shear_y(x: jax.Array, factor) -> jax.Array:
  """Vertical shear: output (u, v) reads input row v + factor * u."""
  return affine(x, (1.0, 0.0, 0.0, factor, 1.0, 0.0))


def translate_x(x: jax.Array, pixels) -> jax.Array:
  """Output column u reads input column u + pixels (content moves left for pixels > 0)."""
  return affine(x, (1.0, 0.0, pixels, 0.0, 1.0, 0.0))


def translate_y(x: jax.Array, pixels) -> jax.Array:
  """Output row v reads input row v + pixels (content moves up for pixels > 0)."""
  return affine(x, (1.0, 0.0, 0.0, 0.0, 1.0, pixels))


_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def apply_op(key: jax.Array, x: jax.Array, index, severity: float = 3.0) -> jax.Array:
  """Applies OPS[index] (index may be traced) to one image (H, W, C) with a random magnitude.

  The magnitude is drawn from `key` as described in the module docstring; `severity` is static.
  Pixel-wise ops and the affine matrix of the geometric ops are chosen by `lax.switch`, then a
  single affine resampling runs (the identity for pixel-wise ops, which leaves pixels exact).
  """
  h, w = x.shape[:2]
  k_level, k_sign = jax.random.split(key)
  level = jax.random.uniform(k_level, (), minval=0.1, maxval=severity)
  sign = jnp.where(jax.random.bernoulli(k_sign), -1.0, 1.0)

  def as_int(maxval):
    return jnp.floor(level * maxval / 10.0)

  shear = sign * level * 0.3 / 10.0
  pixelwise = (
      lambda img: autocontrast(img),
      lambda img: equalize(img),
      lambda img: posterize(img, 4 - as_int(4)),
      lambda img: solarize(img, (256 - as_int(256)) / 255.0),
      lambda img: img,
  )
  matrices = (
      lambda: tuple(jnp.float32(m) for m in _IDENTITY),
      lambda: rotation_matrix(sign * as_int(30), h, w),
      lambda: (1.0, shear, 0.0, 0.0, 1.0, 0.0),
      lambda: (1.0, 0.0, 0.0, shear, 1.0, 0.0),
      lambda: (1.0, 0.0, sign * as_int(w / 3.0), 0.0, 1.0, 0.0),
      lambda: (1.0, 0.0, 0.0, 0.0, 1.0, sign * as_int(h / 3.0)),
  )
  matrices = tuple(lambda fn=fn: jnp.stack([jnp.asarray(m, jnp.float32) for m in fn()])
                   for fn in matrices)
  n_pixel = len(pixelwise) - 1
  out = lax.switch(jnp.minimum(index, n_pixel), pixelwise, x)
  matrix = lax.switch(jnp.maximum(index - n_pixel + 1, 0), matrices)
  return affine(out, tuple(matrix[i] for i in range(6)))


def random_flip(key: jax.Array, images: jax.Array) -> jax.Array:
  """Flips each image of `images` (N, H, W, C) left-right with probability 1/2."""
  validate.check_images(images)
  flip = jax.random.bernoulli(key, 0.5, (images.shape[0], 1, 1, 1))
  return jnp.where(flip, images[:, :, ::-1], images)


def random_crop(key: jax.Array, images: jax.Array, *, padding: int = 4,
                mode: str = "constant") -> jax.Array:
  """Pads each image of `images` (N, H, W, C) by `padding` px, then crops H x W at random.

  `mode` is a jnp.pad mode ("constant" pads with 0, "reflect", "edge", ...). Same shape out.
  """
  validate.check_images(images)
  validate.check_positive(padding, "padding", allow_zero=True)
  n, h, w, c = images.shape
  padded = jnp.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)), mode=mode)
  offsets = jax.random.randint(key, (n, 2), 0, 2 * padding + 1)

  def crop(img, off):
    return lax.dynamic_slice(img, (off[0], off[1], 0), (h, w, c))

  return jax.vmap(crop)(padded, offsets)

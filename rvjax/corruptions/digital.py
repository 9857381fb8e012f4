"""Digital corruptions: brightness, contrast, saturate, elastic transform, pixelate, JPEG.

Each function corrupts ONE image `x` (H, W, C) in [0, 1] given its `key`, the table entry `c`
and `scale` = min(H, W) / table reference size, which multiplies every pixel-unit parameter.

Grayscale (C = 1): brightness adds to the gray level (the value channel of a gray pixel);
saturate returns the image unchanged, since a gray image has no saturation to scale (the
imagecorruptions package does the same in effect: it keeps the red channel, which equals the
value); jpeg_compression codes the luminance plane only, as a gray JPEG.

Differences from the published scripts:
- jpeg_compression: the original saves a JPEG with Pillow / libjpeg. Here the codec is written
  as array ops: JFIF YCbCr, 4:2:0 chroma (2x2 means, triangle "fancy" upsampling as libjpeg's
  decoder), 8x8 orthonormal DCT, the Annex K luminance / chrominance tables scaled by the IJG
  quality formula, rounding of coefficients, inverse DCT and 8-bit output. It uses a float DCT
  instead of libjpeg's integer one and no entropy coding (lossless, so irrelevant); borders
  are padded to a multiple of 16 by edge replication as libjpeg does.
- pixelate: Pillow's BOX down-sampling to int(c * size) and NEAREST up-sampling, composed
  into one banded filter per axis, without the 8-bit rounding in between.
- elastic_transform: cv2.warpAffine of the random three-point affine (reflect-101 borders)
  and scipy map_coordinates of the smoothed displacement field (reflect borders), both
  bilinear, as published; OpenCV's 1/32-pixel fixed-point coordinates are not reproduced.
"""
import jax
import jax.numpy as jnp
import numpy as np

from rvjax.corruptions import imaging, tables


def brightness(key: jax.Array, x: jax.Array, c: float, scale: float) -> jax.Array:
  """Adds `c` to the HSV value channel (clipped); gray images: clip(x + c)."""
  del key, scale
  if x.shape[-1] == 1:
    return jnp.clip(x + c, 0.0, 1.0)
  hsv = imaging.rgb_to_hsv(x)
  hsv = hsv.at[..., 2].set(jnp.clip(hsv[..., 2] + c, 0.0, 1.0))
  return jnp.clip(imaging.hsv_to_rgb(hsv), 0.0, 1.0)


def contrast(key: jax.Array, x: jax.Array, c: float, scale: float) -> jax.Array:
  """(x - mean) * c + mean with the per-image, per-channel mean."""
  del key, scale
  mean = jnp.mean(x, axis=(0, 1), keepdims=True)
  return jnp.clip((x - mean) * c + mean, 0.0, 1.0)


def saturate(key: jax.Array, x: jax.Array, c, scale: float) -> jax.Array:
  """HSV saturation s -> clip(s * c0 + c1); gray images are returned unchanged."""
  del key, scale
  if x.shape[-1] == 1:
    return x
  factor, offset = c
  hsv = imaging.rgb_to_hsv(x)
  hsv = hsv.at[..., 1].set(jnp.clip(hsv[..., 1] * factor + offset, 0.0, 1.0))
  return jnp.clip(imaging.hsv_to_rgb(hsv), 0.0, 1.0)


def elastic_transform(key: jax.Array, x: jax.Array, c, scale: float) -> jax.Array:
  """Random affine warp then a smoothed random displacement field.

  c = (displacement alpha, displacement sigma, affine jitter), all in pixels.
  """
  alpha, sigma, jitter = (v * scale for v in c)
  h, w = x.shape[:2]
  u = jax.random.uniform(key, (h * w * 2 + 6,), minval=-1.0, maxval=1.0)
  # Three points around the center (as (col, row)) move by up to `jitter` pixels.
  cy, cx, side = h // 2, w // 2, min(h, w) // 3
  src = np.array([[cx + side, cy + side], [cx + side, cy - side], [cx - side, cy - side]],
                 np.float32)
  dst = src + jitter * u[:6].reshape(3, 2)
  # Inverse map: output pixel (col, row, 1) @ inv -> source (col, row).
  inv = jnp.linalg.solve(jnp.concatenate([dst, jnp.ones((3, 1))], axis=1), jnp.asarray(src))
  rows, cols = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                            indexing="ij")
  src_cols = cols * inv[0, 0] + rows * inv[1, 0] + inv[2, 0]
  src_rows = cols * inv[0, 1] + rows * inv[1, 1] + inv[2, 1]
  x = imaging.sample_bilinear(x, src_rows, src_cols, mode="mirror")
  if alpha > 0:
    noise = u[6:].reshape(h, w, 2)
    field = alpha * imaging.gaussian_blur(noise, sigma, truncate=3.0, mode="symmetric")
    x = imaging.sample_bilinear(x, rows + field[..., 1], cols + field[..., 0], mode="reflect")
  return jnp.clip(x, 0.0, 1.0)


def pixelate_band(n: int, n_small: int):
  """Pillow's BOX down-sampling from `n` to `n_small` then NEAREST back to `n`, along one axis.

  That composite replaces each pixel by the mean of the 1-4 pixels of its box, a banded (n, n)
  matrix P. Returns (radius, weights (2 radius + 1, n)): out[j] = sum_t weights[t, j] *
  in[j + t - radius], the taps outside the image having weight 0.
  """
  down = imaging.box_resize_matrix(n, n_small)
  nearest = np.argmax(imaging.box_resize_matrix(n_small, n), axis=1)
  band = down[nearest]
  rows, cols = np.nonzero(band)
  radius = int(np.abs(cols - rows).max())
  weights = np.zeros((2 * radius + 1, n), np.float32)
  weights[cols - rows + radius, rows] = band[rows, cols]
  return radius, weights


def pixelate(key: jax.Array, x: jax.Array, c: float, scale: float) -> jax.Array:
  """Box-downsample to int(c * size) pixels, then nearest-upsample back; c is a ratio.

  Computed at full size as shifted copies of the image times static weights (`pixelate_band`),
  with no gathers (slow on XLA:CPU): in one pass over all row x column offsets when there are
  at most 25 (band radius <= 2: c >= 0.4 at 224 px, every table entry at 32 px), else one axis
  after the other, since XLA:CPU's single fusions of more terms slow down several-fold.
  """
  del key, scale
  h, w = x.shape[:2]
  (rh, wh), (rw, ww) = (pixelate_band(n, max(1, int(n * c))) for n in (h, w))
  if (2 * rh + 1) * (2 * rw + 1) <= 25:
    padded = jnp.pad(x, ((rh, rh), (rw, rw), (0, 0)))
    x = sum(padded[i:i + h, j:j + w]
            * (jnp.asarray(wi)[:, None, None] * jnp.asarray(wj)[None, :, None])
            for i, wi in enumerate(wh) for j, wj in enumerate(ww))
  else:
    for axis, (radius, weights) in enumerate(((rh, wh), (rw, ww))):
      n = x.shape[axis]
      pads = [(0, 0)] * 3
      pads[axis] = (radius, radius)
      padded = jnp.pad(x, pads)
      shape = [1, 1, 1]
      shape[axis] = n
      x = sum(jax.lax.slice_in_dim(padded, t, t + n, axis=axis) * w.reshape(shape)
              for t, w in enumerate(weights) if w.any())
  return jnp.clip(x, 0.0, 1.0)


def quantization_table(base, quality: int) -> np.ndarray:
  """IJG scaling of a base 8x8 table to `quality` in 1..100, entries in [1, 255]."""
  quality = min(max(int(quality), 1), 100)
  factor = 5000 // quality if quality < 50 else 200 - 2 * quality
  table = (np.asarray(base, np.int64) * factor + 50) // 100
  return np.clip(table, 1, 255).reshape(8, 8).astype(np.float32)


def dct_matrix(dtype=np.float32) -> np.ndarray:
  """(8, 8) orthonormal DCT-II matrix D (row u = frequency u): coef = D @ block @ D.T."""
  k = np.arange(8)[:, None]
  n = np.arange(8)[None, :]
  d = np.cos((2 * n + 1) * k * np.pi / 16) * np.sqrt(2 / 8)
  d[0] /= np.sqrt(2)
  return d.astype(dtype)


def block_dct_matrix() -> np.ndarray:
  """(64, 64) 2-D DCT of a row-major 8x8 block: coef.ravel() = K @ block.ravel(), K = D (x) D.

  Built in float64 and rounded once, so the rows of the frequencies (u, v) in {0, 4}^2 hold
  exactly +-1/8: those four coefficients of a block of 8-bit samples are rational and exact in
  float32, and one exactly halfway between two quantization steps always rounds the same way
  (half to even), as in an exact computation.
  """
  d = dct_matrix(np.float64)
  return np.kron(d, d).astype(np.float32)


def _code_blocks(plane, qtables):
  """JPEG-codes `plane` (H, W) of 8-bit samples, H and W multiples of 8: level shift, 8x8 DCT,
  quantization by `qtables` (H / 8, 1, 64) (block row, -, row-major u v), dequantization,
  inverse DCT.

  Blocks are gathered into rows of 64 (one transpose each way, which XLA fuses into the
  neighbouring colour conversions) so that each DCT is one (blocks, 64) x (64, 64) matmul:
  on CPU this beats four 8-point passes, whose inner transposes cost more than their matmuls.
  """
  h, w = plane.shape
  k = block_dct_matrix()
  hi = jax.lax.Precision.HIGHEST
  blocks = plane.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3).reshape(h // 8, w // 8, 64)
  coef = jnp.dot(blocks - 128.0, k.T, precision=hi)
  coef = jnp.round(coef / qtables) * qtables
  blocks = jnp.dot(coef, k, precision=hi) + 128.0
  return blocks.reshape(h // 8, w // 8, 8, 8).transpose(0, 2, 1, 3).reshape(h, w)


def _upsample_rows(v):
  """libjpeg's "fancy" vertical 2x upsampling of `v` (h, w) -> (2 h, w): each output row is
  3/4 of its source row plus 1/4 of the source row on its side (edge rows repeat).

  Written as one select between the rows above and below, broadcast over the pair of output
  rows, rather than a stack of two half-results: XLA:CPU fuses the select into its consumer,
  while a stack (a concatenate) in a fusion costs several times more.
  """
  h, w = v.shape
  padded = jnp.concatenate([v[:1], v, v[-1:]])
  upper = np.array([True, False])[None, :, None]  # output row 2 i takes row i - 1, 2 i + 1 row i + 1
  side = jnp.where(upper, padded[:-2, None], padded[2:, None])
  return (0.75 * v[:, None] + 0.25 * side).reshape(2 * h, w)


def fancy_upsample_matrix() -> np.ndarray:
  """(10, 16) weights of libjpeg's "fancy" 2x upsampling of 8 samples along a row.

  Input: the 8 samples, then the sample left of them and the one right of them (the edge
  sample itself at the image borders); output: the 16 upsampled values, each 3/4 of its own
  sample plus 1/4 of the neighbour on its side.
  """
  u = np.zeros((10, 16), np.float32)
  for j in range(8):
    u[j, 2 * j:2 * j + 2] = 0.75
    u[j - 1 if j else 8, 2 * j] = 0.25
    u[j + 1 if j < 7 else 9, 2 * j + 1] = 0.25
  return u


def _ycc_to_rgb(y, cb, cr):
  """(H, W, 3) RGB from luma `y` (H, W) and centered chroma `cb`, `cr` (H / 2, W / 2), W / 2 a
  multiple of 8, upsampled by `fancy_upsample_matrix` along rows and `_upsample_rows`.

  The horizontal upsampling and the chroma part of the JFIF matrix are one matmul over groups of 8
  chroma samples (with their two neighbours) giving 16 pixels x 3 channels: no interleaving
  of half-width planes or of channels, which XLA:CPU runs slowly. All three steps are linear, so
  the vertical upsampling comes last, on the (H / 2, W, 3) chroma part of RGB: the matmul runs on
  half the rows and no upsampled chroma plane is stored.
  """
  h, n = cb.shape
  def groups(c):
    left = jnp.concatenate([c[:, :1], c[:, 7:n - 1:8]], axis=1)[..., None]
    right = jnp.concatenate([c[:, 8::8], c[:, n - 1:]], axis=1)[..., None]
    return [c.reshape(h, n // 8, 8), left, right]
  u = fancy_upsample_matrix()[:, :, None]
  m = np.concatenate([u * np.float32([0.0, -0.344136, 1.772]),
                      u * np.float32([1.402, -0.714136, 0.0])]).reshape(20, 48)
  chroma = jnp.dot(jnp.concatenate(groups(cb) + groups(cr), axis=-1), m,
                   precision=jax.lax.Precision.HIGHEST)
  return y[..., None] + _upsample_rows(chroma.reshape(h, 6 * n)).reshape(2 * h, 2 * n, 3)


def jpeg_compression(key: jax.Array, x: jax.Array, c: int, scale: float) -> jax.Array:
  """JPEG round trip at quality `c` (baseline tables, 4:2:0 chroma), output on the 8-bit grid.

  The luma plane and the two subsampled chroma planes (side by side below it) are coded as one
  plane, each block row with its table.
  """
  del key, scale
  h, w, channels = x.shape
  ph, pw = -h % 16, -w % 16
  v = jnp.pad(x, ((0, ph), (0, pw), (0, 0)), mode="edge") * 255.0
  hh = v.shape[0]
  luma_q = quantization_table(tables.JPEG_LUMINANCE, c).reshape(1, 64)
  if channels == 1:
    qtables = np.broadcast_to(luma_q, (hh // 8, 1, 64))
    return jnp.clip(jnp.round(_code_blocks(jnp.round(v[..., 0]), qtables)), 0.0, 255.0)[
        :h, :w, None] / 255.0
  r, g, b = v[..., 0], v[..., 1], v[..., 2]
  y = jnp.round(0.299 * r + 0.587 * g + 0.114 * b)
  cb = jnp.round(-0.168736 * r - 0.331264 * g + 0.5 * b + 128.0)
  cr = jnp.round(0.5 * r - 0.418688 * g - 0.081312 * b + 128.0)
  half = [(p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]) / 4 for p in (cb, cr)]
  chroma_q = quantization_table(tables.JPEG_CHROMINANCE, c).reshape(1, 64)
  qtables = np.concatenate([np.broadcast_to(luma_q, (hh // 8, 1, 64)),
                            np.broadcast_to(chroma_q, (hh // 16, 1, 64))])
  coded = _code_blocks(jnp.concatenate([y, jnp.concatenate(half, axis=1)]), qtables)
  cb, cr = (p - 128.0 for p in jnp.split(coded[hh:], 2, axis=1))
  out = _ycc_to_rgb(coded[:hh], cb, cr)
  return jnp.clip(jnp.round(out), 0.0, 255.0)[:h, :w] / 255.0

"""A differentiable, domain-randomized digit renderer in JAX, and the "syndigits" dataset.

Each image: the digit's stroke skeleton (rvjax.data.glyphs) gets control-point jitter, an affine
map (rotation, scale, shear, translation) and a smooth elastic warp; optional distractor strokes
are added; a soft distance-to-stroke field on a grid `supersample` times finer than the output is
turned into ink by a sigmoid of (thickness - distance), area-downsampled to `size`, composited
over a background (flat, gradient, checker or texture), inverted with some probability, blurred
and made noisy. With the "none" preset this is a white digit on black, like scikit-learn's
digits (whose 8x8 images are 4x4 block counts of 32x32 bitmaps: the same area downsampling).

Every random choice is drawn from the key; continuous knobs enter as lo + u * (hi - lo), so
images are differentiable in the ranges' ends (the probabilities and background weights choose
discrete events and get no gradient).
"""
import jax
import jax.numpy as jnp
import numpy as np

from rvjax import validate
from rvjax.data import dataset as dataset_lib
from rvjax.data import fonts, glyphs
from rvjax.data import knobs as knobs_lib

GLYPH_BOX = (0.6, 0.8)  # Width and height of the unit glyph box, as fractions of the image.
ELASTIC_WAVES = 3
BLUR_TAPS = 3  # Gaussian taps on each side.
SPLIT_SEEDS = {"train": 0, "val": 1, "test": 2}
DEFAULT_NUM = {"train": 5000, "val": 1000, "test": 1000}
CHUNK = 1000  # Images rendered per jitted call when building a dataset.


def _draw(key, rng):
  """A value uniform in [rng[0], rng[1]], differentiable in both ends."""
  return rng[0] + jax.random.uniform(key) * (rng[1] - rng[0])


def _segment_ink(px, py, a, b, valid, thickness, softness):
  """Soft ink (P,) at points (px, py) (P,) of segments a, b (S, 2) with mask `valid` (S,).

  The segments are visited one at a time (S is static) with a running minimum of the squared
  distance, which XLA fuses into one pass over the points: a (P, S) distance table reduced over
  S, or indexing a[s, 0] inside the loop, ran ~30x slower on CPU under the renderer's vmap.
  x and y are kept apart: a trailing axis of size 2 vectorizes poorly.
  """
  ab = b - a
  inv = 1.0 / (ab[:, 0] * ab[:, 0] + ab[:, 1] * ab[:, 1] + 1e-9)
  # The per-segment scalars are computed once: the barrier keeps XLA from fusing them (and the
  # segments' geometry: warp sinusoids, affine maps) into the loop, once per point.
  per_segment = jax.lax.optimization_barrier(
      (a[:, 0], a[:, 1], ab[:, 0], ab[:, 1], inv, 1e3 * (1.0 - valid)))
  d2 = jnp.full(px.shape, jnp.inf, px.dtype)
  for ax, ay, abx, aby, inv_s, penalty in zip(*(jnp.unstack(c) for c in per_segment)):
    apx, apy = px - ax, py - ay
    t = jnp.clip((apx * abx + apy * aby) * inv_s, 0.0, 1.0)
    dx, dy = apx - t * abx, apy - t * aby
    d2 = jnp.minimum(d2, dx * dx + dy * dy + penalty)
  dist = jnp.sqrt(d2 + 1e-12)
  return jax.nn.sigmoid((thickness - dist) / softness)


def _warp(key, pts, amplitude):
  """Smooth random displacement of (S, 2) points: a sum of ELASTIC_WAVES random sinusoids."""
  kf, kp = jax.random.split(key)
  freq = jax.random.uniform(kf, (2, ELASTIC_WAVES, 2), minval=-1.5, maxval=1.5)
  phase = jax.random.uniform(kp, (2, ELASTIC_WAVES), maxval=2 * jnp.pi)
  waves = jnp.sin(2 * jnp.pi * jnp.einsum("sd,awd->saw", pts, freq) + phase)
  return pts + amplitude * jnp.sum(waves, -1) / np.sqrt(ELASTIC_WAVES)


def _background(key, weights, size):
  """A (size, size) pattern in [-1, 1] of a kind drawn with probabilities ~ `weights`."""
  kk, ka, kf, kp = jax.random.split(key, 4)
  yy, xx = jnp.meshgrid(*(2 * [(jnp.arange(size) + 0.5) / size]), indexing="ij")
  angle = jax.random.uniform(ka, (3,), maxval=2 * jnp.pi)
  freq = jax.random.uniform(kf, (3,), minval=1.0, maxval=4.0)
  phase = jax.random.uniform(kp, (3,), maxval=2 * jnp.pi)
  proj = jnp.cos(angle)[:, None, None] * xx + jnp.sin(angle)[:, None, None] * yy
  gradient = 2.0 * (proj[0] - jnp.min(proj[0])) / (jnp.ptp(proj[0]) + 1e-6) - 1.0
  checker = jnp.tanh(4.0 * jnp.sin(jnp.pi * freq[0] * xx + phase[0])
                     * jnp.sin(jnp.pi * freq[0] * yy + phase[1]))
  texture = jnp.mean(jnp.sin(2 * jnp.pi * freq[:, None, None] * proj + phase[:, None, None]), 0)
  kinds = jnp.stack([jnp.zeros_like(xx), gradient, checker, texture])
  logits = jnp.where(weights > 0, jnp.log(jnp.maximum(weights, 1e-30)), -jnp.inf)
  return kinds[jax.random.categorical(kk, logits)]


def _blur(image, sigma):
  """Separable Gaussian blur of (H, W, C) with std `sigma` pixels (edge padding)."""
  taps = jnp.arange(-BLUR_TAPS, BLUR_TAPS + 1, dtype=jnp.float32)
  w = jnp.exp(-taps ** 2 / (2 * jnp.maximum(sigma, 1e-2) ** 2))
  w = w / jnp.sum(w)
  h, wd = image.shape[:2]
  pad = jnp.pad(image, ((BLUR_TAPS, BLUR_TAPS), (0, 0), (0, 0)), mode="edge")
  image = sum(w[i] * pad[i:i + h] for i in range(len(taps)))
  pad = jnp.pad(image, ((0, 0), (BLUR_TAPS, BLUR_TAPS), (0, 0)), mode="edge")
  return sum(w[i] * pad[:, i:i + wd] for i in range(len(taps)))


def _template_ink(template, px, py, affine, shift, warp):
  """Ink (P,) at points (px, py) of a (G, G) glyph bitmap mapped like the strokes' unit box."""
  pts = jnp.stack([px, py], -1)
  pts = pts - (warp(pts) - pts)  # first-order inverse of the elastic displacement
  q = (pts - 0.5 - shift) @ jnp.linalg.inv(affine).T / jnp.asarray(GLYPH_BOX) + 0.5
  g = template.shape[0]
  coords = [q[:, 1] * g - 0.5, q[:, 0] * g - 0.5]  # (row, col) in pixel units
  return jax.scipy.ndimage.map_coordinates(template, coords, order=1, mode="constant")


def _render_one(key, label, k: knobs_lib.Knobs, size: int, channels: int, supersample: int,
                templates):
  control, start, end, valid = (jnp.asarray(t) for t in glyphs.tables())
  keys = iter(jax.random.split(key, 24))
  fine = size * supersample
  # Geometry on the control points, then the (linear) curve sampling into segments.
  cp = control[label] + _draw(next(keys), k.jitter) * jax.random.normal(next(keys),
                                                                        control.shape[1:])
  theta = jnp.deg2rad(_draw(next(keys), k.rotation))
  rot = jnp.array([[jnp.cos(theta), -jnp.sin(theta)], [jnp.sin(theta), jnp.cos(theta)]])
  shear = jnp.array([[1.0, _draw(next(keys), k.shear)], [0.0, 1.0]])
  affine = _draw(next(keys), k.scale) * rot @ shear
  shift = jnp.stack([_draw(next(keys), k.translation), _draw(next(keys), k.translation)])
  cp = 0.5 + ((cp - 0.5) * jnp.asarray(GLYPH_BOX)) @ affine.T + shift
  a, b = start[label] @ cp, end[label] @ cp
  kw = next(keys)
  amplitude = _draw(next(keys), k.elastic)
  warp = lambda p: _warp(kw, p, amplitude)
  a, b = warp(a), warp(b)
  # Two distractor strokes, each present with probability k.distractors.
  ends = jax.random.uniform(next(keys), (2, 2, 2), minval=0.05, maxval=0.95)
  present = jax.random.bernoulli(next(keys), k.distractors, (2,)).astype(jnp.float32)
  a = jnp.concatenate([a, ends[:, 0]])
  b = jnp.concatenate([b, ends[:, 1]])
  glyph_mask = valid[label] if templates is None else jnp.zeros_like(valid[label])
  mask = jnp.concatenate([glyph_mask, present])
  # Soft rasterization on the fine grid, then area downsampling.
  centers = (jnp.arange(fine, dtype=jnp.float32) + 0.5) / fine
  yy, xx = jnp.meshgrid(centers, centers, indexing="ij")
  ink = _segment_ink(xx.ravel(), yy.ravel(), a, b, mask, _draw(next(keys), k.thickness),
                     0.5 / fine)
  if templates is not None:
    ink = jnp.maximum(ink, _template_ink(templates[label], xx.ravel(), yy.ravel(), affine, shift,
                                         warp))
  ink = ink.reshape(size, supersample, size, supersample).mean((1, 3))[..., None]
  # Compositing: background, ink intensity, colour, inversion, blur, noise.
  level = _draw(next(keys), k.background_level)
  bg = level + _draw(next(keys), k.pattern) * _background(next(keys), k.background, size)
  fg = level + _draw(next(keys), k.contrast) * (1.0 - level)
  color = _draw(next(keys), k.color)
  tint_bg = 1.0 - color * jax.random.uniform(next(keys), (channels,))
  tint_fg = 1.0 - color * jax.random.uniform(next(keys), (channels,))
  if channels == 1:
    tint_bg, tint_fg = jnp.ones(1), jnp.ones(1)
  image = (1.0 - ink) * jnp.clip(bg, 0.0, 1.0)[..., None] * tint_bg + ink * fg * tint_fg
  flip = jax.random.bernoulli(next(keys), k.invert).astype(jnp.float32)
  image = flip * (1.0 - image) + (1.0 - flip) * image
  image = _blur(image, _draw(next(keys), k.blur))
  image = image + _draw(next(keys), k.noise) * jax.random.normal(next(keys), image.shape)
  return jnp.clip(image, 0.0, 1.0)


def render(key: jax.Array, labels: jax.Array, knobs: knobs_lib.Knobs, size: int, *,
           channels: int = 1, supersample: int = 2, glyph_images=None) -> jax.Array:
  """Renders one digit per label with knobs drawn independently per image.

  Args:
    key: a PRNG key; image i uses fold_in(key, i), so a batch's images do not depend on its size.
    labels: (N,) int32 digits in [0, 9].
    knobs: `rvjax.data.knobs.Knobs` (e.g. `knobs.make("full_dr")`); may be traced.
    size: output side in pixels (static), e.g. 8, 28 or 32.
    channels: 1 (grey) or 3 (RGB with `knobs.color` tinting), static.
    supersample: the distance field is evaluated on a (size * supersample)^2 grid, static.
    glyph_images: None (stroke skeletons), or (10, G, G) font bitmaps in [0, 1] from
      `rvjax.data.fonts.glyph_images`, warped instead of the strokes.

  Returns:
    (N, size, size, channels) float32 in [0, 1]; jit-able, vmap-able, and differentiable in the
    knobs' continuous ranges.
  """
  validate.check_labels(labels, 10, name="digit labels")
  if channels not in (1, 3):
    raise ValueError(f"channels must be 1 or 3, got {channels}.")
  validate.check_positive(size, "size")
  validate.check_positive(supersample, "supersample")
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(labels.shape[0]))
  templates = None if glyph_images is None else jnp.asarray(glyph_images, jnp.float32)
  if templates is not None and (templates.ndim != 3 or templates.shape[0] != 10):
    raise ValueError(f"glyph_images must have shape (10, G, G), got {templates.shape}.")
  return jax.vmap(lambda kk, y: _render_one(kk, y, knobs, size, channels, supersample,
                                            templates))(keys, labels)


_render_jit = jax.jit(render, static_argnames=("size", "channels", "supersample"))


def load(split: str, *, preset: str = "full_dr", size: int = 8, num: int | None = None,
         channels: int = 1, seed: int = 0, knobs: dict | None = None,
         font: str = "") -> dataset_lib.Dataset:
  """The seeded synthetic digits `split`: `num` images (default 5000 train, 1000 val/test), the
  ten classes balanced and shuffled, rendered with `preset` plus `knobs` overrides.

  The same (split, seed, preset, knobs, size, num) always gives the same images; the splits use
  different streams. `font`: a font file whose glyphs replace the strokes (rvjax.data.fonts).
  Returns (num, size, size, channels) float32 in [0, 1] and int32 labels.
  """
  num = DEFAULT_NUM[split] if num is None else int(num)
  validate.check_positive(num, "num")
  k = knobs_lib.make(preset, **dict(knobs or {}))
  templates = fonts.glyph_images(font, 8 * size) if font else None
  rng = np.random.default_rng([seed, SPLIT_SEEDS[split]])
  labels = rng.permutation(np.arange(num) % 10).astype(np.int32)
  key = jax.random.fold_in(jax.random.key(seed), SPLIT_SEEDS[split])
  chunks, width = [], min(CHUNK, num)
  for lo in range(0, num, width):
    chunk = np.zeros(width, np.int32)
    chunk[:min(width, num - lo)] = labels[lo:lo + width]
    out = _render_jit(jax.random.fold_in(key, lo), jnp.asarray(chunk), k, size=size,
                      channels=channels, glyph_images=templates)
    chunks.append(np.asarray(out)[:num - lo])
  return dataset_lib.make_dataset(np.concatenate(chunks), labels, 10, name=f"syndigits/{split}")

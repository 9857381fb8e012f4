"""The synthetic digit renderer: determinism, gradients, each knob's effect, link to real digits."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvjax import data
from rvjax.data import fonts, glyphs, knobs, synthetic

pytestmark = pytest.mark.usefixtures("fast_compile")

LABELS = jnp.arange(20, dtype=jnp.int32) % 10
render = jax.jit(synthetic.render, static_argnames=("size", "channels", "supersample"))


def _mean_of(key_seed=0, size=8, **overrides):
  """Images of LABELS with the canonical knobs plus `overrides`."""
  return np.asarray(render(jax.random.key(key_seed), LABELS, knobs.make("none", **overrides),
                           size=size))


def test_shapes_range_and_determinism():
  full = knobs.make("full_dr")
  a = render(jax.random.key(3), LABELS, full, size=8)
  b = render(jax.random.key(3), LABELS, full, size=8)
  c = render(jax.random.key(4), LABELS, full, size=8)
  assert a.shape == (20, 8, 8, 1) and a.dtype == jnp.float32
  assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
  np.testing.assert_array_equal(a, b)
  assert float(jnp.abs(a - c).mean()) > 0.01
  # Image i depends on (key, i) only, not on the batch it is rendered in.
  np.testing.assert_allclose(render(jax.random.key(3), LABELS[:5], full, size=8), a[:5],
                             atol=1e-6)
  rgb = render(jax.random.key(3), LABELS[:4], full, size=32, channels=3)
  assert rgb.shape == (4, 32, 32, 3)


def test_glyph_tables_sample_the_curve_ends():
  control, start, end, valid = glyphs.tables()
  # Digit 7's first stroke is the line (0.1, 0) -> (0.9, 0): one segment with exactly those ends.
  np.testing.assert_allclose(start[7, 0] @ control[7], [0.1, 0.0], atol=1e-6)
  np.testing.assert_allclose(end[7, 0] @ control[7], [0.9, 0.0], atol=1e-6)
  # Consecutive segments of a Bezier chain connect; a closed loop ends where it starts.
  n0 = int(valid[0].sum())
  np.testing.assert_allclose(end[0, :n0 - 1] @ control[0], start[0, 1:n0] @ control[0],
                             atol=1e-6)
  np.testing.assert_allclose(end[0, n0 - 1] @ control[0], start[0, 0] @ control[0], atol=1e-6)
  # Each row of a sampling matrix is an affine combination (weights sum to 1) for real segments.
  np.testing.assert_allclose(start.sum(-1)[valid > 0], 1.0, atol=1e-6)


def test_stroke_ink_matches_numpy_point_to_segment_distances():
  """The fused per-segment loop equals sigmoid((thickness - d) / softness), d the numpy
  distance to the nearest valid segment (projection clipped to the segment's ends)."""
  rng = np.random.default_rng(0)
  px, py = rng.uniform(size=(2, 50)).astype(np.float32)
  a, b = rng.uniform(size=(2, 7, 2)).astype(np.float32)
  b[3] = a[3]  # a degenerate (point) segment
  valid = np.array([1, 1, 0, 1, 1, 0, 1], np.float32)
  ink = jax.jit(synthetic._segment_ink)(px, py, a, b, valid, 0.05, 0.01)
  p = np.stack([px, py], -1)[:, None].astype(np.float64)  # (P, 1, 2)
  ab = (b - a)[None].astype(np.float64)
  t = np.clip(np.sum((p - a) * ab, -1) / np.maximum(np.sum(ab ** 2, -1), 1e-30), 0, 1)
  d = np.linalg.norm(p - a - t[..., None] * ab, axis=-1)[:, valid > 0].min(1)
  np.testing.assert_allclose(ink, 1 / (1 + np.exp(-(0.05 - d) / 0.01)), atol=2e-5)


def test_gradient_wrt_knobs_is_finite_and_nonzero():
  def ink_mass(k):
    return jnp.sum(synthetic.render(jax.random.key(0), LABELS[:4], k, 8))
  grads = jax.grad(ink_mass)(knobs.make("full_dr"))
  for name in ("thickness", "contrast", "background_level"):
    g = np.asarray(getattr(grads, name))
    assert np.all(np.isfinite(g)) and np.abs(g).sum() > 1e-3, name
  assert float(jax.grad(ink_mass)(knobs.make("none")).thickness.sum()) > 0  # thicker -> more ink


@pytest.mark.parametrize("knob, low, high, direction", [
    ("thickness", 0.05, 0.12, +1),  # thicker strokes: more ink
    ("contrast", 0.3, 1.0, +1),  # brighter ink on the black background
    ("background_level", 0.0, 0.5, +1),  # brighter background
    ("blur", 0.0, 1.5, -1),  # blur spreads and lowers the peaks: smaller max
    ("scale", 0.7, 1.3, +1),  # bigger glyph: longer strokes, more ink
])
def test_each_knob_moves_the_image_in_the_expected_direction(knob, low, high, direction):
  stat = (lambda x: x.max((1, 2, 3)).mean()) if knob == "blur" else (lambda x: x.mean())
  lo, hi = stat(_mean_of(**{knob: low})), stat(_mean_of(**{knob: high}))
  assert direction * (hi - lo) > 0.01, (knob, lo, hi)


def test_geometry_noise_inversion_and_distractors():
  base = _mean_of()
  inverted = _mean_of(invert=1.0)
  np.testing.assert_allclose(inverted, 1.0 - base, atol=1e-5)  # inversion flips every pixel
  # Translation moves the ink's centre of mass by the shift (x right).
  cols = np.arange(8) + 0.5
  com = lambda x: (x.sum((1, 3)) * cols).sum(-1).mean() / x.sum((1, 3)).sum(-1).mean()
  shifted = _mean_of(translation=0.125)  # 1 pixel at 8x8, in both x and y
  assert 0.7 < com(shifted) - com(base) < 1.3
  # Rotating the upright "1" by 45 degrees spreads its ink over more columns.
  one = lambda x: x[1, ..., 0]
  rot = _mean_of(rotation=45.0)
  assert (one(rot).sum(0) > 0.2).sum() > (one(base).sum(0) > 0.2).sum()
  # Noise, jitter, elastic warp, shear and distractors all change the image.
  for knob, value in [("noise", 0.1), ("jitter", 0.05), ("elastic", 0.05), ("shear", 0.4),
                      ("distractors", 1.0), ("pattern", 0.4)]:
    over = {"background": (0, 0, 0, 1)} if knob == "pattern" else {}
    assert np.abs(_mean_of(**{knob: value}, **over) - base).mean() > 0.005, knob
  assert _mean_of(distractors=1.0).mean() > base.mean()  # distractor strokes add ink


def test_bad_knobs_are_refused():
  with pytest.raises(ValueError, match="Unknown renderer knob.*thicknes"):
    knobs.make("none", thicknes=0.1)
  with pytest.raises(ValueError, match="'thickness'.*0.02"):
    knobs.make("none", thickness=(0.1, 0.5))
  with pytest.raises(ValueError, match="'rotation'.*lo <= hi"):
    knobs.make("none", rotation=(10.0, -10.0))
  with pytest.raises(ValueError, match="'invert' is a probability"):
    knobs.make("none", invert=1.5)
  with pytest.raises(ValueError, match="'background'.*non-negative"):
    knobs.make("none", background=(1, -1, 0, 0))
  with pytest.raises(ValueError, match="Unknown knob preset 'all'"):
    knobs.make("all")
  with pytest.raises(ValueError, match="digit labels must lie in"):
    synthetic.render(jax.random.key(0), jnp.array([3, 10]), knobs.make(), 8)


def test_syndigits_dataset_is_seeded_balanced_and_split():
  a = data.load("syndigits", "val", preset="full_dr", num=30)
  b = data.load("syndigits", "val", preset="full_dr", num=30)
  t = data.load("syndigits", "train", preset="full_dr", num=30)
  assert isinstance(a, data.Dataset) and a.images.shape == (30, 8, 8, 1) and a.num_classes == 10
  np.testing.assert_array_equal(a.images, b.images)
  np.testing.assert_array_equal(np.bincount(a.labels), np.full(10, 3))
  assert np.abs(a.images - t.images).mean() > 0.01  # the splits are different draws
  with pytest.raises(ValueError, match="data_dir must be None"):
    data.load("syndigits", "val", data_dir="/tmp")


@pytest.fixture(scope="module")
def real_classifier():
  """Logistic regression fit on the real scikit-learn digits train split only."""
  from sklearn.linear_model import LogisticRegression
  real = data.load("digits", "train")
  return LogisticRegression(max_iter=2000).fit(real.images.reshape(len(real), -1), real.labels)


def test_canonical_digits_are_recognized_by_a_real_digits_classifier(real_classifier):
  """The sanity link to the real domain: all ten canonical renderings are read correctly."""
  canonical = _mean_of()[:10].reshape(10, -1)
  np.testing.assert_array_equal(real_classifier.predict(canonical), np.arange(10))


def test_font_glyph_source(real_classifier, tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    fonts.glyph_images(str(tmp_path / "nope.ttf"))
  with pytest.raises(FileNotFoundError, match="does not exist"):
    data.load("syndigits", "val", num=10, font=str(tmp_path / "nope.ttf"))
  # matplotlib (a dependency) ships DejaVu Sans, so no system font is needed.
  import matplotlib
  font = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf")
  g = fonts.glyph_images(font, 32)
  assert g.shape == (10, 32, 32) and g.max() > 0.9 and g[1].sum() < g[8].sum()
  images = np.asarray(render(jax.random.key(0), LABELS[:10], knobs.make("none"), size=8,
                             glyph_images=g))
  assert np.abs(images - _mean_of()[:10]).mean() > 0.01  # not the strokes
  # Thin font glyphs are a shifted domain; most are still read correctly.
  assert (real_classifier.predict(images.reshape(10, -1)) == np.arange(10)).sum() >= 6

"""AugMix: shapes, range, keys, jit / vmap, input checks; the JSD consistency loss."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage import data, transform

from rvjax.augment import augmix, jsd_consistency


pytestmark = pytest.mark.usefixtures("fast_compile")  # Small graphs: optimizing costs more.


@pytest.fixture(scope="module")
def images():
  a = transform.resize(data.astronaut(), (32, 32), anti_aliasing=True)
  c = transform.resize(data.coffee(), (32, 32), anti_aliasing=True)
  return jnp.asarray(np.stack([a, c, a]), jnp.float32)  # images 0 and 2 are equal


@pytest.fixture(scope="module")
def run():
  return jax.jit(augmix)


def test_augmix_shapes_range_and_keys(images, run):
  k1, k2 = jax.random.key(1), jax.random.key(2)
  out = np.asarray(run(k1, images))
  assert out.shape == images.shape and out.dtype == np.float32
  assert out.min() >= 0.0 and out.max() <= 1.0
  np.testing.assert_array_equal(out, run(k1, images))  # deterministic per key
  assert not np.array_equal(out, run(k2, images))
  assert not np.array_equal(out[0], out[2])  # equal images, own randomness
  assert np.abs(out - np.asarray(images)).mean() > 1e-3


def test_augmix_under_vmap_and_fixed_depth(images):
  keys = jax.random.split(jax.random.key(0), 2)
  out = jax.jit(jax.vmap(lambda k: augmix(k, images[:1], width=2, depth=2, severity=1)))(keys)
  assert out.shape == (2, 1, 32, 32, 3)
  assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("kwargs", [dict(width=0), dict(depth=(0, 2)), dict(depth=(3, 1)),
                                    dict(depth="deep"), dict(severity=0), dict(severity=11),
                                    dict(alpha=0.0)])
def test_augmix_bad_arguments(kwargs, images):
  with pytest.raises(ValueError):
    augmix(jax.random.key(0), images, **kwargs)


def test_augmix_bad_images(images):
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    augmix(jax.random.key(0), images * 2)
  with pytest.raises(ValueError, match="rank-4"):
    augmix(jax.random.key(0), images[0])


def _jsd_numpy(*logits):
  probs = [np.exp(l - l.max(-1, keepdims=True)) for l in logits]
  probs = [p / p.sum(-1, keepdims=True) for p in probs]
  mix = np.clip(sum(probs) / 3, 1e-7, 1)
  kls = [np.mean(np.sum(np.where(p > 0, p * (np.log(np.maximum(p, 1e-300)) - np.log(mix)), 0),
                        -1)) for p in probs]
  return sum(kls) / 3


def test_jsd_is_zero_for_identical_logits():
  logits = jax.random.normal(jax.random.key(0), (5, 10))
  assert float(jsd_consistency(logits, logits, logits)) == pytest.approx(0.0, abs=1e-6)


def test_jsd_matches_numpy_formula():
  rng = np.random.default_rng(0)
  for scale in (1.0, 40.0):  # 40: confident predictions where the 1e-7 clip matters
    logits = [rng.normal(size=(6, 10)).astype(np.float32) * scale for _ in range(3)]
    got = float(jsd_consistency(*map(jnp.asarray, logits)))
    assert got == pytest.approx(_jsd_numpy(*map(np.float64, logits)), rel=1e-4, abs=1e-6)
    assert got > 0
  swapped = float(jsd_consistency(*map(jnp.asarray, (logits[0], logits[2], logits[1]))))
  assert swapped == pytest.approx(got, rel=1e-6)


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_mixing_weights_follow_dirichlet_and_beta(alpha):
  """Catches: uniform chain weights and a fixed skip weight 0.5. Over 4000 draws the moments
  match Dirichlet(alpha, alpha, alpha) and Beta(alpha, alpha): E w_i = 1/3,
  Var w_i = alpha (a0 - alpha) / (a0^2 (a0 + 1)), a0 = 3 alpha; E m = 1/2,
  Var m = 1 / (4 (2 alpha + 1))."""
  from rvjax.augment import mixing_weights
  keys = jax.random.split(jax.random.key(0), 4000)
  w, m = jax.vmap(lambda k: mixing_weights(k, 3, alpha))(keys)
  w, m = np.asarray(w, np.float64), np.asarray(m, np.float64)
  np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-5)
  a0 = 3 * alpha
  np.testing.assert_allclose(w.mean(0), 1 / 3, atol=0.02)
  np.testing.assert_allclose(w.var(0), alpha * (a0 - alpha) / (a0 ** 2 * (a0 + 1)), rtol=0.12)
  assert abs(m.mean() - 0.5) < 0.02
  np.testing.assert_allclose(m.var(), 1 / (4 * (2 * alpha + 1)), rtol=0.12)


def test_chain_depth_is_uniform_over_its_range(monkeypatch):
  """Catches: every chain run at its maximum depth. Each op is replaced by "add 0.01", width 1
  and alpha 1e4 (m = 1/2 within 0.01), so a pixel moves by m * 0.01 * depth: the depths of 600
  chains with depth=(1, 3) are read back and must be uniform over {1, 2, 3}."""
  from rvjax.augment import ops
  monkeypatch.setattr(ops, "apply_op", lambda key, img, index, severity: img + 0.01)
  x = jnp.full((600, 1, 1, 1), 0.2)
  out = augmix(jax.random.key(1), x, width=1, depth=(1, 3), alpha=1e4)
  depth = np.round(np.asarray(out - x).ravel() / 0.005).astype(int)
  counts = np.bincount(depth, minlength=4)
  assert counts[0] == 0 and counts[1:].sum() == 600
  np.testing.assert_allclose(counts[1:] / 600, 1 / 3, atol=0.06)

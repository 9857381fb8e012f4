"""Restoration and enhancement objectives against hand-computed values."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvjax import models, objectives
from rvjax.objectives import enhancement as E
from rvjax.objectives import degraded, restoration


def _scale_apply(variables, x, *, train, mutable, rngs):
  """A one-parameter 'restorer' f(y) = a * y, with the linen apply calling convention."""
  del train, rngs
  return x * variables["params"]["a"], {k: {} for k in mutable}


def _batch(n=2, size=4):
  return {"image": jnp.full((n, size, size, 1), 0.5), "target": jnp.ones((n, size, size, 1)),
          "mask": jnp.array([1.0, 0.0])}


def test_residual_l2_is_dncnn_loss():
  obj = restoration.make(_scale_apply, loss="residual_l2")
  loss, (_, metrics) = obj({"a": 1.0}, {}, _batch(), jax.random.key(0))
  # 1/2 sum over 16 pixels of (0.5 - 1)^2 = 2.0; the masked example does not count.
  np.testing.assert_allclose(loss, 2.0, rtol=1e-6)
  np.testing.assert_allclose(metrics["psnr"], -10 * np.log10(0.25), rtol=1e-5)
  grad = jax.grad(lambda p: obj(p, {}, _batch(), jax.random.key(0))[0])({"a": 1.0})
  np.testing.assert_allclose(grad["a"], 16 * (0.5 - 1.0) * 0.5, rtol=1e-6)  # d/da of 1/2 sum


@pytest.mark.parametrize("loss, want", [("mse", (0.75 - 1.0) ** 2), ("l1", 0.25)])
def test_pixel_losses_with_the_one_on_device_degradation(loss, want):
  """The input is degraded by objectives.degraded.wrap (image = target / 2), not by the objective:
  f(y) = 1.5 * 0.5 = 0.75 against 1; a wrong loss formula or an ignored wrap changes the value."""
  batch = _batch()
  halve = lambda key, x: 0.5 * x
  obj = degraded.wrap(objectives.create("restoration", _scale_apply, loss=loss), halve)
  loss_value, _ = obj({"a": 1.5}, {}, {**batch, "image": batch["target"]}, jax.random.key(0))
  np.testing.assert_allclose(loss_value, want, rtol=1e-6)
  with pytest.raises(ValueError, match="degrade"):
    objectives.create("restoration", _scale_apply, degrade=halve)
  with pytest.raises(ValueError, match="restoration loss"):
    objectives.create("restoration", _scale_apply, loss="l2")


def test_gan_losses_by_hand():
  real, fake = jnp.array([1.0, 2.0]), jnp.array([0.0, 0.0])
  # D_Ra(real) = [1, 2], D_Ra(fake) = [-1.5, -1.5].
  np.testing.assert_allclose(E.relativistic_lsgan_d(real, fake), 0.5 + 2.25)
  np.testing.assert_allclose(E.relativistic_lsgan_g(real, fake), 6.25 + 2.5)
  np.testing.assert_allclose(E.lsgan_d(real, fake), 0.5 + 0.0)
  np.testing.assert_allclose(E.lsgan_g(fake), 1.0)


def test_self_feature_preserving_uses_instance_norm():
  x = jnp.array([0.0, 2.0]).reshape(1, 1, 2, 1)
  ident = lambda z: z
  # IN maps [0, 2] and [0, 4] both to [-1, 1]: a brighter copy costs nothing...
  np.testing.assert_allclose(E.self_feature_preserving(ident, x, 2 * x), 0.0, atol=1e-5)
  # ...a flipped one costs mean((-1 - 1)^2, (1 + 1)^2) = 4.
  np.testing.assert_allclose(E.self_feature_preserving(ident, x, x[:, :, ::-1]), 4.0, rtol=1e-4)


def test_random_patches():
  x = jnp.arange(2 * 8 * 8, dtype=jnp.float32).reshape(2, 8, 8, 1)
  p = E.random_patches(jax.random.key(0), x, num=3, size=4)
  assert p.shape == (6, 4, 4, 1)
  # Each patch is a contiguous crop of its own image: row steps of 8, column steps of 1.
  np.testing.assert_allclose(np.diff(p[..., 0], axis=1), 8.0)
  np.testing.assert_allclose(np.diff(p[..., 0], axis=2), 1.0)
  assert float(p[3:].min()) >= 64 and float(p[:3].max()) < 64
  with pytest.raises(ValueError, match="exceeds"):
    E.random_patches(jax.random.key(0), x, num=1, size=9)


def test_zero_dce_terms_by_hand():
  gray = jnp.full((1, 16, 16, 3), 0.2)
  np.testing.assert_allclose(E.exposure(gray), [0.4], rtol=1e-5)
  rgb = jnp.broadcast_to(jnp.array([0.1, 0.2, 0.4]), (1, 4, 4, 3))
  np.testing.assert_allclose(E.color_constancy(rgb), [0.01 + 0.09 + 0.04], rtol=1e-5)
  # 8x8 image, left half 0 and right half 1 -> 2x2 regions [[0, 1], [0, 1]] from a flat input:
  # two horizontal pairs differ by 1 (counted from both ends), over K = 4 regions.
  halves = jnp.concatenate([jnp.zeros((1, 8, 4, 3)), jnp.ones((1, 8, 4, 3))], 2)
  np.testing.assert_allclose(E.spatial_consistency(halves, jnp.full_like(halves, 0.5)), [1.0])
  # Curves with slope 0.1 along x in all 3 channels of 2 iterations: (1/2) * 6 * 0.01.
  ramp = jnp.broadcast_to(0.1 * jnp.arange(5.0)[None, :, None], (1, 5, 5, 6))
  np.testing.assert_allclose(E.illumination_smoothness(ramp), [0.03], rtol=1e-5)


def test_zero_dce_objective_runs_and_weights_terms():
  model = models.create("zero_dce_tiny")
  x = jax.random.uniform(jax.random.key(1), (2, 16, 16, 3), maxval=0.3)
  params = jax.jit(lambda x: model.init(jax.random.key(0), x, train=False))(x)["params"]
  obj = objectives.create("zero_dce", model.apply, weights={"exposure": 10.0})
  loss, (state, m) = jax.jit(obj)(params, {}, {"image": x, "mask": jnp.ones(2)},
                                   jax.random.key(2))
  assert state == {}
  expected = m["spatial"] + 10 * m["exposure"] + 0.5 * m["color"] + 20 * m["smoothness"]
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  assert float(m["exposure"]) > 0.2  # dark input, curves near 0 at init
  with pytest.raises(ValueError, match="Unknown Zero-DCE"):
    E.make_zero_dce(model.apply, weights={"colour": 1.0})

"""The bilinear warp and the rotation-translation attack."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvjax import attacks
from rvjax.attacks import geometric


def test_warp_identity_is_exact(mlp):
  np.testing.assert_array_equal(attacks.warp(mlp.x, jnp.zeros((len(mlp.x), 3))), mlp.x)


@pytest.mark.parametrize("size", [6, 7])
def test_warp_rot90_matches_numpy_in_the_interior(size):
  a = np.random.default_rng(0).uniform(size=(2, size, size, 3)).astype(np.float32)
  out = np.asarray(attacks.warp(a, jnp.asarray([[0.0, 0.0, 90.0], [0.0, 0.0, -90.0]])))
  want = np.stack([np.rot90(a[0], 1), np.rot90(a[1], -1)])  # counter-clockwise for +90
  np.testing.assert_allclose(out[:, 1:-1, 1:-1], want[:, 1:-1, 1:-1], atol=1e-5)


def test_warp_translation_shifts_and_zero_pads():
  a = np.random.default_rng(0).uniform(size=(1, 5, 6, 1)).astype(np.float32)
  out = np.asarray(attacks.warp(a, jnp.asarray([[2.0, -1.0, 0.0]])))  # 2 px right, 1 px up
  np.testing.assert_allclose(out[0, :-1, 2:], a[0, 1:, :-2], atol=1e-6)
  assert np.all(out[0, :, :2] == 0) and np.all(out[0, -1] == 0)


def test_zero_ranges_return_x(mlp):
  out = attacks.spatial(mlp.fn, mlp.x, mlp.y, max_rotation=0.0, max_translation=0)  # 5x5x31 grid
  np.testing.assert_array_equal(out, mlp.x)


def test_grid_output_is_the_worst_grid_warp(mlp):
  out = np.asarray(attacks.spatial(mlp.fn, mlp.x, mlp.y))  # defaults: +-30 deg, +-3 px, 5x5x31
  params = geometric.grid_params(30.0, 3, (5, 5, 31))
  n = len(mlp.x)
  warps = np.asarray(jax.vmap(lambda p: attacks.warp(mlp.x, jnp.broadcast_to(p, (n, 3))))(params))
  err = np.abs(warps - out[None]).reshape(len(params), n, -1).max(-1)  # (G, N)
  assert np.all(err.min(0) == 0)  # each example is exactly one of the grid warps
  logits = mlp.fn(warps.reshape((-1,) + out.shape[1:]))
  loss = np.asarray(attacks.ce(logits, jnp.tile(mlp.y, len(params)))).reshape(len(params), n)
  wrong = np.asarray(jnp.argmax(logits, -1)).reshape(len(params), n) != np.asarray(mlp.y)
  got_loss = np.asarray(attacks.ce(mlp.fn(out), mlp.y))
  got_wrong = np.asarray(jnp.argmax(mlp.fn(out), -1) != mlp.y)
  np.testing.assert_array_equal(got_wrong, wrong.any(0))
  best = np.where(wrong.any(0), np.where(wrong, loss, -np.inf).max(0), loss.max(0))
  np.testing.assert_allclose(got_loss, best, rtol=1e-5)
  assert got_wrong.mean() > 0  # it breaks some of this random model


def test_random_search_in_box_and_chunking_matches_vmap(mlp):
  key = jax.random.key(0)
  run = jax.jit(lambda x, y, k: attacks.spatial(mlp.fn, x, y, random_search=6, key=k))
  out = np.asarray(run(mlp.x, mlp.y, key))
  chunked = attacks.spatial(mlp.fn, mlp.x, mlp.y, random_search=6, key=key, batch_size=4)
  np.testing.assert_allclose(chunked, out, atol=1e-6)
  assert out.min() >= 0 and out.max() <= 1 and not np.array_equal(out, mlp.x)
  clean = attacks.ce(mlp.fn(mlp.x), mlp.y)
  assert float(attacks.ce(mlp.fn(out), mlp.y).mean()) > float(clean.mean())

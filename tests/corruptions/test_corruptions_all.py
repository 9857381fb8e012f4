"""Every corruption: shapes, range, severity ordering, key handling, gray and tiny images.

One jitted program per corruption computes all the outputs the checks need.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage import data, transform

from rvjax import corruptions

# Corruptions whose published tables do not grow in mean absolute change from severity 1 to 5:
NOT_MONOTONE = {
    # CIFAR severity 1 is a pure affine jitter of 2.6 px, larger than severity 5's 1 px.
    "elastic_transform",
    # Severities 1-2 desaturate (x0.3, x0.1); 3-5 oversaturate, which changes photos less.
    "saturate",
}
K1, K2 = jax.random.key(1), jax.random.key(2)


@pytest.fixture(scope="module")
def inputs(photos32):
  gray = transform.resize(data.camera() / 255.0, (28, 36), anti_aliasing=True)
  # Four equal images, non-square: random corruptions must not give them all the same output
  # (two can coincide, e.g. motion blur at two close angles has the same pixel offsets).
  gray = np.stack([gray] * 4)[..., None].astype(np.float32)
  tiny = transform.resize(data.camera() / 255.0, (8, 8), anti_aliasing=True)
  return dict(rgb=jnp.asarray(photos32), gray=jnp.asarray(gray),
              tiny=jnp.asarray(tiny[None, ..., None], jnp.float32))


pytestmark = pytest.mark.usefixtures("fast_compile")  # Small graphs: optimizing costs more.


_cache = {}


def _outputs(name, inputs):
  if name not in _cache:
    @jax.jit
    def run(rgb, gray, tiny, k1, k2):
      return dict(
          s1=corruptions.corrupt(rgb, name, 1, key=k1),
          s5=corruptions.corrupt(rgb, name, 5, key=k1),
          s5_other_key=corruptions.corrupt(rgb, name, 5, key=k2),
          gray=corruptions.corrupt(gray, name, 3, key=k1),
          tiny=corruptions.corrupt(tiny, name, 2, key=k1, table="cifar10"))
    args = (inputs["rgb"], inputs["gray"], inputs["tiny"], K1, K2)
    first = jax.device_get(run(*args))
    again = jax.device_get(run(*args))
    _cache[name] = (first, again)
  return _cache[name]


@pytest.mark.parametrize("name", corruptions.NAMES)
def test_corruption(name, inputs):
  out, again = _outputs(name, inputs)
  for which, value in out.items():
    src = inputs[{"gray": "gray", "tiny": "tiny"}.get(which, "rgb")]
    assert value.shape == src.shape and value.dtype == np.float32, which
    assert np.all(np.isfinite(value)) and value.min() >= 0.0 and value.max() <= 1.0, which
    np.testing.assert_array_equal(value, again[which], err_msg=f"{which} not deterministic")

  x = np.asarray(inputs["rgb"])
  change1 = np.abs(out["s1"] - x).mean()
  change5 = np.abs(out["s5"] - x).mean()
  assert change1 > 1e-3 or name == "saturate" and change1 > 0, change1
  if name not in NOT_MONOTONE:
    assert change5 > change1, (change1, change5)

  differ = not np.array_equal(out["s5"], out["s5_other_key"])
  per_example = any(not np.array_equal(out["gray"][0], g) for g in out["gray"][1:])
  assert differ == (name in corruptions.RANDOM)
  assert per_example == (name in corruptions.RANDOM)
  if name == "saturate":
    np.testing.assert_array_equal(out["gray"], inputs["gray"])  # gray has no saturation
  else:
    assert np.abs(out["gray"] - inputs["gray"]).mean() > 1e-3

"""Names, tables and input checks of rvjax.corruptions (no compilation needed)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvjax import corruptions
from rvjax.corruptions import tables

X = jnp.full((2, 16, 16, 3), 0.5, jnp.float32)
KEY = jax.random.key(0)


def test_names_are_the_19_imagenet_c_names():
  assert corruptions.NAMES[:15] == (
      "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
      "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
      "elastic_transform", "pixelate", "jpeg_compression")
  assert corruptions.NAMES[15:] == ("speckle_noise", "gaussian_blur", "spatter", "saturate")
  for table in tables.TABLES.values():
    assert set(table) == set(corruptions.NAMES)
    assert all(len(levels) == 5 for levels in table.values())


def test_tables_hold_published_values():
  assert corruptions.parameters("gaussian_noise", 3, "cifar10") == 0.08
  assert corruptions.parameters("gaussian_noise", 5, "imagenet") == 0.38
  assert corruptions.parameters("jpeg_compression", 1, "cifar10") == 80
  assert corruptions.parameters("jpeg_compression", 5, "imagenet") == 7
  assert corruptions.parameters("glass_blur", 5, "imagenet") == (1.5, 4, 2)
  assert corruptions.parameters("snow", 1, "cifar10") == (0.1, 0.2, 1, 0.6, 8, 3, 0.95)
  assert corruptions.parameters("saturate", 5, "imagenet") == (20, 0.2)
  np.testing.assert_allclose(corruptions.parameters("zoom_blur", 5, "imagenet"),
                             np.arange(1, 1.31, 0.03))
  np.testing.assert_allclose(corruptions.parameters("zoom_blur", 5, "cifar10"),
                             np.arange(1, 1.26, 0.01))


@pytest.mark.parametrize("kwargs, match", [
    (dict(name="fogg"), "Unknown corruption name 'fogg'; valid: .*brightness.*zoom_blur"),
    (dict(severity=0), "severity"),
    (dict(severity=6), "severity"),
    (dict(severity=2.0), "severity"),
    (dict(severity=True), "severity"),
    (dict(table="cifar100"), "corruption table"),
    (dict(x=X + 0.6), r"\[0, 1\]"),
    (dict(x=X - 0.6), r"\[0, 1\]"),
    (dict(x=X.at[0, 0, 0, 0].set(jnp.nan)), "NaN"),
    (dict(x=X[0]), "rank-4"),
    (dict(x=(X * 255).astype(jnp.uint8)), "floating"),
    (dict(x=jnp.zeros((2, 16, 16, 2))), "1 or 3 channels"),
    (dict(x=jnp.zeros((2, 4, 16, 3))), "at least 8x8"),
    (dict(key=None), "key"),
    (dict(key=jnp.zeros((3,), jnp.float32)), "key"),
])
def test_bad_inputs_raise_value_error(kwargs, match):
  args = dict(x=X, name="gaussian_noise", severity=1, key=KEY, table="cifar10")
  args.update(kwargs)
  x = args.pop("x")
  with pytest.raises(ValueError, match=match):
    corruptions.corrupt(x, args.pop("name"), args.pop("severity"), **args)


def test_parameters_rejects_unknown_name():
  with pytest.raises(ValueError, match="valid:"):
    corruptions.parameters("rain", 1)


def test_raw_uint32_keys_are_accepted():
  out = corruptions.corrupt(X, "contrast", 2, key=jax.random.PRNGKey(0))
  assert out.shape == X.shape

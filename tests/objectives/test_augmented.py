"""Training-time augmentation wraps any objective."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvjax.objectives import augmented


def test_wrap_passes_transformed_images_and_a_fresh_key():
  seen = {}

  def objective(params, model_state, batch, key):
    seen["image"], seen["key"] = batch["image"], key
    return jnp.float32(0), (model_state, {})

  images = jnp.asarray(np.random.default_rng(0).random((6, 8, 8, 1), np.float32))
  batch = {"image": images, "label": jnp.zeros(6, jnp.int32), "mask": jnp.ones(6)}
  key = jax.random.key(3)
  augmented.wrap(objective, "flip")(None, {}, batch, key)
  k_aug, k_obj = jax.random.split(key)
  flip = np.asarray(jax.random.bernoulli(k_aug, 0.5, (6, 1, 1, 1)))
  np.testing.assert_array_equal(seen["image"], np.where(flip, images[:, :, ::-1], images))
  assert jnp.array_equal(jax.random.key_data(seen["key"]), jax.random.key_data(k_obj))
  assert augmented.wrap(objective, "") is objective


def test_crop_flip_keeps_shape_range_and_content():
  images = jnp.asarray(np.random.default_rng(1).random((4, 8, 8, 3), np.float32))
  out = augmented.crop_flip(jax.random.key(0), images)
  assert out.shape == images.shape and float(out.min()) >= 0 and float(out.max()) <= 1
  # Each output is a shifted (and maybe mirrored) copy: its nonzero pixels come from the input.
  for o, x in zip(np.asarray(out), np.asarray(images)):
    assert np.isin(o[o > 0], x).all()


def test_unknown_augment_name():
  with pytest.raises(ValueError, match="Unknown augment 'rotate'"):
    augmented.wrap(lambda *a: None, "rotate")

"""The transforms the restoration configs name: blind noise, blur + noise, SR input, gamma."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rvjax.degrade as D
import rvjax.restore as R


def test_blind_noise_draws_one_level_per_image_in_range():
  x = jnp.full((64, 32, 32, 1), 0.5)
  y = D.blind_gaussian_noise(jax.random.key(0), x, sigma_min=5.0, sigma_max=55.0)
  std = np.asarray(jnp.std(y - x, axis=(1, 2, 3))) * 255
  assert 4.0 < std.min() and std.max() < 57.0 and std.max() - std.min() > 30  # levels differ
  with pytest.raises(ValueError, match="sigma_min <= sigma_max"):
    D.blind_gaussian_noise(jax.random.key(0), x, sigma_min=10.0, sigma_max=5.0)


def test_blur_noise_is_blur_plus_gaussian_noise():
  x = jax.random.uniform(jax.random.key(1), (2, 16, 16, 1))
  k = D.kernels.gaussian(5, 1.0)
  key = jax.random.key(2)
  want = D.gaussian_noise(key, D.blur(None, x, kernel=k), sigma=7.0)
  np.testing.assert_allclose(D.blur_noise(key, x, kernel=k, sigma=7.0), want, atol=1e-6)


def test_sr_input_crops_then_goes_down_and_up():
  x = jax.random.uniform(jax.random.key(3), (1, 14, 13, 1))
  y = D.sr_input(None, x, factor=3)
  want = D.imresize(D.downsample(None, x[:, :12, :12], factor=3), 3.0)
  assert y.shape == (1, 12, 12, 1)
  np.testing.assert_allclose(y, want, atol=1e-6)


def test_gamma_brighten_maps_the_mean_to_the_target():
  flat = jnp.full((1, 4, 4, 3), 0.1)
  np.testing.assert_allclose(R.gamma_brighten(flat, target_mean=0.5), 0.5, rtol=1e-5)
  bright = jnp.full((1, 4, 4, 3), 0.8)
  np.testing.assert_allclose(R.gamma_brighten(bright, target_mean=0.5), 0.8, rtol=1e-6)
  with pytest.raises(ValueError, match="target_mean"):
    R.gamma_brighten(flat, target_mean=1.5)

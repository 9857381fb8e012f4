"""Y-channel PSNR/SSIM (against scikit-image's rgb2ycbcr) and the NIQE-style score."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage import color, data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import rvjax.degrade as D
from rvjax import metrics
from rvjax.metrics import no_reference


@pytest.fixture(scope="module")
def rgb_pair():
  x = data.astronaut()[100:164, 150:230].astype(np.float32) / 255
  y = np.clip(x + 0.05 * np.random.default_rng(0).standard_normal(x.shape), 0, 1)
  return x[None], y[None].astype(np.float32)


def test_y_channel_and_crop_match_skimage(rgb_pair):
  x, y = rgb_pair
  yx = color.rgb2ycbcr(x[0])[..., 0] / 255  # MATLAB's rgb2ycbcr Y, [16, 235] / 255
  yy = color.rgb2ycbcr(y[0])[..., 0] / 255
  np.testing.assert_allclose(metrics.rgb_to_y(x)[0, ..., 0], yx, atol=1e-5)
  s = 3
  want = peak_signal_noise_ratio(yx[s:-s, s:-s], yy[s:-s, s:-s], data_range=1)
  np.testing.assert_allclose(metrics.psnr(x, y, y_channel=True, crop=s), [want], rtol=1e-4)
  want = structural_similarity(yx[s:-s, s:-s], yy[s:-s, s:-s], gaussian_weights=True, sigma=1.5,
                               use_sample_covariance=False, data_range=1)
  np.testing.assert_allclose(metrics.ssim(x, y, y_channel=True, crop=s), [want], atol=1e-4)
  with pytest.raises(ValueError, match="y_channel=True needs RGB"):
    metrics.psnr(x[..., :1], y[..., :1], y_channel=True)
  with pytest.raises(ValueError, match="crop must be"):
    metrics.psnr(x, y, crop=40)


def test_niqe_model_is_labelled_as_own_fit():
  model = no_reference.load_model()
  assert "rvjax's own" in model["source"] and "Train400" in model["source"]
  assert model["mean"].shape == (36,) and model["cov"].shape == (36, 36)
  np.testing.assert_allclose(model["cov"], model["cov"].T, atol=1e-6)


def test_niqe_grows_with_noise_and_blur():
  x = jnp.asarray(data.camera()[:192, 64:256].astype(np.float32) / 255)[None, :, :, None]
  batch = jnp.concatenate([
      x,
      D.gaussian_noise(jax.random.key(0), x, sigma=10, clip=True),
      D.gaussian_noise(jax.random.key(0), x, sigma=30, clip=True),
      D.blur(None, x, kernel=D.kernels.gaussian(9, 1.5))])
  clean, noise10, noise30, blurred = np.asarray(metrics.niqe(batch))
  assert clean < noise10 < noise30
  assert blurred > clean + 1.0
  with pytest.raises(ValueError, match="at least 64x64"):
    metrics.niqe(x[:, :32, :32])


def test_ggd_fit_recovers_gaussian_and_laplacian_shapes():
  rng = np.random.default_rng(0)
  # A gaussian is GGD shape 2, a laplacian shape 1 (catches a wrong gamma-ratio table).
  assert abs(float(no_reference._ggd(jnp.asarray(rng.standard_normal(200000)))[0]) - 2.0) < 0.05
  assert abs(float(no_reference._ggd(jnp.asarray(rng.laplace(size=200000)))[0]) - 1.0) < 0.05
  # An AGGD puts mass sigma_l / (sigma_l + sigma_r) on the left: 2/3 for scales 2 and 1.
  left_heavy = np.where(rng.random(200000) < 2 / 3, -2.0, 1.0) * np.abs(rng.standard_normal(200000))
  shape, mean, var_l, var_r = np.asarray(no_reference._aggd(jnp.asarray(left_heavy)))
  assert abs(shape - 2.0) < 0.1 and mean < 0 and abs(var_l / var_r - 4.0) < 0.2

"""psnr and ssim against scikit-image on its sample photos."""
import jax
import numpy as np
import pytest
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from rvjax import metrics


def _pairs(color):
  rng = np.random.default_rng(0)
  if color:
    img = data.astronaut()[100:164, 150:230].astype(np.float32) / 255  # (64, 80, 3)
  else:
    img = data.camera()[200:264, 180:250, None].astype(np.float32) / 255  # (64, 70, 1)
  clean = np.stack([img, img[::-1]])  # two different images
  noisy = np.clip(clean + rng.normal(0, [[[[0.05]]], [[[0.15]]]], clean.shape), 0, 1)
  return clean.astype(np.float32), noisy.astype(np.float32)


@pytest.mark.parametrize("color", [False, True])
def test_psnr_matches_skimage(color):
  x, y = _pairs(color)
  want = [peak_signal_noise_ratio(a, b, data_range=1.0) for a, b in zip(x, y)]
  np.testing.assert_allclose(metrics.psnr(x, y), want, rtol=1e-5)


@pytest.mark.parametrize("color", [False, True])
def test_ssim_matches_skimage(color):
  x, y = _pairs(color)
  kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
  if color:
    want = [structural_similarity(a, b, channel_axis=-1, **kw) for a, b in zip(x, y)]
  else:
    want = [structural_similarity(a[..., 0], b[..., 0], **kw) for a, b in zip(x, y)]
  got = metrics.ssim(x, y)
  assert got.shape == (2,)
  np.testing.assert_allclose(got, want, atol=1e-5)
  np.testing.assert_allclose(jax.jit(metrics.ssim)(x, y), got, atol=1e-6)


def test_ssim_identical_is_one_and_symmetric():
  x, y = _pairs(True)
  np.testing.assert_allclose(metrics.ssim(x, x), 1.0, atol=1e-5)
  np.testing.assert_allclose(metrics.ssim(x, y), metrics.ssim(y, x), atol=1e-6)
  assert np.all(np.isinf(np.asarray(metrics.psnr(x, x))))

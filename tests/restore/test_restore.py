"""rvjax.restore against scikit-image on a real photo (camera crop) with AWGN sigma = 25."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage import data, metrics, restoration

import rvjax.degrade as D
import rvjax.restore as R

SIGMA = 25.0


@pytest.fixture(scope="module")
def pair():
  """Clean (1, 64, 72, 1) camera crop and its noisy version; odd crops come from slicing."""
  x = (data.camera()[100:164, 150:222].astype(np.float32) / 255.0)[None, :, :, None]
  y = np.asarray(D.gaussian_noise(jax.random.key(0), x, sigma=SIGMA))
  return x, y


def _plane(a):
  return np.asarray(a)[0, :, :, 0].astype(np.float64)


def test_tv_matches_skimage_chambolle(pair):
  x, y = pair
  ours = _plane(R.tv_denoise(y, weight=0.08))
  ref = restoration.denoise_tv_chambolle(_plane(y), weight=0.08)
  # Same iterations and stopping rule: float32 rounding only. A wrong step, boundary or weight
  # scaling changes the output by ~1e-2.
  np.testing.assert_allclose(ours, ref, atol=1e-5)
  assert np.abs(ref - _plane(y)).mean() > 0.03


def test_tv_batches_planes_independently(pair):
  x, y = pair
  rgb = np.concatenate([y, y[:, ::-1], 1 - y], -1)
  both = np.asarray(R.tv_denoise(np.concatenate([rgb, rgb[..., ::-1]]), weight=0.08))
  np.testing.assert_allclose(both[0, :, :, 0], _plane(R.tv_denoise(y, weight=0.08)), atol=1e-6)
  np.testing.assert_allclose(both[1], both[0][..., ::-1], atol=1e-6)  # channels do not mix


def test_wiener_matches_skimage_and_tikhonov_formula(pair):
  x, _ = pair
  k = np.asarray(D.kernels.gaussian(7, 1.5))
  b = np.asarray(D.blur(None, x, kernel=k, padding="wrap"))
  ours = _plane(R.wiener(b, kernel=k, balance=0.01))
  np.testing.assert_allclose(ours, restoration.wiener(_plane(b), k, 0.01, clip=False), atol=1e-5)
  # Tikhonov by hand with numpy's FFT: X = conj(K) Y / (|K|^2 + lambda).
  pad = np.zeros(x.shape[1:3])
  pad[:7, :7] = k
  kf = np.fft.fft2(np.roll(pad, (-3, -3), (0, 1)))
  ref = np.real(np.fft.ifft2(np.conj(kf) * np.fft.fft2(_plane(b)) / (np.abs(kf) ** 2 + 1e-3)))
  ours = _plane(R.tikhonov(b, kernel=k, balance=1e-3))
  np.testing.assert_allclose(ours, ref, atol=1e-4)
  # Deconvolution sharpens: closer to the clean image than the blurred one.
  assert metrics.peak_signal_noise_ratio(_plane(x), ours, data_range=1) > \
      metrics.peak_signal_noise_ratio(_plane(x), _plane(b), data_range=1) + 3


@pytest.mark.parametrize("method", ["BayesShrink", "VisuShrink"])
def test_wavelet_matches_skimage_db1(pair, method):
  pytest.importorskip("pywt", reason="scikit-image's denoise_wavelet needs PyWavelets (test extra)")
  _, y = pair
  y = y[:, :63, :69]  # odd sides exercise the boundary extension
  ours = _plane(R.wavelet_denoise(y, sigma=SIGMA, method=method))
  ref = restoration.denoise_wavelet(_plane(y), sigma=SIGMA / 255, wavelet="db1", method=method,
                                    rescale_sigma=False)
  np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_wavelet_estimates_sigma_like_skimage(pair):
  pytest.importorskip("pywt", reason="scikit-image's denoise_wavelet needs PyWavelets (test extra)")
  _, y = pair
  ours = _plane(R.wavelet_denoise(y))
  ref = restoration.denoise_wavelet(_plane(y), wavelet="db1", rescale_sigma=False)
  np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_nlm_close_to_skimage(pair):
  x, y = pair
  ours = _plane(R.nlm_denoise(y, sigma=SIGMA, patch_size=5, patch_distance=6))
  ref = restoration.denoise_nl_means(_plane(y), h=0.8 * SIGMA / 255, sigma=SIGMA / 255,
                                     patch_size=5, patch_distance=6)
  change = np.abs(ref - _plane(y)).mean()
  # Same algorithm, different boundary/cutoff details: within 15% of the change NLM makes (an h
  # off by 255 or not squared, or a missing -2 sigma^2, moves it by far more).
  assert np.abs(ours - ref).mean() < 0.15 * change
  p_ours = metrics.peak_signal_noise_ratio(_plane(x), ours, data_range=1)
  p_ref = metrics.peak_signal_noise_ratio(_plane(x), ref, data_range=1)
  assert abs(p_ours - p_ref) < 0.3 and p_ours > metrics.peak_signal_noise_ratio(
      _plane(x), _plane(y), data_range=1) + 5


def test_restorers_jit_with_traced_parameters(pair):
  _, y = pair
  f = jax.jit(lambda z, w: R.tv_denoise(z, weight=w))
  np.testing.assert_allclose(f(jnp.asarray(y), 0.08), R.tv_denoise(y, weight=0.08), atol=1e-6)


def test_restorer_bad_inputs(pair):
  _, y = pair
  with pytest.raises(ValueError, match="weight must be > 0"):
    R.tv_denoise(y, weight=-0.1)
  with pytest.raises(ValueError, match="normalized"):
    R.wiener(y, kernel=np.ones((3, 3)), balance=0.1)
  with pytest.raises(ValueError, match="sigma must be >= 0"):
    R.nlm_denoise(y, sigma=-5)
  with pytest.raises(ValueError, match="rank-4"):
    R.wavelet_denoise(y[0])

"""DeblurCNN's init from the blur kernel: the pseudo-inverse, its separable factors, the model at
init against `rvjax.restore.tikhonov`, and the identity-initialized denoiser."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import signal
from skimage import data

import rvjax.degrade as D
import rvjax.restore as R
from configs import restoration_deblur
from rvjax import models
from rvjax.restore.deconvolution import pseudo_inverse_kernel, separable_factors

# A skewed, off-centre Gaussian: asymmetric under transpose and flips, so a transposed or
# unflipped factor, or a wrong centre, shows.
_I, _J = np.mgrid[0:5, 0:7] - np.array([2.4, 3.5])[:, None, None]
_KERNEL = np.exp(-0.5 * (_I ** 2 / 0.8 + _J ** 2 / 1.5 - 0.9 * _I * _J))
_KERNEL /= _KERNEL.sum()
_BALANCE = 0.03


def _psnr(a, b):
  return 10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - np.asarray(b)) ** 2))


@pytest.fixture(scope="module")
def blurred():
  x = jnp.asarray(data.camera()[100:164, 200:264] / 255.0, jnp.float32)[None, ..., None]
  return D.blur(None, x, kernel=_KERNEL, padding="wrap")


def test_pseudo_inverse_convolved_matches_tikhonov(blurred):
  inverse = pseudo_inverse_kernel(_KERNEL, 41, balance=_BALANCE)
  assert inverse.shape == (41, 41)
  # DC gain of conj(K) / (|K|^2 + b) is 1 / (1 + b).
  np.testing.assert_allclose(inverse.sum(), 1 / (1 + _BALANCE), rtol=1e-3)
  y = np.asarray(blurred[0, ..., 0], np.float64)
  ours = signal.convolve2d(np.pad(y, 20, mode="wrap"), inverse, mode="valid")
  assert _psnr(ours, R.tikhonov(blurred, kernel=_KERNEL, balance=_BALANCE)[0, ..., 0]) > 60


def test_separable_error_falls_with_rank():
  inverse = pseudo_inverse_kernel(_KERNEL, 21, balance=_BALANCE)
  errors = []
  for rank in (1, 2, 4, 8, 21):
    cols, rows = separable_factors(inverse, rank)
    assert cols.shape == (21, rank) and rows.shape == (21, rank)
    errors.append(np.linalg.norm(cols @ rows.T - inverse) / np.linalg.norm(inverse))
  assert all(a > b for a, b in zip(errors, errors[1:])), errors
  assert errors[0] > 0.05 and errors[-1] < 1e-10
  with pytest.raises(ValueError, match="rank"):
    separable_factors(inverse, 22)
  with pytest.raises(ValueError, match="balance"):
    pseudo_inverse_kernel(_KERNEL, 21, balance=0.0)


@pytest.mark.parametrize("channels", [1, 3])
def test_model_at_init_is_the_pseudo_inverse(blurred, channels):
  y = jnp.tile(blurred, (1, 1, 1, channels))
  model = models.create("deblur_cnn", deconv_kernel=31, deconv_features=12 * channels,
                        mix_kernel=4, denoise_kernels=(4, 1, 3), denoise_features=16,
                        init_kernel=_KERNEL.tolist(), init_balance=_BALANCE)
  variables = model.init(jax.random.key(0), y, train=False)
  out = model.apply(variables, y, train=False)
  reference = R.tikhonov(y, kernel=_KERNEL, balance=_BALANCE)
  inner = (slice(None), slice(16, -16), slice(16, -16))  # away from the SAME-padding borders
  assert _psnr(out[inner], reference[inner]) > 50
  assert _psnr(out[inner], reference[inner]) > _psnr(y[inner], reference[inner]) + 20


def test_denoiser_starts_as_identity():
  model = models.create("deblur_cnn", deconv_kernel=9, deconv_features=4, mix_kernel=3,
                        denoise_kernels=(4, 1, 2), denoise_features=8,
                        init_kernel=_KERNEL.tolist(), init_balance=_BALANCE)
  x = jax.random.uniform(jax.random.key(1), (2, 12, 12, 2), minval=-0.5, maxval=1.0)
  p = model.init(jax.random.key(0), x, train=False)["params"]
  convs = [nn.Conv(f, (k, k), padding="SAME") for f, k in ((8, 4), (8, 1), (2, 2))]
  h = x
  for i, conv in enumerate(convs):
    h = conv.apply({"params": p[f"denoise_{i + 1}"]}, h)
    h = nn.relu(h) if i < 2 else h
  np.testing.assert_allclose(h, x, atol=1e-6)
  # The features beyond +x / -x stay random (small), so they can learn.
  free = np.asarray(p["denoise_1"]["kernel"][..., 4:])
  assert 0 < np.abs(free).max() < 0.5


def test_config_initializes_from_its_kernel():
  c = restoration_deblur.get_config("budget=3")
  np.testing.assert_allclose(np.asarray(c.model.kwargs.init_kernel),
                             np.asarray(D.kernels.gaussian(9, 1.6)), rtol=1e-6)
  assert "init_kernel" not in restoration_deblur.get_config("budget=3,init_from_kernel=False") \
      .model.kwargs

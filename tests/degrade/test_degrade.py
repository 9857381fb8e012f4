"""rvjax.degrade against numpy/scipy/PIL references and the formulas of each forward model."""
import importlib
import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage
from PIL import Image
from skimage import data

import rvjax.degrade as D
from rvjax.degrade import kernels

KEY = jax.random.key(0)


@pytest.fixture(scope="module")
def camera():
  return (data.camera()[100:164, 200:264].astype(np.float32) / 255.0)[None, :, :, None]


@pytest.fixture(scope="module")
def astronaut():
  return data.astronaut()[:64, 96:192]


def test_gaussian_noise_sigma_is_on_255_scale_and_unclipped():
  x = jnp.zeros((2, 64, 64, 1))
  y = np.asarray(D.gaussian_noise(KEY, x, sigma=jnp.array([25.0, 50.0])))
  # A [0, 1]-scale sigma or a clipped output would fail these.
  np.testing.assert_allclose(y[0].std(), 25 / 255, rtol=0.05)
  np.testing.assert_allclose(y[1].std(), 50 / 255, rtol=0.05)
  assert y.min() < 0
  assert abs(y.mean()) < 0.01
  clipped = D.gaussian_noise(KEY, x, sigma=25, clip=True)
  assert float(clipped.min()) == 0.0 and float(clipped.max()) <= 1.0


def test_poisson_gaussian_variance_follows_signal():
  x = jnp.concatenate([jnp.full((1, 64, 64, 1), 0.2), jnp.full((1, 64, 64, 1), 0.8)])
  y = np.asarray(D.poisson_gaussian(KEY, x, gain=0.01, sigma=5.0))
  for i, level in enumerate((0.2, 0.8)):
    np.testing.assert_allclose(y[i].var(), 0.01 * level + (5 / 255) ** 2, rtol=0.08)


@pytest.mark.parametrize("bad", [dict(sigma=-1.0), dict(sigma=jnp.array([1.0, -2.0]))])
def test_negative_sigma_rejected(bad):
  with pytest.raises(ValueError, match="sigma must be finite and >= 0"):
    D.gaussian_noise(KEY, jnp.zeros((2, 8, 8, 1)), **bad)


def test_kernels():
  np.testing.assert_allclose(kernels.line(3), np.array([[0, 0, 0], [1, 1, 1], [0, 0, 0]]) / 3,
                             atol=1e-7)
  np.testing.assert_allclose(kernels.line(5, 90.0), kernels.line(5).T, atol=1e-6)
  r = np.arange(-3, 4)
  g = np.exp(-(r[:, None] ** 2 + r[None] ** 2) / (2 * 1.5 ** 2))
  np.testing.assert_allclose(kernels.gaussian(7, 1.5), g / g.sum(), rtol=1e-5)
  motion = jax.jit(kernels.motion, static_argnums=1)  # one compilation for both keys
  m1, m2 = motion(KEY, 15), motion(jax.random.key(1), 15)
  assert abs(float(m1.sum()) - 1) < 1e-5 and float(m1.min()) >= 0
  assert not np.allclose(m1, m2)
  assert int((np.asarray(m1) > 1e-3).sum()) > 10  # a trajectory, not a dot


def test_blur_matches_scipy_convolution(camera):
  k = np.asarray(kernels.motion(KEY, 9))  # asymmetric: catches a correlation (unflipped kernel)
  y = D.blur(None, camera, kernel=k)
  ref = scipy.ndimage.convolve(camera[0, :, :, 0], k, mode="reflect")
  np.testing.assert_allclose(y[0, :, :, 0], ref, atol=1e-5)
  y = D.blur(None, camera, kernel=k, padding="wrap")
  ref = scipy.ndimage.convolve(camera[0, :, :, 0], k, mode="wrap")
  np.testing.assert_allclose(y[0, :, :, 0], ref, atol=1e-5)


def test_blur_bad_kernels(camera):
  with pytest.raises(ValueError, match="normalized"):
    D.blur(None, camera, kernel=np.ones((3, 3)))
  with pytest.raises(ValueError, match="larger than"):
    D.blur(None, camera, kernel=np.ones((65, 65)) / 65 ** 2)
  with pytest.raises(ValueError, match="odd"):
    D.blur(None, camera, kernel=np.ones((4, 4)) / 16)


def test_downsample_matches_pil_bicubic_and_checks_factor(camera):
  y = np.asarray(D.downsample(None, camera, factor=4))[0, :, :, 0]
  ref = np.asarray(Image.fromarray(camera[0, :, :, 0], "F").resize((16, 16), Image.BICUBIC))
  # PIL anti-aliases with the same stretched Keys cubic; borders are handled differently.
  np.testing.assert_allclose(y[2:-2, 2:-2], ref[2:-2, 2:-2], atol=1e-5)
  naive = camera[0, 1::4, 1::4, 0]  # plain decimation (no anti-aliasing) is far off
  assert np.abs(naive - ref).mean() > 10 * np.abs(y - ref).mean()
  np.testing.assert_allclose(D.downsample(None, jnp.full((1, 12, 12, 1), 0.3), factor=3), 0.3,
                             atol=1e-6)
  with pytest.raises(ValueError, match="does not divide"):
    D.downsample(None, camera[:, :63], factor=2)
  assert D.downsample(None, camera[:, :63], factor=2, crop=True).shape == (1, 31, 32, 1)


def test_jpeg_matches_libjpeg(camera, astronaut):
  g = (camera[0, :, :, 0] * 255).round().astype(np.uint8)
  buf = io.BytesIO()
  Image.fromarray(g).save(buf, "JPEG", quality=10)
  ref = np.asarray(Image.open(buf), np.float32) / 255
  y = D.jpeg(None, jnp.asarray(g, jnp.float32)[None, :, :, None] / 255, quality=10)
  # libjpeg's integer DCT flips a few coefficients that sit on a rounding boundary.
  err = np.abs(np.asarray(y)[0, :, :, 0] - ref)
  assert np.median(err) < 0.5 / 255 and err.mean() < 0.1 * np.abs(g / 255 - ref).mean()
  buf = io.BytesIO()
  Image.fromarray(astronaut).save(buf, "JPEG", quality=10, subsampling=0)
  ref = np.asarray(Image.open(buf), np.float32) / 255
  x = astronaut.astype(np.float32) / 255
  y = np.round(np.asarray(D.jpeg(None, x[None], quality=10))[0] * 255) / 255  # libjpeg rounds
  assert np.abs(y - ref).mean() < 0.1 * np.abs(x - ref).mean()


def test_jpeg_quantization_tables_are_pillows_at_every_quality():
  # libjpeg scales the base tables with integer arithmetic (5000 // q): a float 5000 / q
  # differs by one step at 34 of the 100 qualities.
  blank = Image.fromarray(np.zeros((8, 8, 3), np.uint8))
  jpeg_module = importlib.import_module("rvjax.degrade.jpeg")
  for quality in range(1, 101):
    buf = io.BytesIO()
    blank.save(buf, "JPEG", quality=quality)
    pil = Image.open(buf).quantization
    expected = np.stack([np.reshape(pil[0], (8, 8)), np.reshape(pil[1], (8, 8))])
    np.testing.assert_array_equal(jpeg_module.quant_tables(quality), expected, err_msg=quality)


def test_jpeg_gradients(camera):
  x = jnp.asarray(camera) * 0.8 + 0.1  # away from the clip
  g_st = jax.grad(lambda z: D.jpeg(None, z, quality=20).sum())(x)
  np.testing.assert_allclose(g_st, 1.0, atol=1e-4)  # straight-through: linear pipeline, identity
  g_soft = jax.grad(lambda z: D.jpeg(None, z, quality=20, rounding="soft").sum())(x)
  assert np.all(np.isfinite(g_soft)) and float(jnp.std(g_soft)) > 0.01


def test_haze_scattering_model(astronaut):
  x = astronaut[None].astype(np.float32) / 255
  depth = np.linspace(0, 2, 96)[None, None, :].repeat(64, 1)
  y = np.asarray(D.haze(None, x, depth=depth, beta=0.7, airlight=0.8))
  t = np.exp(-0.7 * depth)[..., None]
  np.testing.assert_allclose(y, x * t + 0.8 * (1 - t), atol=1e-6)
  r = np.asarray(D.haze(KEY, x, t_min=0.3, airlight=1.0))
  t_est = (1.0 - r) / np.maximum(1.0 - x, 1e-3)  # solve I = J t + (1 - t) for t
  ok = (1.0 - x) > 0.2
  assert t_est[ok].min() > 0.3 - 1e-3 and t_est[ok].max() < 1 + 1e-3


def test_low_light_and_rain(astronaut):
  x = jnp.asarray(astronaut[None], jnp.float32) / 255
  dark = D.low_light(None, x, exposure=0.3, gamma=2.0)
  np.testing.assert_allclose(dark, 0.3 * np.asarray(x) ** 2, atol=1e-6)
  noisy = D.low_light(KEY, x, exposure=0.3, gamma=2.0, gain=0.01, sigma=2.0)
  assert 0.0 < float(jnp.std(noisy - dark)) < 0.1
  with pytest.raises(ValueError, match="needs a key"):
    D.low_light(None, x, sigma=2.0)
  wet = np.asarray(D.rain(KEY, jnp.concatenate([x, x]), angle=90.0, length=9))
  assert np.all(wet >= np.asarray(x) - 1e-6)  # screen blend only brightens
  assert (wet - np.asarray(x)).max() > 0.3 and np.mean(wet - np.asarray(x) > 0.05) < 0.5
  # Vertical streaks: the added light correlates along columns, not along rows.
  s = wet[0].mean(-1) - np.asarray(x)[0].mean(-1)
  col = np.corrcoef(s[:-1].ravel(), s[1:].ravel())[0, 1]
  row = np.corrcoef(s[:, :-1].ravel(), s[:, 1:].ravel())[0, 1]
  assert col > 0.5 and row < 0.3


def test_transforms_jit_and_differentiate(camera):
  x = jnp.asarray(camera)

  @jax.jit
  def pipeline(key, z):
    z = D.blur(None, z, kernel=kernels.gaussian(5, 1.0))
    z = D.downsample(None, z, factor=2)
    return D.gaussian_noise(key, z, sigma=10.0)

  y = pipeline(KEY, x)
  assert y.shape == (1, 32, 32, 1)
  g = jax.grad(lambda z: jnp.sum(pipeline(KEY, z) ** 2))(x)
  assert np.all(np.isfinite(g)) and float(jnp.abs(g).sum()) > 0

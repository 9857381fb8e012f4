"""Corruptions against direct formulas, Pillow / scikit-image, and the imagecorruptions package.

Tolerances, in [0, 1] units: formulas in float agree to 1e-5. imagecorruptions returns uint8
truncated by np.uint8, so deterministic corruptions must agree within 1.5 / 255 per pixel
(observed: at most 1 / 255, the truncation). JPEG uses a float DCT instead of libjpeg's integer
one: mean difference < 0.004 and 99% of the values within 0.03.
"""
from io import BytesIO

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from skimage import color, filters

from rvjax import corruptions
from rvjax.corruptions import blur, digital, imaging, tables

KEY = jax.random.key(0)


def _all_severities(x, name, table="cifar10", key=KEY):
  """(5, N, H, W, C): the five severities in one compiled program."""
  fn = jax.jit(lambda x, k: jnp.stack(
      [corruptions.corrupt(x, name, s, key=k, table=table) for s in range(1, 6)]))
  return np.asarray(fn(jnp.asarray(x), key))


def _flat(value=0.5, n=4, size=32):
  return jnp.full((n, size, size, 3), value, jnp.float32)


def test_gaussian_noise_matches_table_sigma():
  for table, severity in (("cifar10", 3), ("imagenet", 1)):
    sigma = corruptions.parameters("gaussian_noise", severity, table)
    out = np.asarray(corruptions.corrupt(_flat(), "gaussian_noise", severity, key=KEY,
                                         table=table))
    residual = out - 0.5
    assert abs(residual.mean()) < 0.004
    assert residual.std() == pytest.approx(sigma, rel=0.03)
    assert not np.array_equal(out[0], out[1])  # each example its own noise


def test_shot_impulse_speckle_statistics():
  x = _flat()
  photons = corruptions.parameters("shot_noise", 3)
  shot = np.asarray(corruptions.corrupt(x, "shot_noise", 3, key=KEY))
  assert shot.mean() == pytest.approx(0.5, abs=0.004)
  assert shot.var() == pytest.approx(0.5 / photons, rel=0.06)  # Poisson: var = mean

  amount = corruptions.parameters("impulse_noise", 3)
  impulse = np.asarray(corruptions.corrupt(x, "impulse_noise", 3, key=KEY))
  hit = impulse != 0.5
  assert set(np.unique(impulse[hit])) <= {0.0, 1.0}
  assert hit.mean() == pytest.approx(amount, abs=0.006)
  assert (impulse[hit] == 1.0).mean() == pytest.approx(0.5, abs=0.1)

  c = corruptions.parameters("speckle_noise", 3)
  speckle = np.asarray(corruptions.corrupt(x, "speckle_noise", 3, key=KEY))
  assert (speckle - 0.5).std() == pytest.approx(0.5 * c, rel=0.03)


def _hsv_recipe(x, channel, fn):
  hsv = color.rgb2hsv(x)
  hsv[..., channel] = np.clip(fn(hsv[..., channel]), 0, 1)
  return np.clip(color.hsv2rgb(hsv), 0, 1)


def test_brightness_contrast_saturate_match_published_recipe(photos32):
  table = tables.CIFAR10_C
  got = {name: _all_severities(photos32, name) for name in ("brightness", "contrast", "saturate")}
  for s in range(5):
    for i, x in enumerate(photos32):
      c = table["brightness"][s]
      np.testing.assert_allclose(got["brightness"][s, i], _hsv_recipe(x, 2, lambda v: v + c),
                                 atol=1e-5)
      a, b = table["saturate"][s]
      np.testing.assert_allclose(got["saturate"][s, i], _hsv_recipe(x, 1, lambda v: v * a + b),
                                 atol=1e-5)
      mean = x.mean(axis=(0, 1), keepdims=True)
      np.testing.assert_allclose(got["contrast"][s, i],
                                 np.clip((x - mean) * table["contrast"][s] + mean, 0, 1),
                                 atol=1e-5)


def test_gray_brightness_adds_to_gray_level(photos32):
  gray = photos32[..., :1]
  out = np.asarray(corruptions.corrupt(jnp.asarray(gray), "brightness", 2, key=KEY))
  np.testing.assert_allclose(out, np.clip(gray + 0.1, 0, 1), atol=1e-6)


def test_fog_follows_published_blend():
  # Constant 0.5 image: out = (0.5 + c P) * 0.5 / (0.5 + c), P spanning [0, 1] at 32 px.
  strength = corruptions.parameters("fog", 4)[0]
  out = np.asarray(corruptions.corrupt(_flat(), "fog", 4, key=KEY))
  for img in out:
    assert img.min() == pytest.approx(0.25 / (0.5 + strength), abs=1e-5)
    assert img.max() == pytest.approx(0.5, abs=1e-5)
    np.testing.assert_allclose(img[..., 0], img[..., 2])  # one haze for all channels


def test_glass_blur_shuffle_is_a_pixel_permutation(photos32):
  # CIFAR severity 1 blurs with sigma 0.05 (a 1-tap kernel): the output is the 8-bit image
  # with pixels swapped locally, so the multiset of RGB triplets is unchanged.
  out = np.asarray(corruptions.corrupt(jnp.asarray(photos32), "glass_blur", 1, key=KEY))
  for img, src in zip(out, photos32):
    quantized = np.floor(src * 255 + 1e-3)
    moved = np.round(img * 255)
    assert (moved != quantized).any(axis=-1).mean() > 0.3
    np.testing.assert_array_equal(np.unique(moved.reshape(-1, 3), axis=0, return_counts=True)[1],
                                  np.unique(quantized.reshape(-1, 3), axis=0,
                                            return_counts=True)[1])


def test_spatial_parameters_scale_with_image_size(photos32):
  big = np.repeat(np.repeat(photos32, 2, axis=1), 2, axis=2)  # 64 px, CIFAR table: scale 2
  sigma = corruptions.parameters("gaussian_blur", 4)
  out = np.asarray(corruptions.corrupt(jnp.asarray(big), "gaussian_blur", 4, key=KEY))
  ref = filters.gaussian(big[0], sigma=2 * sigma, channel_axis=-1)
  np.testing.assert_allclose(out[0], ref, atol=1e-5)


def test_jpeg_quantization_tables_follow_ijg_scaling():
  base = np.reshape(tables.JPEG_LUMINANCE, (8, 8))
  np.testing.assert_array_equal(digital.quantization_table(tables.JPEG_LUMINANCE, 50), base)
  np.testing.assert_array_equal(digital.quantization_table(tables.JPEG_LUMINANCE, 100), 1)
  assert digital.quantization_table(tables.JPEG_LUMINANCE, 80)[0, 0] == 6  # (16*40+50)//100
  assert digital.quantization_table(tables.JPEG_CHROMINANCE, 7).max() == 255  # baseline clamp


def test_gray_jpeg_matches_pillow(photos32):
  gray = np.round(photos32[:, :, :, 0] * 255).astype(np.uint8)
  out = np.asarray(corruptions.corrupt(jnp.asarray(gray[..., None] / 255.0, jnp.float32),
                                       "jpeg_compression", 3, key=KEY))
  for img, src in zip(out, gray):
    buf = BytesIO()
    Image.fromarray(src, mode="L").save(buf, "JPEG", quality=58)
    ref = np.asarray(Image.open(buf), np.float32) / 255
    diff = np.abs(img[..., 0] - ref)
    assert diff.mean() < 0.004 and np.quantile(diff, 0.99) < 0.03


@pytest.mark.parametrize("angle", [0.0, 27.0, -45.0, -110.0])
def test_motion_kernel_matches_imagecorruptions(angle, photos32, ic_module):
  x = np.repeat(np.repeat(photos32[0], 2, axis=0), 2, axis=1)  # 64 px
  radius, sigma = corruptions.parameters("motion_blur", 3, "imagenet")
  ours = imaging.line_blur(jnp.asarray(x), imaging.motion_kernel(radius, sigma), angle)
  ref = ic_module._motion_blur(x, radius=radius, sigma=sigma, angle=angle)
  np.testing.assert_allclose(np.asarray(ours), ref, atol=1e-5)


@pytest.mark.parametrize("radius, alias", [(3, 0.1), (6, 0.5), (10, 0.5), (1.5, 0.1)])
def test_defocus_kernel_matches_cv2_recipe(radius, alias):
  cv2 = pytest.importorskip("cv2")
  half, ksize = (8, 3) if radius <= 8 else (radius, 5)
  grid = np.arange(-half, half + 1)
  yy, xx = np.meshgrid(grid, grid)
  disk = (xx ** 2 + yy ** 2 <= radius ** 2).astype(np.float32)
  ref = cv2.GaussianBlur(disk / disk.sum(), ksize=(ksize, ksize), sigmaX=alias)
  ours = blur.disk_kernel(radius, alias)
  r = ours.shape[0] // 2
  np.testing.assert_allclose(ours, ref[half - r:half + r + 1, half - r:half + r + 1], atol=1e-6)
  assert ref.sum() - ours.sum() < 1e-6  # the trimmed border held only zeros


DETERMINISTIC = ("brightness", "contrast", "saturate", "pixelate", "defocus_blur",
                 "gaussian_blur", "zoom_blur", "jpeg_compression")


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_matches_imagecorruptions_at_224(name, photos224_u8, ic_corrupt):
  x = jnp.asarray(photos224_u8 / 255.0, jnp.float32)
  fn = jax.jit(lambda x: [corruptions.corrupt(x, name, s, key=KEY, table="imagenet")
                          for s in (2, 5)])
  for severity, ours in zip((2, 5), fn(x)):
    ref = np.stack([ic_corrupt(img, severity=severity, corruption_name=name)
                    for img in photos224_u8]).astype(np.float32) / 255
    diff = np.abs(np.asarray(ours) - ref)
    if name == "jpeg_compression":
      assert diff.mean() < 0.004 and np.quantile(diff, 0.99) < 0.03, (severity, diff.mean())
    else:
      assert diff.max() < 1.5 / 255, (severity, diff.max())


def test_fft_filter2d_matches_scipy_correlate():
  # 9x9 > 7x7 takes the FFT path; 31 x 45 padded sizes become 32 x 45 FFTs. A circular wrap
  # reaching into the kept window, or a crop off by one, breaks the match at the borders.
  from scipy import ndimage
  rng = np.random.default_rng(0)
  x = rng.uniform(size=(23, 37, 2)).astype(np.float32)
  kernel = rng.uniform(size=(9, 9)).astype(np.float32)
  out = np.asarray(imaging.filter2d(jnp.asarray(x), kernel, "reflect"))
  for ch in range(2):
    ref = ndimage.correlate(x[..., ch].astype(np.float64), kernel, mode="mirror")
    np.testing.assert_allclose(out[..., ch], ref, atol=1e-4)
  assert [imaging.fft_size(n) for n in (31, 45, 238, 241)] == [32, 45, 240, 243]


def test_canny_matches_opencv():
  # Smooth noise quantized to plateaus: ties between neighbouring magnitudes are common, so a
  # non-strict diagonal comparison, swapped diagonal neighbours, a direction bin at 45
  # degrees or zero-padded Sobel borders each change the edges. steps=64 lets the bounded
  # hysteresis finish, as OpenCV's does.
  cv2 = pytest.importorskip("cv2")
  from scipy import ndimage
  from rvjax.corruptions import weather
  rng = np.random.default_rng(0)
  smooth = ndimage.gaussian_filter(rng.uniform(size=(64, 64)), 1.5)
  img = (np.clip(smooth * 765 - 255, 0, 255) // 16 * 16).astype(np.uint8)
  for low, high in ((100, 100), (50, 150)):
    out = np.asarray(weather._canny(jnp.asarray(img, jnp.float32), float(low), float(high), 64))
    np.testing.assert_array_equal(out, cv2.Canny(img, low, high, L2gradient=False) > 0)


def test_canny_hysteresis_is_bounded_iterated_dilation():
  # Reference: strong edges grow through weak ones by `steps` of edges |= weak & dilate3x3.
  # The image is a vertical step, strong in its top 3 rows and weak below, so the edge grows one
  # row per step: a dilation without its center, a 4-neighbour one or a step count off by one
  # each change the edge map.
  from scipy import ndimage
  from rvjax.corruptions import weather
  img = np.zeros((48, 40))
  img[:, 20:] = 20.0
  img[:3, 20:] = 60.0
  weak, strong = (np.asarray(m) for m in weather._edge_candidates(jnp.asarray(img, jnp.float32),
                                                                  50.0, 150.0))
  edges = strong
  for _ in range(8):
    edges = edges | (weak & ndimage.binary_dilation(edges, np.ones((3, 3), bool)))
  out = np.asarray(weather._canny(jnp.asarray(img, jnp.float32)))
  assert edges[4:12, 19].all() and weak[12:20, 19].all() and not edges[12:20, 19].any()
  np.testing.assert_array_equal(out, edges)

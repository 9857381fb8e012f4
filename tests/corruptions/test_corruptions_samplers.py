"""The loop-free samplers and codecs of the corruptions against their definitions.

Poisson counts against scipy's pmf, salt and pepper against its rates, JPEG and pixelate
against Pillow (no imagecorruptions needed), frost against its texture bank. Fixed keys make
every statistical check deterministic; the bounds are 4-5 standard errors wide.
"""
from io import BytesIO

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from scipy import stats

from rvjax import corruptions
from rvjax.corruptions import digital, noise, tables, weather

KEY = jax.random.key(0)


@pytest.mark.parametrize("rate", [3.0, 100.0, 500.0])
def test_poisson_counts_follow_the_poisson_pmf(rate):
  # On and between the 8-bit levels (the tables, then the remainder sampler), at both ends.
  levels = np.array([0.0, 1.0, 77 / 255, (77.5) / 255, 0.5 + 0.3 / 255, 0.031])
  n = 40_000
  x = jnp.asarray(np.repeat(levels, n), jnp.float32)
  counts = np.asarray(jax.jit(lambda k, x: noise.poisson(k, x, rate))(KEY, x)).reshape(-1, n)
  for level, k in zip(levels, counts):
    lam = rate * float(np.float32(level))
    assert np.all(k == np.round(k)) and k.min() >= 0
    assert abs(k.mean() - lam) < 5 * np.sqrt(max(lam, 1e-3) / n), (level, k.mean(), lam)
    if lam == 0:
      assert k.max() == 0
      continue
    # Pearson chi-square over the counts with >= 20 expected hits, the tails pooled.
    support = np.arange(int(lam + 10 * np.sqrt(lam) + 10))
    expected = n * stats.poisson.pmf(support, lam)
    keep = expected >= 20
    observed = np.array([(k == s).sum() for s in support[keep]])
    observed = np.append(observed, n - observed.sum())
    expected = np.append(expected[keep], n - expected[keep].sum())
    chi2 = ((observed - expected) ** 2 / expected).sum()
    assert stats.chi2.sf(chi2, len(observed) - 1) > 1e-4, (level, chi2, len(observed))


def test_shot_noise_is_poisson_over_the_photon_count():
  x = jnp.full((8, 32, 32, 3), 0.4 + 0.2 / 255, jnp.float32)  # between two 8-bit levels
  photons = corruptions.parameters("shot_noise", 1)  # 500: no count reaches the clip at 1
  out = np.asarray(corruptions.corrupt(x, "shot_noise", 1, key=KEY))
  counts = out * photons
  np.testing.assert_allclose(counts, np.round(counts), atol=1e-4)
  lam = photons * float(x[0, 0, 0, 0])
  assert counts.mean() == pytest.approx(lam, abs=4 * np.sqrt(lam / counts.size))
  assert counts.var() == pytest.approx(lam, rel=0.05)


def test_impulse_noise_rates_and_independent_channels():
  amount = corruptions.parameters("impulse_noise", 5, "imagenet")  # 0.27
  x = jnp.full((16, 64, 64, 3), 0.5, jnp.float32)
  out = np.asarray(corruptions.corrupt(x, "impulse_noise", 5, key=KEY, table="imagenet"))
  hit = out != 0.5
  n = hit.size
  assert set(np.unique(out[hit])) == {0.0, 1.0}
  assert hit.mean() == pytest.approx(amount, abs=5 * np.sqrt(amount * (1 - amount) / n))
  assert (out[hit] == 1.0).mean() == pytest.approx(0.5, abs=5 * np.sqrt(0.25 / hit.sum()))
  # Each channel flips on its own draw (a per-pixel flip would give amount, not amount^2).
  both = (hit[..., 0] & hit[..., 1]).mean()
  assert both == pytest.approx(amount ** 2, abs=5 * np.sqrt(amount ** 2 / hit[..., 0].size))


def _psnr(a, b):
  return 10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - b) ** 2))


@pytest.mark.parametrize("size, table, severity", [
    (32, "cifar10", 1), (32, "cifar10", 5), (224, "imagenet", 1), (224, "imagenet", 5)])
def test_rgb_jpeg_matches_pillow(size, table, severity, photos32, photos224_u8):
  # Pillow codes the same image at the same quality (libjpeg: 4:2:0, fancy upsampling); a float
  # DCT instead of libjpeg's integer one leaves them > 40 dB apart. Observed: 42-46 dB; a
  # transposed DCT, the luma table on chroma, a transposed table or quality +3 give 21-34 dB.
  src = (np.round(photos32 * 255).astype(np.uint8) if size == 32 else photos224_u8)[:1]
  quality = corruptions.parameters("jpeg_compression", severity, table)
  out = corruptions.corrupt(jnp.asarray(src / 255.0, jnp.float32), "jpeg_compression", severity,
                            key=KEY, table=table)[0]
  buf = BytesIO()
  Image.fromarray(src[0]).save(buf, "JPEG", quality=quality)
  ref = np.asarray(Image.open(buf), np.float64) / 255
  assert _psnr(out, ref) > 40.0, (_psnr(out, ref), _psnr(src[0] / 255, ref))


@pytest.mark.parametrize("shape, table, severity", [
    ((32, 32, 3), "cifar10", 3), ((28, 36, 1), "cifar10", 5), ((224, 224, 3), "imagenet", 1),
    ((40, 44, 1), "imagenet", 5)])
def test_pixelate_matches_pillow_box_then_nearest(shape, table, severity, photos224_u8):
  # Pillow's float mode ("F") resamples without its 8-bit rounding after each axis: exact.
  # The first three run the one-pass 2-D form (band radius <= 2), the last the per-axis form.
  src = photos224_u8[0, :shape[0], :shape[1], :shape[2]].astype(np.float32) / 255
  c = corruptions.parameters("pixelate", severity, table)
  out = np.asarray(corruptions.corrupt(jnp.asarray(src[None]), "pixelate", severity, key=KEY,
                                       table=table))[0]
  small = (int(shape[1] * c), int(shape[0] * c))
  for channel in range(shape[2]):
    img = Image.fromarray(src[..., channel], "F").resize(small, Image.BOX)
    ref = np.asarray(img.resize((shape[1], shape[0]), Image.NEAREST))
    np.testing.assert_allclose(out[..., channel], ref, atol=1e-6)


def test_frost_is_a_tinted_crop_of_its_texture_bank():
  frost_weight = corruptions.parameters("frost", 5, "cifar10")[1]
  black = jnp.zeros((12, 32, 32, 3), jnp.float32)
  out = np.asarray(corruptions.corrupt(black, "frost", 5, key=KEY))
  bank = weather.frost_bank(32, 32, 10.0 * 0.2)
  assert bank.shape == (weather.FROST_BANK, 64, 64) and 0.3 < bank.mean() < 0.55
  windows = np.lib.stride_tricks.sliding_window_view(bank, (32, 32), axis=(1, 2))
  crops = []
  for img in out:
    np.testing.assert_allclose(img[..., 0], 0.8 * img[..., 2], atol=1e-6)  # pale blue tint
    density = img[..., 2] / frost_weight
    err = np.abs(windows - density).max(axis=(-2, -1))
    assert err.min() < 1e-5, err.min()  # some crop of some bank member, unblended
    crops.append(np.unravel_index(err.argmin(), err.shape))
  assert len(set(crops)) == len(crops)  # each image its own crop
  assert len({member for member, _, _ in crops}) > 1  # from more than one bank texture


def test_dct_matrix_is_the_orthonormal_dct_ii():
  from scipy.fft import dct
  d = digital.dct_matrix()
  np.testing.assert_allclose(d, dct(np.eye(8), norm="ortho", axis=0), atol=1e-6)


def test_block_dct_matrix_is_the_2d_dct_of_row_major_blocks():
  # A transposed Kronecker product (columns' DCT applied to rows) or a transposed block fails
  # the first check; rows of the rational frequencies 0 and 4 not exactly +-1/8 the second.
  from scipy.fft import dctn
  block = np.random.default_rng(0).integers(-128, 128, (8, 8)).astype(np.float64)
  k = digital.block_dct_matrix()
  np.testing.assert_allclose(k @ block.ravel(), dctn(block, norm="ortho").ravel(), atol=1e-3)
  for u in (0, 4):
    for v in (0, 4):
      np.testing.assert_array_equal(np.abs(k[8 * u + v]), np.float32(0.125))


def _fancy_upsample(v, axis):
  """libjpeg's triangle 2x upsampling along `axis`, written out with edge padding."""
  n = v.shape[axis]
  padded = np.pad(v, [(1, 1) if a == axis else (0, 0) for a in range(v.ndim)], mode="edge")
  take = lambda start: np.take(padded, np.arange(start, start + n), axis=axis)  # noqa: E731
  out = np.stack([0.75 * v + 0.25 * take(0), 0.75 * v + 0.25 * take(2)], axis=axis + 1)
  return out.reshape(v.shape[:axis] + (2 * n,) + v.shape[axis + 1:])


_SIGNS = np.array([[1] * 8, [1, -1, -1, 1, 1, -1, -1, 1]], np.float64)  # DCT rows 0, 4 * sqrt 8


def _jpeg_reference(img, quality):
  """The codec digital.jpeg_compression documents, in float64 numpy with scipy's block DCT."""
  from scipy.fft import dctn, idctn
  h, w, _ = img.shape
  v = np.pad(img.astype(np.float64), ((0, -h % 16), (0, -w % 16), (0, 0)), mode="edge")
  r, g, b = v[..., 0], v[..., 1], v[..., 2]
  planes = [np.round(0.299 * r + 0.587 * g + 0.114 * b),
            np.round(-0.168736 * r - 0.331264 * g + 0.5 * b + 128.0),
            np.round(0.5 * r - 0.418688 * g - 0.081312 * b + 128.0)]
  planes[1:] = [(p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]) / 4
                for p in planes[1:]]
  coded = []
  for p, base in zip(planes, (tables.JPEG_LUMINANCE, tables.JPEG_CHROMINANCE,
                              tables.JPEG_CHROMINANCE)):
    q = digital.quantization_table(base, quality).astype(np.float64)
    blocks = p.reshape(p.shape[0] // 8, 8, p.shape[1] // 8, 8).transpose(0, 2, 1, 3) - 128.0
    coef = dctn(blocks, axes=(2, 3), norm="ortho")
    # Frequencies 0 and 4 have weights +-1/8: computed exactly, so that halfway values round alike.
    for u, su in ((0, _SIGNS[0]), (4, _SIGNS[1])):
      for v, sv in ((0, _SIGNS[0]), (4, _SIGNS[1])):
        coef[..., u, v] = np.einsum("y,x,abyx->ab", su, sv, blocks) / 8
    blocks = idctn(np.round(coef / q) * q, axes=(2, 3), norm="ortho") + 128.0
    coded.append(blocks.transpose(0, 2, 1, 3).reshape(p.shape))
  y, cb, cr = coded[0], *(_fancy_upsample(_fancy_upsample(p, 0), 1) - 128.0 for p in coded[1:])
  rgb = np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], -1)
  return np.clip(np.round(rgb), 0, 255)[:h, :w]


@pytest.mark.parametrize("table, severity", [("cifar10", 3), ("imagenet", 5)])
def test_rgb_jpeg_matches_a_float64_reference(table, severity, photos32):
  # Equal but for float32 rounding at the final 8-bit step (a pixel off by one level, rarely).
  # Swapped left / right neighbours in the chroma upsampling, zero instead of edge padding,
  # transposed blocks or the luma table on chroma each leave pixels several levels apart.
  src = np.round(photos32[:, 1:31, 2:30] * 255)  # 30 x 28: padded to 32 x 32
  quality = corruptions.parameters("jpeg_compression", severity, table)
  out = corruptions.corrupt(jnp.asarray(src / 255.0, jnp.float32), "jpeg_compression", severity,
                            key=KEY, table=table)
  diff = np.abs(np.round(np.asarray(out, np.float64) * 255)
                - np.stack([_jpeg_reference(img, quality) for img in src]))
  assert diff.max() <= 1 and (diff > 0).mean() < 2e-3, (diff.max(), (diff > 0).mean())

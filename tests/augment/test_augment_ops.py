"""AugMix ops against numpy formulas and Pillow; crop and flip helpers."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image, ImageOps
from skimage import data, transform

from rvjax import corruptions
from rvjax.augment import ops


@pytest.fixture(scope="module")
def photo_u8():
  img = transform.resize(data.astronaut(), (32, 32), anti_aliasing=True)
  return np.round(img * 255).astype(np.uint8)


def _f(u8):
  return jnp.asarray(u8, jnp.float32) / 255


def test_ops_avoid_the_test_corruptions():
  assert not set(ops.OPS) & set(corruptions.NAMES)
  # AugMix drops PIL's contrast, color, brightness and sharpness: they overlap the test set.
  assert not set(ops.OPS) & {"contrast", "color", "brightness", "sharpness"}
  assert not any(word in op for op in ops.OPS for word in ("blur", "noise", "jpeg", "satur"))
  assert len(ops.OPS) == 9


@pytest.mark.parametrize("bits", range(9))
def test_posterize_keeps_top_bits(bits, photo_u8):
  mask = 0xFF & ~(2 ** (8 - bits) - 1)
  np.testing.assert_allclose(ops.posterize(_f(photo_u8), bits), (photo_u8 & mask) / 255,
                             atol=1e-6)


@pytest.mark.parametrize("threshold", [0, 100, 128, 256])
def test_solarize_inverts_above_threshold(threshold, photo_u8):
  ref = np.where(photo_u8 < threshold, photo_u8, 255 - photo_u8) / 255
  np.testing.assert_allclose(ops.solarize(_f(photo_u8), threshold / 255), ref, atol=1e-6)


def test_autocontrast_stretches_each_channel(photo_u8):
  x = photo_u8.astype(np.float32) / 255 * 0.5 + 0.2
  x[..., 2] = 0.3  # a constant channel stays as is
  lo, hi = x.min(axis=(0, 1)), x.max(axis=(0, 1))
  ref = np.where(hi > lo, (x - lo) / np.where(hi > lo, hi - lo, 1), x)
  np.testing.assert_allclose(ops.autocontrast(jnp.asarray(x)), ref, atol=1e-6)


def test_equalize_matches_pillow(photo_u8):
  ref = np.asarray(ImageOps.equalize(Image.fromarray(photo_u8)), np.float32) / 255
  np.testing.assert_allclose(ops.equalize(_f(photo_u8)), ref, atol=1e-6)


@pytest.mark.parametrize("pixels", [3, -5])
def test_translate_by_integer_pixels_is_a_filled_roll(pixels, photo_u8):
  x = photo_u8.astype(np.float32) / 255
  for op, axis in ((ops.translate_x, 1), (ops.translate_y, 0)):
    ref = np.roll(x, -pixels, axis=axis)
    index = [slice(None)] * 3
    index[axis] = slice(-pixels, None) if pixels > 0 else slice(None, -pixels)
    ref[tuple(index)] = 0.0
    np.testing.assert_allclose(op(jnp.asarray(x), pixels), ref, atol=1e-6)


def test_rotate_90_is_rot90(photo_u8):
  np.testing.assert_allclose(ops.rotate(_f(photo_u8), 90.0), np.rot90(photo_u8) / 255,
                             atol=1e-5)


@pytest.mark.parametrize("op, pil", [
    (lambda x: ops.rotate(x, 23.0), lambda im: im.rotate(23, resample=Image.BILINEAR)),
    (lambda x: ops.shear_x(x, 0.2),
     lambda im: im.transform(im.size, Image.AFFINE, (1, 0.2, 0, 0, 1, 0), Image.BILINEAR)),
    (lambda x: ops.shear_y(x, -0.25),
     lambda im: im.transform(im.size, Image.AFFINE, (1, 0, 0, -0.25, 1, 0), Image.BILINEAR)),
])
def test_geometric_ops_match_pillow(op, pil, photo_u8):
  ref = np.asarray(pil(Image.fromarray(photo_u8)), np.float32) / 255
  assert np.abs(np.asarray(op(_f(photo_u8))) - ref).max() < 1.5 / 255  # Pillow rounds to 8 bit


def test_apply_op_with_traced_index(photo_u8):
  x = _f(photo_u8)
  run = jax.jit(jax.vmap(lambda k, i: ops.apply_op(k, x, i, 3.0)))
  out = np.asarray(run(jax.random.split(jax.random.key(0), len(ops.OPS)), jnp.arange(9)))
  assert out.shape == (9,) + x.shape and out.min() >= 0 and out.max() <= 1
  np.testing.assert_allclose(out[0], ops.autocontrast(x), atol=1e-6)
  np.testing.assert_allclose(out[1], ops.equalize(x), atol=1e-6)
  # Magnitudes are random (small levels can round to the identity); some draws must change x.
  keys = jax.random.split(jax.random.key(1), 4 * 9)
  many = np.asarray(run(keys, jnp.repeat(jnp.arange(9), 4))).reshape(9, 4, *x.shape)
  for i in range(9):
    assert not all(np.allclose(m, x) for m in many[i]), ops.OPS[i]


def test_random_flip_and_crop(photo_u8):
  x = jnp.stack([_f(photo_u8)] * 8)
  flipped = np.asarray(ops.random_flip(jax.random.key(0), x))
  is_flip = [np.array_equal(f, x[0, :, ::-1]) for f in flipped]
  assert all(np.array_equal(f, x[0]) or fl for f, fl in zip(flipped, is_flip))
  assert 0 < sum(is_flip) < 8

  cropped = np.asarray(ops.random_crop(jax.random.key(1), x, padding=4))
  assert cropped.shape == x.shape
  padded = np.pad(np.asarray(x[0]), ((4, 4), (4, 4), (0, 0)))
  windows = {(i, j) for i in range(9) for j in range(9)}
  for c in cropped:
    assert any(np.array_equal(c, padded[i:i + 32, j:j + 32]) for i, j in windows)
  assert len({c.tobytes() for c in cropped}) > 1  # each example its own offset
  np.testing.assert_array_equal(ops.random_crop(jax.random.key(1), x, padding=0), x)
  with pytest.raises(ValueError):
    ops.random_crop(jax.random.key(1), x[0], padding=4)

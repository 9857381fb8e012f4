"""Image-to-image models: registry, published parameter counts, residual/attention/curve structure.

Full-size models are only traced (jax.eval_shape); tiny variants run on 2 small images.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvjax import models
from rvjax.models import enhancers


def _count(tree):
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(tree))


def _params(name, shape):
  model = models.create(name)
  return jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False),
                        jax.ShapeDtypeStruct(shape, jnp.float32))["params"]


def test_registry_kinds():
  image = set(models.names("image"))
  assert {"dncnn", "dncnn_tiny", "deblur_cnn", "srcnn", "vdsr", "enlighten_generator",
          "enlighten_d_global", "enlighten_d_local", "zero_dce"} <= image
  assert not image & set(models.names("classifier"))
  with pytest.raises(ValueError, match="kind"):
    models.names("gan")


def test_published_sizes():
  # DnCNN-S: conv(1->64), 15 x (conv 64->64 without bias + BN scale/offset), conv(64->1).
  assert _count(_params("dncnn", (1, 40, 40, 1))) == 640 + 15 * (36864 + 128) + 577
  # SRCNN 9-1-5: 8,032 weights (Dong et al.) + 97 biases.
  assert _count(_params("srcnn", (1, 33, 33, 1))) == 8032 + 64 + 32 + 1
  # VDSR: 20 3x3 layers of 64 channels: 664,704 weights + 19 x 64 + 1 biases.
  assert _count(_params("vdsr", (1, 41, 41, 1))) == 576 + 18 * 36864 + 576 + 19 * 64 + 1
  # Zero-DCE's DCE-Net: 79,416 parameters (Guo et al. 2020).
  assert _count(_params("zero_dce", (1, 32, 32, 3))) == 79416
  # Xu et al.: 38 1x121 and 38 121x1 separable filters, 16x16 mixing, 16x16/1x1/8x8 with 512.
  p = _params("deblur_cnn", (1, 32, 32, 1))
  assert p["deconv_rows"]["kernel"].shape == (1, 121, 1, 38)
  assert p["denoise_1"]["kernel"].shape == (16, 16, 1, 512)


# DnCNN, the generator and Zero-DCE run in their own tests below.
@pytest.mark.parametrize("name,shape", [("deblur_cnn_tiny", (2, 12, 12, 1)),
                                        ("srcnn_tiny", (2, 12, 12, 3)),
                                        ("vdsr_tiny", (2, 12, 12, 1))])
def test_tiny_models_map_images_to_images(name, shape):
  model = models.create(name, num_classes=None)
  x = jax.random.uniform(jax.random.key(1), shape)

  @jax.jit  # one compilation: eager init/apply dispatch op by op and is slower on CPU
  def run(x):
    variables = model.init(jax.random.key(0), x, train=False)
    return model.apply(variables, x, train=True, mutable=["batch_stats", "intermediates"])[0]

  out = run(x)
  assert out.shape == shape and np.all(np.isfinite(out))


def test_dncnn_returns_input_minus_noise_estimate():
  model = models.create("dncnn_tiny")
  x = jax.random.uniform(jax.random.key(1), (2, 12, 12, 1))
  v = jax.jit(lambda x: model.init(jax.random.key(0), x, train=False))(x)
  last = sorted(v["params"], key=lambda k: int(k.split("_")[-1]))[-1]
  v = jax.tree.map(lambda a: a, v)
  v["params"][last] = jax.tree.map(jnp.zeros_like, v["params"][last])
  out, state = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))(v, x)
  np.testing.assert_allclose(out, x, atol=1e-7)  # R(y) = 0 -> y
  assert _count(state) == 2 * 8  # one BN layer's running mean and variance


def test_enlighten_generator_attention_gates_output():
  model = models.create("enlighten_generator_tiny")
  white = jnp.ones((1, 8, 8, 3))
  dark = jnp.full((1, 8, 8, 3), 0.05)
  v = jax.jit(lambda x: model.init(jax.random.key(0), x, train=False))(dark)
  apply = jax.jit(lambda x: model.apply(v, x, train=False))
  # A = 1 - I vanishes on a white image: the residual is fully gated off.
  np.testing.assert_allclose(apply(white), white, atol=1e-6)
  assert float(jnp.abs(apply(dark) - dark).max()) > 1e-3
  np.testing.assert_allclose(enhancers.attention_map(dark), 0.95, atol=1e-6)
  # The attention map is an input too, and multiplies the skips: half-dark half-white images
  # leave the white half unchanged.
  half = jnp.concatenate([jnp.full((1, 8, 4, 3), 0.05), jnp.ones((1, 8, 4, 3))], 2)
  np.testing.assert_allclose(apply(half)[:, :, 4:], 1.0, atol=1e-6)
  # Any size: a 7x5 image is the top-left 7x5 of the edge-padded 8x6 one's output.
  odd = jax.random.uniform(jax.random.key(2), (1, 7, 5, 3)) * 0.3
  padded = jnp.pad(odd, ((0, 0), (0, 1), (0, 1), (0, 0)), mode="edge")
  out = jax.jit(lambda x: model.apply(v, x, train=False))(odd)
  assert out.shape == odd.shape
  np.testing.assert_allclose(out, apply(padded)[:, :7, :5], atol=1e-6)


def test_discriminators_give_patch_logits():
  x = jax.ShapeDtypeStruct((2, 64, 64, 3), jnp.float32)
  for name, out in (("enlighten_d_global", (2, 2, 2)), ("enlighten_d_local", (2, 8, 8)),
                    ("enlighten_d_tiny", (2, 16, 16))):
    model = models.create(name)
    logits = jax.eval_shape(
        lambda x: model.apply(model.init(jax.random.key(0), x, train=False), x, train=False), x)
    assert logits.shape == out


def test_zero_dce_applies_its_curves():
  model = models.create("zero_dce_tiny")
  x = jax.random.uniform(jax.random.key(1), (2, 8, 8, 3))
  v = jax.jit(lambda x: model.init(jax.random.key(0), x, train=False))(x)
  out, inter = jax.jit(lambda x: model.apply(v, x, train=False, mutable=["intermediates"]))(x)
  curves = inter["intermediates"]["curves"][0]
  assert curves.shape == (2, 8, 8, 6) and float(jnp.abs(curves).max()) <= 1.0
  le = np.asarray(x)
  for i in range(2):
    a = np.asarray(curves[..., 3 * i:3 * i + 3])
    le = le + a * le * (1 - le)
  np.testing.assert_allclose(out, le, atol=1e-6)
  ends = jnp.stack([jnp.zeros((8, 8, 3)), jnp.ones((8, 8, 3))])
  np.testing.assert_allclose(model.apply(v, ends, train=False), ends, atol=1e-6)  # fixed points


@pytest.mark.parametrize("name", ["dncnn_tiny", "vdsr_tiny"])
def test_residual_restorers_start_as_the_identity(name):
  """The residual branch's last conv starts at zero: an untrained DnCNN / VDSR returns its input
  (a random last layer starts far below the noisy input's PSNR)."""
  model = models.create(name)
  x = jax.random.uniform(jax.random.key(0), (2, 12, 12, 1))
  variables = model.init(jax.random.key(1), x, train=False)
  np.testing.assert_array_equal(model.apply(variables, x, train=False), x)

"""Feature networks for perceptual losses: a local VGG-16 file loads strictly, by name and shape."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvjax.objectives import features


def test_vgg16_weights_load_by_name_and_shape(tmp_path):
  shapes = jax.eval_shape(lambda: features.VGG16Features().init(jax.random.key(0),
                                                                 jnp.zeros((1, 32, 32, 3))))
  rng = np.random.default_rng(0)
  stored = {f"{layer}/{leaf}": rng.normal(size=s.shape).astype(np.float32) * 0.05
            for layer, leaves in shapes["params"].items() for leaf, s in leaves.items()}
  assert len(stored) == 22  # the 11 convs up to conv5_1, kernel and bias
  np.savez(tmp_path / "vgg.npz", **stored)
  fn, description = features.resolve(f"vgg16:{tmp_path / 'vgg.npz'}")
  assert "VGG-16" in description
  x = jnp.full((1, 32, 32, 3), 0.5)
  out = fn(x)
  assert out.shape == (1, 2, 2, 512)  # relu5_1 after 4 pools
  # The first conv sees (x - mean) / std with the stored conv1_1 weights.
  first = jax.lax.conv_general_dilated(
      (x - jnp.asarray(features.IMAGENET_MEAN)) / jnp.asarray(features.IMAGENET_STD),
      stored["conv1_1/kernel"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  params = {layer: {leaf: stored[f"{layer}/{leaf}"] for leaf in ("kernel", "bias")}
            for layer in {k.split("/")[0] for k in stored}}
  _, inter = features.VGG16Features().apply({"params": params}, x, capture_intermediates=True,
                                            mutable=["intermediates"])
  np.testing.assert_allclose(inter["intermediates"]["conv1_1"]["__call__"][0],
                             first + stored["conv1_1/bias"], rtol=1e-4, atol=1e-5)
  # The whole network against VGG-16 written out: conv -> relu, a 2x2 max pool between blocks.
  z = (x - jnp.asarray(features.IMAGENET_MEAN)) / jnp.asarray(features.IMAGENET_STD)
  for b, widths in enumerate(features.VGG16_BLOCKS, 1):
    if b > 1:
      z = nn.max_pool(z, (2, 2), strides=(2, 2))
    for i in range(1, len(widths) + 1):
      z = jax.nn.relu(jax.lax.conv_general_dilated(
          z, stored[f"conv{b}_{i}/kernel"], (1, 1), "SAME",
          dimension_numbers=("NHWC", "HWIO", "NHWC")) + stored[f"conv{b}_{i}/bias"])
  assert float(jnp.std(z)) > 1e-3
  np.testing.assert_allclose(out, z, rtol=1e-4, atol=1e-5)
  # A block's last conv is the fused conv -> relu -> pool stage: its output is already pooled.
  assert inter["intermediates"]["conv1_2"]["__call__"][0].shape == (1, 16, 16, 64)
  bad = dict(stored, **{"conv5_1/kernel": stored["conv5_1/kernel"][..., :10]})
  np.savez(tmp_path / "bad.npz", **bad)
  with pytest.raises(ValueError, match="conv5_1/kernel"):
    features.resolve(f"vgg16:{tmp_path / 'bad.npz'}")
  with pytest.raises(ValueError, match="feature network"):
    features.resolve("resnet50")

"""Low-light enhancement networks: the EnlightenGAN generator and discriminators, Zero-DCE.

  EnlightenGenerator   U-Net with the self-regularized attention map A = 1 - I (Jiang et al. 2021)
  PatchDiscriminator   PatchGAN critic: the global (whole image) and local (random patches) ones
  ZeroDCE              DCE-Net curve estimation (Guo et al. 2020), 8 quadratic curve iterations

Inputs and enhanced outputs are (N, H, W, 3) float32 in the [0, 1] scale.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from rvjax.models.layers import conv_init, max_pool, norm_def

LUMA = (0.299, 0.587, 0.114)


def attention_map(x: jnp.ndarray) -> jnp.ndarray:
  """EnlightenGAN's self-regularized attention 1 - I, I the luma of (N, H, W, 3) x clipped to
  [0, 1]: (N, H, W, 1), near 1 in dark regions and near 0 in bright ones."""
  illumination = jnp.clip(jnp.tensordot(x, jnp.asarray(LUMA, x.dtype), axes=[[-1], [0]]), 0, 1)
  return 1.0 - illumination[..., None]


def _conv(features, kernel=3, strides=1, name=None):
  return nn.Conv(features, (kernel, kernel), strides=(strides, strides), padding="SAME",
                 kernel_init=conv_init, param_dtype=jnp.float32, name=name)


class EnlightenGenerator(nn.Module):
  """U-Net generator with attention-weighted skips and residual: x + A * r(x, A).

  Each level is two (conv 3x3, LeakyReLU 0.2, BN) blocks; down-sampling by 2x2 max pooling
  (the attention map is max-pooled alongside); up-sampling by bilinear resize and a conv; every
  skip feature map is multiplied by the attention map at its scale before concatenation; the
  final 1x1 conv gives a residual r that the attention map gates. The input is [x, A]. Any
  H x W works: the image is edge-padded to a multiple of 2^(levels - 1) and the output cropped
  back.

  Attributes:
    widths: channels per level, shallowest first (EnlightenGAN: 32, 64, 128, 256, 512).
  """
  widths: tuple[int, ...] = (32, 64, 128, 256, 512)

  @nn.compact
  def __call__(self, x, *, train: bool):
    _, h, w, _ = x.shape
    multiple = 2 ** (len(self.widths) - 1)
    x = jnp.pad(x.astype(jnp.float32), ((0, 0), (0, -h % multiple), (0, -w % multiple), (0, 0)),
                mode="edge")
    att = attention_map(x)

    def block(z, f):
      for _ in range(2):
        z = norm_def(train)()(nn.leaky_relu(_conv(f)(z), 0.2))
      return z

    z, a, skips = jnp.concatenate([x, att], -1), att, []
    for i, f in enumerate(self.widths):
      z = block(z, f)
      if i < len(self.widths) - 1:
        skips.append((z, a))
        z = max_pool(z, (2, 2), (2, 2))
        a = max_pool(a, (2, 2), (2, 2))
    for f, (skip, a) in zip(self.widths[-2::-1], skips[::-1]):
      z = jax.image.resize(z, skip.shape[:3] + (z.shape[-1],), "bilinear")
      z = _conv(f)(z)
      z = block(jnp.concatenate([z, skip * a], -1), f)
    residual = _conv(3, 1, name="residual")(z)
    return (x + att * residual)[:, :h, :w]


class PatchDiscriminator(nn.Module):
  """PatchGAN critic: `num_layers` stride-2 4x4 convs with LeakyReLU(0.2), then two stride-1
  convs -> (N, h, w) patch logits. EnlightenGAN's global critic sees the whole image (5
  layers), the local one 32x32 random patches (3 layers)."""
  features: int = 64
  num_layers: int = 5

  @nn.compact
  def __call__(self, x, *, train: bool):
    del train
    z = x.astype(jnp.float32)
    for i in range(self.num_layers):
      z = nn.leaky_relu(_conv(self.features * 2 ** min(i, 3), 4, 2)(z), 0.2)
    z = nn.leaky_relu(_conv(self.features * 2 ** min(self.num_layers, 3), 4)(z), 0.2)
    return _conv(1, 4, name="logits")(z)[..., 0]


class ZeroDCE(nn.Module):
  """DCE-Net: 7 convs (3x3, ReLU) with symmetric skip concatenations -> tanh curve maps.

  The `iterations` x 3 maps alpha_n in [-1, 1] apply LE <- LE + alpha_n LE (1 - LE) to the
  image. The maps are sown as intermediates/"curves" (N, H, W, 3 iterations) for the
  illumination-smoothness loss: `apply(..., mutable=["intermediates"])`.
  """
  features: int = 32
  iterations: int = 8

  @nn.compact
  def __call__(self, x, *, train: bool):
    del train
    x = x.astype(jnp.float32)
    h1 = nn.relu(_conv(self.features)(x))
    h2 = nn.relu(_conv(self.features)(h1))
    h3 = nn.relu(_conv(self.features)(h2))
    h4 = nn.relu(_conv(self.features)(h3))
    h5 = nn.relu(_conv(self.features)(jnp.concatenate([h3, h4], -1)))
    h6 = nn.relu(_conv(self.features)(jnp.concatenate([h2, h5], -1)))
    curves = jnp.tanh(_conv(3 * self.iterations)(jnp.concatenate([h1, h6], -1)))
    self.sow("intermediates", "curves", curves)
    out = x
    for i in range(self.iterations):
      alpha = curves[..., 3 * i:3 * i + 3]
      out = out + alpha * out * (1.0 - out)
    return out

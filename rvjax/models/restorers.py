"""Image-to-image restoration networks: DnCNN, the Xu et al. deblurring CNN, SRCNN, VDSR.

Every model maps (N, H, W, C) float32 images (a degraded input, [0, 1] scale, values outside
allowed) to restored images of the same shape, `__call__(x, *, train)`; batch statistics, when
used, live in `batch_stats`. Super-resolution models take the bicubic-upsampled low-resolution
image (`rvjax.degrade.imresize(y, scale)`), as in the SRCNN and VDSR papers, so one network size
fits every scale. Outputs are not clipped.
"""

import flax.linen as nn
import jax.numpy as jnp

from rvjax.models.layers import conv_init, norm_def


def _conv(features: int, kernel: tuple[int, int], *, bias: bool = True, name: str | None = None,
          init=conv_init):
  return nn.Conv(features, kernel, padding="SAME", use_bias=bias, kernel_init=init,
                 param_dtype=jnp.float32, name=name)


class DnCNN(nn.Module):
  """DnCNN (Zhang et al. 2017): depth convs of 3x3, BN in the middle ones, residual learning.

  conv+ReLU, (depth - 2) x conv+BN+ReLU, conv -> the noise estimate R(y); returns y - R(y).
  The last conv starts at zero, so an untrained DnCNN is the identity (the noisy input's PSNR)
  rather than y minus a random residual (a departure from the paper's orthogonal init: on a
  short CPU budget the random residual cost hundreds of steps below the identity).

  Attributes:
    depth: number of conv layers (17 for DnCNN-S, 20 for the blind DnCNN-B).
    features: channels of the hidden layers.
  """
  depth: int = 17
  features: int = 64

  @nn.compact
  def __call__(self, x, *, train: bool):
    if self.depth < 2:
      raise ValueError(f"DnCNN depth must be >= 2, got {self.depth}.")
    y = x.astype(jnp.float32)
    h = nn.relu(_conv(self.features, (3, 3))(y))
    for _ in range(self.depth - 2):
      h = nn.relu(norm_def(train)()(_conv(self.features, (3, 3), bias=False)(h)))
    return y - _conv(y.shape[-1], (3, 3), init=nn.initializers.zeros)(h)


class DeblurCNN(nn.Module):
  """Non-blind deblurring network after Xu et al. (NeurIPS 2014): deconvolution + denoising CNN.

  The deconvolution sub-network factorizes a large pseudo-inverse kernel into separable
  1 x k and k x 1 convolutions (`deconv_features` of each) mixed by a `mix_kernel` conv; the
  outlier-rejection / denoising sub-network is three convs (`denoise_kernels`) with
  `denoise_features` hidden channels. The paper's sizes: k = 121, 38 separable filters, 16x16
  mixing, then 16x16 / 1x1 / 8x8 convs with 512 channels. Trained per blur kernel (non-blind).
  """
  deconv_kernel: int = 121
  deconv_features: int = 38
  mix_kernel: int = 16
  denoise_kernels: tuple[int, int, int] = (16, 1, 8)
  denoise_features: int = 512

  @nn.compact
  def __call__(self, x, *, train: bool):
    del train
    y = x.astype(jnp.float32)
    k = self.deconv_kernel
    h = jnp.tanh(_conv(self.deconv_features, (1, k), name="deconv_rows")(y))
    h = jnp.tanh(_conv(self.deconv_features, (k, 1), name="deconv_cols")(h))
    deconvolved = _conv(y.shape[-1], (self.mix_kernel,) * 2, name="deconv_mix")(h)
    k1, k2, k3 = self.denoise_kernels
    h = nn.relu(_conv(self.denoise_features, (k1, k1), name="denoise_1")(deconvolved))
    h = nn.relu(_conv(self.denoise_features, (k2, k2), name="denoise_2")(h))
    return _conv(y.shape[-1], (k3, k3), name="denoise_3")(h)


class SRCNN(nn.Module):
  """SRCNN (Dong et al. 2014): patch extraction, non-linear mapping, reconstruction (9-1-5)."""
  kernels: tuple[int, ...] = (9, 1, 5)
  features: tuple[int, ...] = (64, 32)

  @nn.compact
  def __call__(self, x, *, train: bool):
    del train
    if len(self.kernels) != len(self.features) + 1:
      raise ValueError(f"SRCNN needs one more kernel than features, got {self.kernels} and "
                       f"{self.features}.")
    h = x.astype(jnp.float32)
    for k, f in zip(self.kernels[:-1], self.features):
      h = nn.relu(_conv(f, (k, k))(h))
    return _conv(x.shape[-1], (self.kernels[-1],) * 2)(h)


class VDSR(nn.Module):
  """VDSR (Kim et al. 2016): `depth` 3x3 convs with ReLU, global residual: y + f(y); the last
  conv starts at zero, so an untrained VDSR returns its bicubic input."""
  depth: int = 20
  features: int = 64

  @nn.compact
  def __call__(self, x, *, train: bool):
    del train
    y = x.astype(jnp.float32)
    h = y
    for _ in range(self.depth - 1):
      h = nn.relu(_conv(self.features, (3, 3))(h))
    return y + _conv(y.shape[-1], (3, 3), init=nn.initializers.zeros)(h)



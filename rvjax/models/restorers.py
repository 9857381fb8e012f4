"""Image-to-image restoration networks: DnCNN, the Xu et al. deblurring CNN, SRCNN, VDSR.

Every model maps (N, H, W, C) float32 images (a degraded input, [0, 1] scale, values outside
allowed) to restored images of the same shape, `__call__(x, *, train)`; batch statistics, when
used, live in `batch_stats`. Super-resolution models take the bicubic-upsampled low-resolution
image (`rvjax.degrade.imresize(y, scale)`), as in the SRCNN and VDSR papers, so one network size
fits every scale. Outputs are not clipped.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from rvjax.models.layers import conv_init, norm_def
from rvjax.restore.deconvolution import pseudo_inverse_kernel, separable_factors


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

  With `init_kernel` (the known blur kernel) the network starts as a near-linear pseudo-inverse
  followed by the identity (`kernel_init_from_blur`); without it, every conv starts random.
  """
  deconv_kernel: int = 121
  deconv_features: int = 38
  mix_kernel: int = 16
  denoise_kernels: tuple[int, int, int] = (16, 1, 8)
  denoise_features: int = 512
  init_kernel: Any = None
  init_balance: float = 0.03

  @nn.compact
  def __call__(self, x, *, train: bool):
    del train
    y = x.astype(jnp.float32)
    k = self.deconv_kernel
    inits = {}
    if self.init_kernel is not None:
      inits = kernel_init_from_blur(self.init_kernel, self.init_balance, channels=y.shape[-1],
                                    deconv_kernel=k, deconv_features=self.deconv_features,
                                    mix_kernel=self.mix_kernel,
                                    denoise_kernels=tuple(self.denoise_kernels),
                                    denoise_features=self.denoise_features)

    def conv(features, size, name):
      return _conv(features, size, name=name, init=inits.get(name, conv_init))

    h = jnp.tanh(conv(self.deconv_features, (1, k), "deconv_rows")(y))
    h = jnp.tanh(conv(self.deconv_features, (k, 1), "deconv_cols")(h))
    deconvolved = conv(y.shape[-1], (self.mix_kernel,) * 2, "deconv_mix")(h)
    k1, k2, k3 = self.denoise_kernels
    h = nn.relu(conv(self.denoise_features, (k1, k1), "denoise_1")(deconvolved))
    h = nn.relu(conv(self.denoise_features, (k2, k2), "denoise_2")(h))
    return conv(y.shape[-1], (k3, k3), "denoise_3")(h)


# Largest pre-activation of either tanh on inputs in [0, 1] at init: tanh(z) = z (1 - z^2 / 3 ...),
# so the deconvolution starts within ~0.1 % of linear.
_TANH_RANGE = 0.05
_RANDOM_SCALE = 0.1  # the denoiser's free weights: conv_init times this


def kernel_init_from_blur(kernel: Any, balance: float, *, channels: int, deconv_kernel: int,
                          deconv_features: int, mix_kernel: int,
                          denoise_kernels: tuple[int, int, int], denoise_features: int) -> dict:
  """Kernel initializers {layer name: init fn} that start DeblurCNN as pseudo-inverse + identity.

  Deconvolution (Xu et al. 2014, sec. 3.2): the `pseudo_inverse_kernel(kernel, deconv_kernel,
  balance=balance)` (Tikhonov) is split by `separable_factors` into F = deconv_features //
  channels components per channel; feature c F + i of `deconv_rows` holds alpha x row factor i
  of channel c, `deconv_cols` holds column factor i on the diagonal (zeros elsewhere) and
  `deconv_mix` sums channel c's F features at its centre tap, times 1 / alpha. alpha is chosen so
  that no tanh pre-activation exceeds 0.05 on images in [0, 1] (a bound by the factors' L1
  norms), so the sub-network starts as the linear pseudo-inverse to ~0.1 %.

  Denoising (this project's choice; the paper initializes it randomly): `denoise_1` carries +x
  and -x of each channel in features 2c and 2c + 1 (centre tap), so the ReLU keeps both;
  `denoise_2` passes those features through; `denoise_3` outputs their difference, x. The other
  features of `denoise_1` / `denoise_2` start at 0.1 x the default random init (not feeding the
  kept features), and `denoise_3` reads only the kept ones, so the initial denoiser is exactly the
  identity and learns a correction from there.

  Args:
    kernel: (k, k') odd-sided blur kernel summing to 1; balance > 0: its regularization.
    channels: image channels C; deconv_features >= C and denoise_features >= 2 C are required.
    deconv_kernel, deconv_features, mix_kernel, denoise_kernels, denoise_features: as DeblurCNN.

  Returns:
    {"deconv_rows", "deconv_cols", "deconv_mix", "denoise_1", "denoise_2", "denoise_3"} ->
    flax initializers (key, shape, dtype) -> array.
  """
  if deconv_features < channels or denoise_features < 2 * channels:
    raise ValueError(f"DeblurCNN init from a blur kernel needs deconv_features >= channels and "
                     f"denoise_features >= 2 channels, got {deconv_features}, "
                     f"{denoise_features} for {channels} channels.")
  rank = min(deconv_features // channels, deconv_kernel)
  cols, rows = separable_factors(pseudo_inverse_kernel(kernel, deconv_kernel, balance=balance),
                                 rank)
  # flax convs are correlations: flip the factors to convolve with the pseudo-inverse.
  cols, rows = cols[::-1], rows[::-1]
  first = np.abs(rows).sum(0)
  alpha = _TANH_RANGE / max(first.max(), (first * np.abs(cols).sum(0)).max())
  row_w = np.zeros((1, deconv_kernel, channels, deconv_features))
  col_w = np.zeros((deconv_kernel, 1, deconv_features, deconv_features))
  mix_w = np.zeros((mix_kernel, mix_kernel, deconv_features, channels))
  m = (mix_kernel - 1) // 2
  for c in range(channels):
    for i in range(rank):
      f = c * rank + i
      row_w[0, :, c, f] = alpha * rows[:, i]
      col_w[:, 0, f, f] = cols[:, i]
      mix_w[m, m, f, c] = 1.0 / alpha

  def fixed(w):
    def init(key, shape, dtype=jnp.float32):
      del key
      if tuple(shape) != w.shape:
        raise ValueError(f"DeblurCNN init: expected a kernel of shape {w.shape}, got {shape}.")
      return jnp.asarray(w, dtype)
    return init

  def identity_part(set_kept):
    def init(key, shape, dtype=jnp.float32):
      fixed_w, free = np.zeros(shape), np.ones(shape)
      set_kept(fixed_w, free)  # free: 1 where the weight stays random, 0 where fixed_w holds
      random = conv_init(key, shape, jnp.float32) * _RANDOM_SCALE
      return (random * free + fixed_w).astype(dtype)
    return init

  kept = 2 * channels
  k1, k2, k3 = ((k - 1) // 2 for k in denoise_kernels)

  def first_conv(w, free):
    free[:, :, :, :kept] = 0.0
    for c in range(channels):
      w[k1, k1, c, 2 * c], w[k1, k1, c, 2 * c + 1] = 1.0, -1.0

  def middle_conv(w, free):
    free[:, :, :, :kept] = 0.0
    free[:, :, :kept, :] = 0.0
    for f in range(kept):
      w[k2, k2, f, f] = 1.0

  def last_conv(w, free):
    free[...] = 0.0
    for c in range(channels):
      w[k3, k3, 2 * c, c], w[k3, k3, 2 * c + 1, c] = 1.0, -1.0

  return {"deconv_rows": fixed(row_w), "deconv_cols": fixed(col_w), "deconv_mix": fixed(mix_w),
          "denoise_1": identity_part(first_conv), "denoise_2": identity_part(middle_conv),
          "denoise_3": identity_part(last_conv)}


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



"""SNGP classifier (Liu et al. 2020): a spectrally normalized residual CNN with a GP output layer.

Layout for widths (w1, ..., wk), `blocks` residual blocks per stage:
  [SN conv3x3(wi) -> relu -> (x + relu(SN conv3x3(x))) x blocks -> (2x2 average pool if not
   the last stage and min(H, W) >= 8)] x k -> global average pool -> RandomFeatureGP.

Every hidden conv is wrapped in flax's `nn.SpectralNorm` (one power-iteration step per train
pass; the vectors u and the estimates sigma live in the "spectral_stats" collection), so each
residual branch is 1-Lipschitz in the flattened-kernel norm and the network keeps input distances
(the paper's bi-Lipschitz argument). flax divides each kernel by its sigma (spectral norm = 1
exactly, the paper's bound c = 1, without letting sigma fall below it). No batch norm.
The output layer and the Laplace covariance are `rvjax.uncertainty.sngp.RandomFeatureGP`.
"""
import functools

import flax.linen as nn
import jax.numpy as jnp

from rvjax.models import layers
from rvjax.uncertainty import sngp

SPECTRAL_STATS = "spectral_stats"


class SNGPCNN(layers.Classifier):
  """SNGP CNN: `apply(variables, x (N, H, W, C) in [0, 1], train=...) -> (N, K) float32 logits`.

  train=True gives the MAP logits (and updates "spectral_stats" when mutable); train=False the
  mean-field logits of the Laplace posterior (see rvjax.uncertainty.sngp).

  Attributes (besides `layers.Classifier`'s; dropout is not used):
    widths: channels of the stages.
    blocks: residual blocks per stage (>= 0).
    power_iterations: power-iteration steps per call of each spectral norm (>= 1).
    num_features, kernel_scale, ridge, mean_field_factor: the GP layer's (see RandomFeatureGP).
  """
  widths: tuple[int, ...] = (32, 64)
  blocks: int = 2
  power_iterations: int = 1
  num_features: int = 1024
  kernel_scale: float = 1.0
  ridge: float = 1.0
  mean_field_factor: float = sngp.MEAN_FIELD_FACTOR

  def __post_init__(self):
    if self.conv_impl != "xla":
      raise ValueError(f"SNGPCNN's spectral-normalized convs support conv_impl='xla' only, got "
                       f"{self.conv_impl!r}.")
    if not self.widths or min(self.widths) < 1 or self.blocks < 0 or self.power_iterations < 1:
      raise ValueError(f"SNGPCNN needs positive widths, blocks >= 0 and power_iterations >= 1; "
                       f"got {self.widths}, {self.blocks}, {self.power_iterations}.")
    if self.kernel_scale <= 0 or self.ridge <= 0 or self.num_features < 1:
      raise ValueError(f"kernel_scale and ridge must be > 0 and num_features >= 1; got "
                       f"{self.kernel_scale}, {self.ridge}, {self.num_features}.")
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jnp.ndarray, *, train: bool) -> jnp.ndarray:
    x = self._prepare(x)
    conv = functools.partial(nn.Conv, kernel_size=(3, 3), padding=1, dtype=self.dtype,
                             param_dtype=jnp.float32,
                             conv_general_dilated=layers.conv_general_dilated)

    def sn_conv(width, name, inputs):
      return nn.SpectralNorm(conv(width, name=name), n_steps=self.power_iterations,
                             collection_name=SPECTRAL_STATS)(inputs, update_stats=train)

    for i, width in enumerate(self.widths):
      x = nn.relu(sn_conv(width, f"conv{i}", x))
      for j in range(self.blocks):
        x = x + nn.relu(sn_conv(width, f"conv{i}_{j}", x))
      if i < len(self.widths) - 1 and min(x.shape[1:3]) >= 8:
        x = nn.avg_pool(x, (2, 2), strides=(2, 2))
    return sngp.RandomFeatureGP(self.num_classes, num_features=self.num_features,
                                kernel_scale=self.kernel_scale, ridge=self.ridge,
                                mean_field_factor=self.mean_field_factor,
                                name="gp")(layers.global_avg_pool(x), train=train)

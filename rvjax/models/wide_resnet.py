"""Wide ResNets (Zagoruyko & Komodakis, 2016, "Wide Residual Networks"): WRN-depth-k.

Layout for depth d (d - 4 divisible by 6, n = (d - 4) / 6 blocks per group) and widen factor k:
  conv3x3(16) -> 3 groups of n pre-activation blocks with 16k/32k/64k channels and strides
  1/2/2 -> BN -> relu -> global average pool -> dense(num_classes).
Blocks are `preact_resnet.PreActBlock` (BN-relu-conv3x3-BN-relu-[dropout]-conv3x3, 1x1 conv
projection when the shape changes), as in the authors' and the common PyTorch code.
WRN-28-10 has 36,479,194 parameters for RGB input and 10 classes (the paper's 36.5M);
WRN-28-2 has 1,467,610.

Dropout: the paper's dropout sits between the two convs of every block: `block_dropout_rate`
(0.3 in the paper's dropout runs). `dropout_rate`/`dropout_placement` add the zoo-wide head and
per-block dropout sites used by MC dropout; `mc_dropout` keeps both kinds on at evaluation.
"""
import flax.linen as nn
import jax.numpy as jnp

from rvjax.models import layers
from rvjax.models.preact_resnet import PreActBlock


class WideResNet(layers.Classifier):
  """Wide ResNet; defaults give WRN-28-10 (36.5M parameters).

  Call: `model.apply(variables, x, train=...)` with x of shape (N, H, W, C), float in [0, 1]
  (designed for 32x32; any H, W works); returns float32 logits (N, num_classes). BN running
  statistics live in `batch_stats` (mutable when train=True); any dropout uses the "dropout" rng.

  Attributes (besides `layers.Classifier`'s num_classes, mean, std, dropout_rate,
  dropout_placement, mc_dropout, dtype):
    depth: total depth d with (d - 4) % 6 == 0 (10, 16, 22, 28, 34, 40, ...).
    widen_factor: k, multiplies the group widths 16/32/64.
    block_dropout_rate: the paper's dropout between the convs of every block, in [0, 1).
  """
  depth: int = 28
  widen_factor: int = 10
  block_dropout_rate: float = 0.0

  def __post_init__(self):
    if self.depth < 10 or (self.depth - 4) % 6:
      raise ValueError(f"WideResNet depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, ...), "
                       f"got {self.depth}.")
    if self.widen_factor < 1:
      raise ValueError(f"widen_factor must be >= 1, got {self.widen_factor}.")
    layers.check_rate(self.block_dropout_rate, "block_dropout_rate")
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jnp.ndarray, *, train: bool) -> jnp.ndarray:
    x = self._prepare(x)
    blocks_per_group = (self.depth - 4) // 6
    conv = self._conv_def()
    norm = layers.norm_def(train, self.dtype)
    x = conv(16, 3, 1, name="stem_conv")(x)
    for group, base in enumerate((16, 32, 64)):
      for block in range(blocks_per_group):
        strides = 2 if group > 0 and block == 0 else 1
        x = PreActBlock(base * self.widen_factor, strides,
                        dropout_rate=self.block_dropout_rate,
                        deterministic=not (train or self.mc_dropout),
                        conv=conv, norm=norm, name=f"group{group + 1}_block{block + 1}")(x)
        x = self._dropout(x, train)
    x = nn.relu(norm(name="final_bn")(x))
    return self._head(layers.global_avg_pool(x), train)

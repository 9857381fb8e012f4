"""CIFAR ResNets (He et al., 2016, "Deep Residual Learning", Sec. 4.2): ResNet-20/32/44/56/110.

Layout for `stage_sizes=(n, n, n)`, `widths=(16, 32, 64)` (ResNet-(6n+2), n=3 gives ResNet-20):
  conv3x3(16) -> BN -> relu -> 3 stages of n basic blocks (the first block of stages 2 and 3
  has stride 2) -> global average pool -> dense(num_classes).
A basic block is conv3x3 -> BN -> relu -> conv3x3 -> BN, plus the shortcut, then relu.

Shortcuts: `shortcut="A"` (default, as in the paper's CIFAR experiments) is parameter-free:
when shape changes, the input is subsampled with stride 2 and zero-padded in channels. This
gives the paper's 0.27M parameters for ResNet-20 (269,722 with BN scale/bias and a 10-way
head). `shortcut="B"` uses a 1x1 conv + BN projection when shape changes (272,474 in all).
"""
import flax.linen as nn
import jax.numpy as jnp

from rvjax import validate
from rvjax.models import layers

SHORTCUTS = ("A", "B")


class BasicBlock(nn.Module):
  """Post-activation basic block: (N, H, W, Cin) -> (N, H/strides, W/strides, features)."""
  features: int
  strides: int = 1
  shortcut: str = "A"
  conv: layers.ModuleDef = None
  norm: layers.ModuleDef = None

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    y = self.conv(self.features, 3, self.strides, name="conv1")(x)
    y = nn.relu(self.norm(name="bn1")(y))
    y = self.conv(self.features, 3, 1, name="conv2")(y)
    y = self.norm(name="bn2")(y)
    residual = x
    if self.strides != 1 or x.shape[-1] != self.features:
      if self.shortcut == "A":
        residual = x[:, ::self.strides, ::self.strides, :]
        extra = self.features - x.shape[-1]
        if extra < 0:
          raise ValueError(
              f"Option-A shortcut cannot shrink channels ({x.shape[-1]} -> {self.features}).")
        # Zero-pad channels symmetrically, as in the reference CIFAR implementations.
        residual = jnp.pad(residual, ((0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)))
      else:
        residual = self.conv(self.features, 1, self.strides, name="proj_conv")(x)
        residual = self.norm(name="proj_bn")(residual)
    return nn.relu(y + residual)


class ResNet(layers.Classifier):
  """CIFAR ResNet; defaults give ResNet-20 (0.27M parameters).

  Call: `model.apply(variables, x, train=...)` with x of shape (N, H, W, C), float in [0, 1]
  (designed for 32x32; any H, W works); returns float32 logits (N, num_classes). BN running
  statistics live in `batch_stats` (mutable when train=True).

  Attributes (besides `layers.Classifier`'s num_classes, mean, std, dropout_rate,
  dropout_placement, mc_dropout, dtype):
    stage_sizes: basic blocks per stage; (3, 3, 3) = ResNet-20, (5, 5, 5) = ResNet-32.
    widths: channels per stage (the stem uses widths[0]).
    shortcut: "A" (zero-padded identity, parameter-free; the paper's CIFAR choice) or
      "B" (1x1 conv + BN projection when the shape changes).
  """
  stage_sizes: tuple[int, ...] = (3, 3, 3)
  widths: tuple[int, ...] = (16, 32, 64)
  shortcut: str = "A"

  def __post_init__(self):
    layers.check_stages(self.stage_sizes, self.widths)
    validate.check_choice(self.shortcut, "shortcut", SHORTCUTS)
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jnp.ndarray, *, train: bool) -> jnp.ndarray:
    x = self._prepare(x)
    conv = self._conv_def()
    norm = layers.norm_def(train, self.dtype)
    x = conv(self.widths[0], 3, 1, name="stem_conv")(x)
    x = nn.relu(norm(name="stem_bn")(x))
    for stage, (num_blocks, width) in enumerate(zip(self.stage_sizes, self.widths)):
      for block in range(num_blocks):
        strides = 2 if stage > 0 and block == 0 else 1
        x = BasicBlock(width, strides, self.shortcut, conv=conv, norm=norm,
                       name=f"stage{stage + 1}_block{block + 1}")(x)
        x = self._dropout(x, train)
    return self._head(layers.global_avg_pool(x), train)

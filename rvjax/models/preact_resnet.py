"""Pre-activation ResNets (He et al., 2016b, "Identity Mappings in Deep Residual Networks").

`PreActResNet` defaults to PreAct ResNet-18 for 32x32 inputs as used in the adversarial
training literature (Wong et al. 2020 "Fast is better than free", Rice et al. 2020, the
kuangliu/pytorch-cifar layout):
  conv3x3(64) -> 4 stages of 2 pre-activation blocks with 64/128/256/512 channels and strides
  1/2/2/2 -> BN -> relu -> global average pool -> dense(num_classes).
11,172,170 parameters for RGB input and 10 classes (BN scale/bias included, running stats not);
the final BN-relu (He et al. 2016b; Wong/Rice et al.'s code) accounts for 1,024 of them
(kuangliu's version omits it: 11,171,146).

`PreActBlock` is shared with the wide ResNets (`rvjax.models.wide_resnet`), which are the same
pre-activation block with optional dropout between the two convs.
"""
import flax.linen as nn
import jax.numpy as jnp

from rvjax.models import layers


class PreActBlock(nn.Module):
  """Pre-activation basic block: (N, H, W, Cin) -> (N, H/strides, W/strides, features).

  a = relu(BN(x)); y = conv3x3(strides)(a) -> BN -> relu -> [dropout] -> conv3x3(y);
  returns y + shortcut, where shortcut = x if the shape is unchanged, else a 1x1 conv of `a`
  (the projection sees the pre-activated input, as in the reference implementations).

  Attributes:
    features: output channels.
    strides: stride of the first conv and of the projection shortcut.
    dropout_rate: in-block dropout between the convs (the WRN paper's dropout); 0 builds none.
    deterministic: disables the in-block dropout (train=False without MC dropout).
    conv, norm: factories from `layers.conv_def` / `layers.norm_def`.
  """
  features: int
  strides: int = 1
  dropout_rate: float = 0.0
  deterministic: bool = True
  conv: layers.ModuleDef = None
  norm: layers.ModuleDef = None

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    a = nn.relu(self.norm(name="bn1")(x))
    y = self.conv(self.features, 3, self.strides, name="conv1")(a)
    y = nn.relu(self.norm(name="bn2")(y))
    if self.dropout_rate > 0.0:
      y = nn.Dropout(self.dropout_rate, deterministic=self.deterministic)(y)
    y = self.conv(self.features, 3, 1, name="conv2")(y)
    if self.strides != 1 or x.shape[-1] != self.features:
      x = self.conv(self.features, 1, self.strides, name="proj_conv")(a)
    return x + y


class PreActResNet(layers.Classifier):
  """Pre-activation ResNet; defaults give PreAct ResNet-18 (11.17M parameters).

  Call: `model.apply(variables, x, train=...)` with x of shape (N, H, W, C), float in [0, 1]
  (designed for 32x32; any H, W works); returns float32 logits (N, num_classes). BN running
  statistics live in `batch_stats` (mutable when train=True).

  Attributes (besides `layers.Classifier`'s num_classes, mean, std, dropout_rate,
  dropout_placement, mc_dropout, dtype):
    stage_sizes: blocks per stage; (2, 2, 2, 2) = PreAct ResNet-18.
    widths: channels per stage; the stem conv uses widths[0]. Stage i > 0 has stride 2.
  """
  stage_sizes: tuple[int, ...] = (2, 2, 2, 2)
  widths: tuple[int, ...] = (64, 128, 256, 512)

  def __post_init__(self):
    layers.check_stages(self.stage_sizes, self.widths)
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jnp.ndarray, *, train: bool) -> jnp.ndarray:
    x = self._prepare(x)
    conv = self._conv_def()
    norm = layers.norm_def(train, self.dtype)
    x = conv(self.widths[0], 3, 1, name="stem_conv")(x)
    for stage, (num_blocks, width) in enumerate(zip(self.stage_sizes, self.widths)):
      for block in range(num_blocks):
        strides = 2 if stage > 0 and block == 0 else 1
        x = PreActBlock(width, strides, conv=conv, norm=norm,
                        name=f"stage{stage + 1}_block{block + 1}")(x)
        x = self._dropout(x, train)
    x = nn.relu(norm(name="final_bn")(x))
    return self._head(layers.global_avg_pool(x), train)

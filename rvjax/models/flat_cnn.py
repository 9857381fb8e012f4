"""The plain conv -> flatten -> dense networks of the certified-training papers.

Layout: [conv3x3(wi, stride si, bias) -> relu] x k -> flatten -> [dense(d) -> relu] x m
-> dense(num_classes). No batch norm, no pooling: bound propagation (`rvjax.certify`) and
certified training (IBP, CROWN-IBP) are tightest and simplest on such networks. Registered as
"ibp_small" (Gowal et al. 2018's small model with 3x3 kernels: conv16/2, conv32, fc100),
"ibp_large" (their large model: conv64, conv64, conv128/2, conv128, conv128, fc512) and
"ibp_tiny" (tests).
"""
import flax.linen as nn
import jax.numpy as jnp

from rvjax.models import layers


class FlatCNN(layers.Classifier):
  """Conv stages, flatten, dense stages, head; x (N, H, W, C) in [0, 1] -> (N, K) logits.

  Attributes (besides `layers.Classifier`'s):
    widths: output channels of the 3x3 convs.
    strides: their strides (same length as widths).
    dense: widths of the hidden dense layers.
  """
  widths: tuple[int, ...] = (16, 32)
  strides: tuple[int, ...] = (2, 1)
  dense: tuple[int, ...] = (100,)

  def __post_init__(self):
    if len(self.widths) != len(self.strides) or min(self.widths + self.strides + self.dense,
                                                     default=1) < 1:
      raise ValueError(f"FlatCNN widths {self.widths} and strides {self.strides} must be equally "
                       f"long and, like dense {self.dense}, positive.")
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jnp.ndarray, *, train: bool) -> jnp.ndarray:
    x = self._prepare(x)
    conv = self._conv_def(use_bias=True)
    for i, (width, stride) in enumerate(zip(self.widths, self.strides)):
      x = nn.relu(conv(width, strides=stride, name=f"conv{i}")(x))
      x = self._dropout(x, train)
    x = x.reshape(x.shape[0], -1)
    for i, width in enumerate(self.dense):
      x = nn.relu(nn.Dense(width, dtype=self.dtype, param_dtype=jnp.float32, name=f"dense{i}")(x))
    return self._head(x, train)

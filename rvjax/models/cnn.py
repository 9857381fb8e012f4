"""A small, fast CNN for 8x8 to 32x32 grayscale or colour images (digits, MNIST-size, CIFAR).

Layout for widths (w1, ..., wk):
  [conv3x3(wi) -> BN -> relu -> (2x2 max-pool if not the last stage and min(H, W) >= pool_min_size)
   -> dropout site] x k -> global average pool -> head dropout -> dense(num_classes).

With the default widths (32, 64, 128) on 8x8 digits this is conv32 @8x8 -> pool -> conv64 @4x4
-> conv128 @4x4 -> GAP -> dense: 94,186 parameters, reaching ~98% test accuracy on
scikit-learn's digits within seconds of CPU training.
"""
import flax.linen as nn
import jax.numpy as jnp

from rvjax.models import layers


class CNN(layers.Classifier):
  """Small CNN classifier.

  Call: `model.apply(variables, x, train=...)` with x of shape (N, H, W, C), float in [0, 1],
  any H, W >= 1 and any C; returns float32 logits (N, num_classes). With `use_batch_norm` the
  running statistics live in `batch_stats` (mutable when train=True).

  Attributes (besides `layers.Classifier`'s num_classes, mean, std, dropout_rate,
  dropout_placement, mc_dropout, dtype):
    widths: output channels of the conv stages, one 3x3 conv each.
    use_batch_norm: BN after every conv (else the convs carry a bias, and a stage that pools is
      one `layers.ConvReluPool`: same parameters and values, a faster gradient; with conv_impl
      "xla" its impl is "auto", so a first stage on gray images runs `taps.taps_conv_pool`).
    pool_min_size: a stage other than the last is followed by a 2x2 max-pool while the feature
      map is at least this large in both spatial dims (8: pools 8x8 -> 4x4, 32x32 -> 16 -> 8).

  Outside `init`, the last stage's (N, h, w, widths[-1]) map entering the global average pool is
  sown as "intermediates"/"feature_map" (kept only when "intermediates" is mutable; CSG's
  attentional pooling reads it through rvjax.objectives.source.feature_map_and_logits).
  """
  widths: tuple[int, ...] = (32, 64, 128)
  use_batch_norm: bool = True
  pool_min_size: int = 8

  def __post_init__(self):
    if not self.widths or min(self.widths) < 1:
      raise ValueError(f"CNN widths must be one or more positive channel counts, got "
                       f"{self.widths}.")
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jnp.ndarray, *, train: bool) -> jnp.ndarray:
    x = self._prepare(x)
    conv = self._conv_def(use_bias=not self.use_batch_norm)
    norm = layers.norm_def(train, self.dtype)
    for i, width in enumerate(self.widths):
      pool = i < len(self.widths) - 1 and min(x.shape[1:3]) >= self.pool_min_size
      if pool and not self.use_batch_norm:  # conv -> relu -> pool, in the faster equal order
        impl = "auto" if self.conv_impl == "xla" else self.conv_impl  # gray input: taps
        x = layers.ConvReluPool(width, (3, 3), padding=1, impl=impl,
                                kernel_init=layers.conv_init, dtype=self.dtype,
                                name=f"conv{i}")(x)
      else:
        x = conv(width, name=f"conv{i}")(x)
        if self.use_batch_norm:
          x = norm(name=f"bn{i}")(x)
        x = nn.relu(x)
        if pool:
          x = layers.max_pool(x, (2, 2), (2, 2))
      x = self._dropout(x, train)
    if not self.is_initializing():  # Else init would put "intermediates" in the model state.
      self.sow("intermediates", "feature_map", x)
    return self._head(layers.global_avg_pool(x), train)

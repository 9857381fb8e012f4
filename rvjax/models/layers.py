"""Pieces shared by every model in the zoo: the classifier base, normalization, conv and BN.

Every classifier subclasses `Classifier`, which owns the fields all models share (number of
classes, input mean/std, dropout settings, compute dtype) and the three steps every `__call__`
takes: `_prepare` (check, normalize, cast the input), `_dropout` (the block-level MC-dropout
site) and `_head` (dropout, then the final float32 dense layer).

Conventions:
  * Input: float NHWC images in [0, 1]. Normalization happens inside the model as
    (x - mean) / std, where `mean` and `std` are tuples of length 1 (broadcast over all
    channels) or C. The defaults (0.5,) / (0.25,) map [0, 1] to [-2, 2].
  * Batch norm: `nn.BatchNorm(use_running_average=not train, momentum=0.9)`; running
    statistics live in the `batch_stats` collection (pass `mutable=["batch_stats"]` when
    `train=True`).
  * Dropout: only built when `dropout_rate > 0`; uses the rng stream "dropout"; active when
    `train=True`, or at evaluation too when `mc_dropout=True` (Monte Carlo dropout).
    `dropout_placement="head"` puts it before the final dense layer only, `"all"` also after
    every residual block (CNN: after every conv stage).
  * Output: float32 logits of shape (N, num_classes); parameters are float32 whatever `dtype`.
"""
import functools
import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype
from jax import lax

from rvjax import validate
from rvjax.models.fast_conv import conv_general_dilated  # public here too: layers.conv_general_dilated
from rvjax.models.taps import taps_conv_pool, taps_problem

DROPOUT_PLACEMENTS = ("head", "all")
CONV_IMPLS = ("xla", "im2col")
CONV_POOL_IMPLS = ("auto", "taps") + CONV_IMPLS
TAPS_MAX_INPUTS = 9  # "auto" computes conv + pool from taps when kh * kw * Cin is at most this
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
ModuleDef = Any  # a module class or functools.partial of one

# He-normal (fan_out) as in torchvision / the Flax ImageNet example.
conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def check_rate(rate: float, name: str) -> None:
  """Raises ValueError unless 0 <= rate < 1."""
  if not 0.0 <= rate < 1.0:
    raise ValueError(f"{name} must lie in [0, 1), got {rate}.")


def check_stages(stage_sizes: Sequence[int], widths: Sequence[int]) -> None:
  """Raises ValueError unless stage_sizes and widths are equally long, non-empty, positive."""
  if not stage_sizes or len(stage_sizes) != len(widths):
    raise ValueError(f"stage_sizes {tuple(stage_sizes)} and widths {tuple(widths)} must be "
                     "non-empty and of the same length (one entry per stage).")
  if min(stage_sizes) < 1 or min(widths) < 1:
    raise ValueError(f"stage_sizes {tuple(stage_sizes)} and widths {tuple(widths)} must be "
                     ">= 1.")


def normalize(x: jnp.ndarray, mean: Sequence[float], std: Sequence[float]) -> jnp.ndarray:
  """Returns (x - mean) / std, broadcasting length-1 or length-C `mean`/`std` over channels.

  Args:
    x: (N, H, W, C) float images in [0, 1].
    mean: per-channel means, length 1 or C.
    std: per-channel standard deviations (> 0), length 1 or C.

  Returns:
    (N, H, W, C) array of x's dtype.
  """
  channels = x.shape[-1]
  for field, value in (("mean", mean), ("std", std)):
    if len(value) not in (1, channels):
      lengths = " or ".join(map(str, sorted({1, channels})))
      raise ValueError(f"{field} must have length {lengths} (1 broadcasts over channels) for "
                       f"{channels}-channel images, got {tuple(value)}.")
  if any(s <= 0 for s in std):
    raise ValueError(f"std entries must be > 0, got {tuple(std)}.")
  mean_arr = jnp.asarray(mean, dtype=x.dtype)
  std_arr = jnp.asarray(std, dtype=x.dtype)
  return (x - mean_arr) / std_arr


class Classifier(nn.Module):
  """Base for the zoo's image classifiers: shared fields and the input/head steps.

  Subclasses implement `__call__(self, x, *, train: bool) -> (N, num_classes) float32 logits`
  for x of shape (N, H, W, C) in [0, 1], starting with `x = self._prepare(x)` and ending with
  `return self._head(features, train)`.

  Attributes:
    num_classes: number of output logits.
    mean: per-channel input mean, length 1 (broadcast) or C.
    std: per-channel input std, length 1 (broadcast) or C.
    dropout_rate: dropout probability in [0, 1); 0 builds no dropout at all.
    dropout_placement: "head" (before the final dense) or "all" (also after every block).
    mc_dropout: keep dropout active when train=False (Monte Carlo dropout).
    dtype: computation dtype (e.g. jnp.bfloat16); params and logits stay float32.
    conv_impl: "xla" (`nn.Conv`) or "im2col" (`Im2colConv`: same parameters and outputs, a
      batched matmul under `vmap` over ensemble members), for the convs built by `_conv_def`.
  """
  num_classes: int = 10
  mean: tuple[float, ...] = (0.5,)
  std: tuple[float, ...] = (0.25,)
  dropout_rate: float = 0.0
  dropout_placement: str = "head"
  mc_dropout: bool = False
  dtype: Any = jnp.float32
  conv_impl: str = "xla"

  def __post_init__(self):
    """Rejects bad field values when the module is built (ValueError), not deep in a trace."""
    validate.check_choice(self.dropout_placement, "dropout_placement", DROPOUT_PLACEMENTS)
    validate.check_choice(self.conv_impl, "conv_impl", CONV_IMPLS)
    validate.check_positive(self.num_classes, "num_classes")
    check_rate(self.dropout_rate, "dropout_rate")
    if not self.mean or not self.std:
      raise ValueError(f"mean and std must be non-empty, got {self.mean} and {self.std}.")
    super().__post_init__()

  def _conv_def(self, *, use_bias: bool = False) -> ModuleDef:
    """`conv_def` in this model's dtype and conv_impl."""
    return conv_def(self.dtype, use_bias=use_bias, impl=self.conv_impl)

  def _prepare(self, x: jnp.ndarray) -> jnp.ndarray:
    """Checks the input images; returns normalized x in `dtype`, shape unchanged."""
    validate.check_images(x, name="images")
    x = normalize(x.astype(jnp.float32), self.mean, self.std)
    return x.astype(self.dtype)

  def _dropout_active(self, train: bool) -> bool:
    return self.dropout_rate > 0.0 and (train or self.mc_dropout)

  def _dropout(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    """Block-level dropout site: applied only for dropout_placement="all"."""
    if self.dropout_placement != "all" or self.dropout_rate <= 0.0:
      return x
    return nn.Dropout(self.dropout_rate, deterministic=not self._dropout_active(train))(x)

  def _head(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    """(N, D) features -> head dropout -> dense -> (N, num_classes) float32 logits."""
    if self.dropout_rate > 0.0:
      x = nn.Dropout(self.dropout_rate, deterministic=not self._dropout_active(train),
                     name="head_dropout")(x)
    logits = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=jnp.float32,
                      name="head")(x)
    return logits.astype(jnp.float32)


class Im2colConv(nn.Module):
  """2-D convolution as patch extraction (im2col) plus one matmul; a drop-in for `nn.Conv`.

  Same fields, parameter names and shapes as `nn.Conv` (kernel (kh, kw, Cin, F), bias (F,)), so
  variables and checkpoints are interchangeable and outputs agree to float rounding. Patches are
  strided slices of the padded input, concatenated in kernel order (kh, kw, Cin), so the
  convolution is a `lax.dot_general` over (kh * kw * Cin). Mapped over ensemble members
  (`jax.vmap` with per-member kernels) it becomes a batched matmul, where `nn.Conv` becomes a
  grouped convolution (slow on XLA:CPU).

  Call: (N, H, W, Cin) -> (N, H', W', F), H' = (H + pads - kh) // strides + 1.

  Attributes:
    features: output channels F.
    kernel_size: (kh, kw).
    strides: (sh, sw).
    padding: "SAME", "VALID", an int p (p on every side) or ((top, bottom), (left, right)).
    use_bias, kernel_init, bias_init, dtype, param_dtype: as in `nn.Conv`.
  """
  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1)
  padding: Any = "SAME"
  use_bias: bool = True
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros_init()
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    x, kernel, bias = conv_params(self, x, self.use_bias)
    y = im2col_conv(x, kernel, self.strides, conv_pads(self.padding, x.shape, self.kernel_size,
                                                       self.strides))
    return y if bias is None else y + bias


def conv_params(module: nn.Module, x: jnp.ndarray, use_bias: bool):
  """Declares `nn.Conv`'s parameters in `module` (its features, kernel_size, kernel_init,
  bias_init, param_dtype): kernel (kh, kw, Cin, F) and, if `use_bias`, bias (F,); returns x,
  kernel and bias (None without) promoted to `module.dtype`."""
  kernel = module.param("kernel", module.kernel_init, (*module.kernel_size, x.shape[-1],
                                                       module.features), module.param_dtype)
  bias = (module.param("bias", module.bias_init, (module.features,), module.param_dtype)
          if use_bias else None)
  return promote_dtype(x, kernel, bias, dtype=module.dtype)


def conv_pads(padding: Any, x_shape: Sequence[int], kernel_size: Sequence[int],
              strides: Sequence[int]) -> tuple[tuple[int, int], tuple[int, int]]:
  """`nn.Conv`'s padding argument ("SAME", "VALID", int p or ((top, bottom), (left, right)))
  as explicit ((top, bottom), (left, right)) pads for an NHWC input of shape `x_shape`."""
  if isinstance(padding, str):
    return tuple(lax.padtype_to_pads(x_shape[1:3], kernel_size, strides, padding))
  if isinstance(padding, int):
    return ((padding, padding),) * 2
  return tuple(tuple(p) for p in padding)


def im2col_conv(x: jnp.ndarray, kernel: jnp.ndarray, strides: Sequence[int],
                pads: Sequence[Sequence[int]]) -> jnp.ndarray:
  """(N, H, W, Cin) x (kh, kw, Cin, F) kernel -> (N, H', W', F) convolution as im2col + matmul.

  Patches are strided slices of the padded input, concatenated in kernel order (kh, kw, Cin),
  then one `lax.dot_general` over kh * kw * Cin; H' = (H + pads - kh) // sh + 1.
  """
  kh, kw, _, features = kernel.shape
  sh, sw = strides
  x = jnp.pad(x, ((0, 0), *pads, (0, 0)))
  out_h = (x.shape[1] - kh) // sh + 1
  out_w = (x.shape[2] - kw) // sw + 1
  patches = jnp.concatenate(
      [x[:, i:i + sh * (out_h - 1) + 1:sh, j:j + sw * (out_w - 1) + 1:sw, :]
       for i in range(kh) for j in range(kw)], axis=-1)  # (N, H', W', kh * kw * Cin)
  return lax.dot_general(patches, kernel.reshape(-1, features), (((3,), (0,)), ((), ())))


class ConvReluPool(nn.Module):
  """`nn.Conv` (with bias) -> relu -> `max_pool(x, window, window)`, in a faster, equal order.

  Max pooling commutes with adding a per-channel bias and with relu, both monotone (and so is
  their float rounding), so the layer convolves without the bias, max-pools, then adds the bias
  and applies relu: values equal the written order's exactly, while the bias add, relu and
  their gradients (and the bias gradient's reduction) run on the pooled map, window-area times
  smaller. On XLA:CPU, where these memory-bound passes over the convolution's output cost as
  much as the convolutions, the digits CNN's gradient is ~20% faster (benchmarks/peers.py).
  Gradients equal the written order's except where float rounding of conv + bias ties two
  different conv outputs of one window (the written order may then pick the other one).

  Same fields and parameters as `nn.Conv` (kernel (kh, kw, Cin, F), bias (F,)), so variables
  and checkpoints are interchangeable with `nn.Conv(...)` followed by relu and the pool.

  Call: (N, H, W, Cin) -> (N, H'', W'', F): H' as for the conv, then H'' = H' // window[0]
  (VALID pooling, stride = window), likewise W''.

  Attributes:
    features, kernel_size, strides, padding, kernel_init, bias_init, dtype, param_dtype: as in
      `nn.Conv` (the bias is always used).
    window: (wh, ww) pooling window, also its stride.
    impl: "xla" (`fast_conv.conv_general_dilated`), "im2col" (`im2col_conv`), "taps"
      (`rvjax.models.taps.taps_conv_pool`: stride 1 and a window dividing the conv
      output only) or "auto"
      (default): "taps" where it applies and kh * kw * Cin <= `TAPS_MAX_INPUTS` (a first layer
      on gray images, where the full-resolution conv output is the cost), else "xla". "taps"
      has reverse-mode derivatives only: for jax.jvp / jacfwd through the layer pick "xla".
  """
  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1)
  padding: Any = "SAME"
  window: Sequence[int] = (2, 2)
  impl: str = "auto"
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros_init()
  dtype: Any = None
  param_dtype: Any = jnp.float32

  def __post_init__(self):
    """Rejects an unknown impl when the layer is built (ValueError)."""
    validate.check_choice(self.impl, "impl", CONV_POOL_IMPLS)
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    x, kernel, bias = conv_params(self, x, True)
    pads = conv_pads(self.padding, x.shape, self.kernel_size, self.strides)
    window = tuple(self.window)
    impl = self.impl
    if impl in ("auto", "taps"):
      problem = (taps_problem(x.shape, self.kernel_size, pads, window)
                 if tuple(self.strides) == (1, 1) else
                 f"strides (1, 1), got {tuple(self.strides)}")
      if impl == "taps" and problem:
        raise ValueError(f"ConvReluPool impl 'taps' needs {problem}.")
      small = math.prod(kernel.shape[:3]) <= TAPS_MAX_INPUTS
      impl = "taps" if not problem and (impl == "taps" or small) else "xla"
    if impl == "taps":
      return nn.relu(taps_conv_pool(x, kernel, pads, window) + bias)
    if impl == "im2col":
      y = im2col_conv(x, kernel, self.strides, pads)
    else:
      y = conv_general_dilated(x, kernel, self.strides, pads,
                               dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return nn.relu(max_pool(y, window, window) + bias)


def conv_def(dtype: Any = jnp.float32, *, use_bias: bool = False, impl: str = "xla") -> ModuleDef:
  """Returns `conv(features, kernel=3, strides=1, name=None) -> nn.Conv` (or `Im2colConv`).

  Convs are bias-free unless `use_bias` (for convs not followed by BN), padded symmetrically
  by kernel // 2 (PyTorch's padding=1 for 3x3, so a stride-2 conv halves an even size exactly
  as in the papers' code), compute in `dtype`, and hold float32 He-normal (fan_out) kernels.
  `impl` "xla" builds `nn.Conv` with `fast_conv.conv_general_dilated` (XLA's convolution, with a
  gradient that stays fast in loop bodies), "im2col" `Im2colConv` (same parameters; a batched
  matmul when vmapped over ensemble members).
  """
  validate.check_choice(impl, "conv_impl", CONV_IMPLS)
  module = (functools.partial(nn.Conv, conv_general_dilated=conv_general_dilated)
            if impl == "xla" else Im2colConv)

  def conv(features: int, kernel: int = 3, strides: int = 1, name: str | None = None):
    return module(features, (kernel, kernel), strides=(strides, strides),
                  padding=kernel // 2, use_bias=use_bias, kernel_init=conv_init, dtype=dtype,
                  param_dtype=jnp.float32, name=name)
  return conv


def norm_def(train: bool, dtype: Any = jnp.float32) -> ModuleDef:
  """Factory for BatchNorm (momentum 0.9, eps 1e-5), running stats in `batch_stats`.

  Uses batch statistics and updates the running ones when `train`, the running ones otherwise.
  """
  return functools.partial(nn.BatchNorm, use_running_average=not train, momentum=BN_MOMENTUM,
                           epsilon=BN_EPSILON, dtype=dtype, param_dtype=jnp.float32)


def max_pool(x: jnp.ndarray, window: Sequence[int], strides: Sequence[int]) -> jnp.ndarray:
  """Max pooling over H, W of NHWC `x` without padding ("VALID"), as `flax.linen.max_pool`.

  When window == strides and both divide H and W (the usual 2x2/2 pool), the pool is computed
  as a reshape to (N, H/wh, wh, W/ww, ww, C) and a max over the window axes, with a gradient
  that is an elementwise mask, which XLA:CPU keeps fast; `reduce_window`'s gradient
  (select-and-scatter) is rewritten there into index arrays and a scatter, several times slower
  in attacks and train steps. Other shapes fall back to `flax.linen.max_pool`.

  Values and gradients equal flax's, ties included: the whole gradient of a window goes to its
  first maximum in row-major order, as reduce_window's does (plain `jnp.max` would split it
  among tied maxima). Ties are common on images with flat regions (digit backgrounds, clipped
  pixels), where neighbouring convolution outputs are equal; a split gradient would also change
  whenever float rounding breaks such a tie, i.e. between two compilations of the same step.

  Args:
    x: (N, H, W, C) array.
    window: (wh, ww) window size.
    strides: (sh, sw) strides.

  Returns:
    (N, (H - wh) // sh + 1, (W - ww) // sw + 1, C) array of x's dtype.
  """
  window, strides = tuple(window), tuple(strides)
  if x.ndim != 4 or len(window) != 2 or len(strides) != 2:
    raise ValueError(f"max_pool takes NHWC x with a 2-D window and strides, got x of shape "
                     f"{x.shape}, window {window}, strides {strides}.")
  if min(window + strides) < 1:
    raise ValueError(f"max_pool window {window} and strides {strides} must be >= 1.")
  n, h, w, c = x.shape
  wh, ww = window
  if window != strides or h % wh or w % ww:
    return nn.max_pool(x, window, strides=strides)
  return _window_max(x.reshape(n, h // wh, wh, w // ww, ww, c))


@jax.custom_jvp
def _window_max(windows: jnp.ndarray) -> jnp.ndarray:
  """(N, h, wh, w, ww, C) -> (N, h, w, C) max over axes 2 and 4."""
  return jnp.max(windows, axis=(2, 4))


@_window_max.defjvp
def _window_max_jvp(primals, tangents):
  """The tangent of each window's first maximum (row-major), as reduce_window's gradient."""
  (windows,), (dot,) = primals, tangents
  out = _window_max(windows)
  taken = jnp.zeros(out.shape, bool)
  rows = []
  for i in range(windows.shape[2]):
    row = []
    for j in range(windows.shape[4]):
      hit = windows[:, :, i, :, j] == out
      row.append(hit & ~taken)
      taken = taken | hit
    rows.append(jnp.stack(row, axis=3))
  first = jnp.stack(rows, axis=2)
  return out, jnp.sum(jnp.where(first, dot, jnp.zeros_like(dot)), axis=(2, 4))


def global_avg_pool(x: jnp.ndarray) -> jnp.ndarray:
  """(N, H, W, C) -> (N, C) mean over space."""
  return jnp.mean(x, axis=(1, 2))


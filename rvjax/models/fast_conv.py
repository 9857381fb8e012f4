"""`conv_general_dilated`: XLA's convolution with gradients that stay fast on XLA:CPU.

The zoo's convolutions (`layers.conv_def`, `layers.ConvReluPool`) and users' flax models
(`nn.Conv(..., conv_general_dilated=conv_general_dilated)`, also importable as
`rvjax.models.layers.conv_general_dilated`) run through it; `stored` and `kernel_grad_chunks`
are the two XLA:CPU measures its kernel gradient takes.
"""
import functools
import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

KERNEL_GRAD_MIN_ROWS = 4096  # output positions per batch chunk of a kernel gradient (XLA:CPU)
KERNEL_GRAD_MAX_CHUNKS = 8


def conv_general_dilated(lhs: jnp.ndarray, rhs: jnp.ndarray, window_strides: Sequence[int],
                         padding: Any, lhs_dilation: Sequence[int] | None = None,
                         rhs_dilation: Sequence[int] | None = None, dimension_numbers: Any = None,
                         feature_group_count: int = 1, batch_group_count: int = 1,
                         precision: Any = None, preferred_element_type: Any = None) -> jnp.ndarray:
  """`jax.lax.conv_general_dilated` (same arguments and values) with an input gradient that
  XLA:CPU keeps on its fast (Eigen) path inside loop bodies; pass it to flax as
  `nn.Conv(..., conv_general_dilated=conv_general_dilated)` (the zoo's `conv_def` does).

  The input gradient of a convolution is a convolution with the kernel's in/out feature axes
  swapped ("HWOI"). XLA:CPU transposes such a kernel into its fast layout only in the entry
  computation (its ConvCanonicalization pass visits no other); inside a `fori_loop`/`scan`/
  `while_loop` body the convolution falls to a generic loop emitter, 1.8-4x slower for the
  digits CNN's input gradient (an attack's loop). Here the tangent of x is convolved with an
  explicitly transposed kernel under swapped dimension numbers, so the transposed convolution
  (what reverse mode computes) reads the kernel in the standard layout wherever it runs. The
  kernel gradient is lax's own, from x passed through `stored` (XLA:CPU then reads x rather
  than recomputing it), computed per batch chunk and summed (`kernel_grad_chunks`). Values,
  both gradients and forward-mode derivatives equal lax's up to float rounding.

  Args: as `jax.lax.conv_general_dilated`; lhs (N, H, W, C)-like, rhs the kernel.
  Returns: the convolution, as `jax.lax.conv_general_dilated`.
  """
  settings = dict(window_strides=window_strides, padding=padding, lhs_dilation=lhs_dilation,
                  rhs_dilation=rhs_dilation, feature_group_count=feature_group_count,
                  batch_group_count=batch_group_count, precision=precision,
                  preferred_element_type=preferred_element_type)
  dn = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
  out_axis, in_axis = dn.rhs_spec[:2]
  perm = list(range(rhs.ndim))
  perm[out_axis], perm[in_axis] = in_axis, out_axis
  swapped = lax.ConvDimensionNumbers(dn.lhs_spec, (in_axis, out_axis) + dn.rhs_spec[2:],
                                     dn.out_spec)
  conv = functools.partial(lax.conv_general_dilated, dimension_numbers=dn, **settings)
  batch_axis, out_batch_axis = dn.lhs_spec[0], dn.out_spec[0]

  def kernel_term(x, dkernel):
    """conv(x, dkernel) as batch chunks, concatenated: reverse mode sums per-chunk kernel
    gradients, which XLA:CPU runs side by side."""
    out_shape = jax.eval_shape(conv, x, dkernel).shape
    positions = math.prod(out_shape[axis] for axis in dn.out_spec[2:])
    batch = x.shape[batch_axis]
    chunks = 1 if batch_group_count != 1 else kernel_grad_chunks(batch, positions)
    if chunks == 1:
      return conv(x, dkernel)
    size = batch // chunks
    return lax.concatenate([conv(lax.slice_in_dim(x, i * size, (i + 1) * size, axis=batch_axis),
                                 dkernel) for i in range(chunks)], out_batch_axis)

  @jax.custom_jvp
  def fast_grad_conv(x, kernel):
    return conv(x, kernel)

  def _jvp(primals, tangents):
    (x, kernel), (dx, dkernel) = primals, tangents
    out = conv(x, kernel)
    parts = []  # symbolic zeros (e.g. the kernel's in an attack) cost nothing
    if not isinstance(dx, SymbolicZero):
      parts.append(lax.conv_general_dilated(dx, jnp.transpose(kernel, perm),
                                            dimension_numbers=swapped, **settings))
    if not isinstance(dkernel, SymbolicZero):
      parts.append(kernel_term(stored(x), dkernel))
    return out, sum(parts[1:], parts[0]) if parts else jnp.zeros_like(out)

  fast_grad_conv.defjvp(_jvp, symbolic_zeros=True)

  return fast_grad_conv(lhs, rhs)


def kernel_grad_chunks(batch: int, positions: int) -> int:
  """Batch chunks (>= 1, dividing `batch`) in which `conv_general_dilated` computes a kernel
  gradient over `batch` images of `positions` output positions each (H' * W').

  On XLA:CPU the kernel gradient contracts batch * positions rows into a kernel-sized result,
  and that contraction runs no faster on two cores than on one: (288 x 65536) @ (65536 x 64),
  the digits CNN's second conv, took 19.6 ms on one core (`xla_cpu_multi_thread_eigen=false`)
  and 18-21 ms on two; as 8 to 16 independent parts, summed, 13-17 ms, XLA's executor running
  them side by side. So the batch is split into the most chunks, up to `KERNEL_GRAD_MAX_CHUNKS`,
  that divide it and keep `KERNEL_GRAD_MIN_ROWS` rows each (the digits CNN's train step,
  batch 256: 0.89-0.97x the time in one piece, same process); smaller chunks cost more than
  they gain (every conv of ResNet-20 at batch 64 in 8 chunks, down to 512 rows: 1.17x).
  Other backends, or several devices (whose batch shards chunks would cut across): 1.
  """
  if jax.default_backend() != "cpu" or jax.device_count() > 1:
    return 1
  chunks = min(KERNEL_GRAD_MAX_CHUNKS, batch * positions // KERNEL_GRAD_MIN_ROWS)
  while chunks > 1 and batch % chunks:
    chunks -= 1
  return max(chunks, 1)


def stored(x: jnp.ndarray) -> jnp.ndarray:
  """`x` itself (any shape and dtype), which XLA:CPU's consumers then read from memory.

  XLA:CPU fuses cheap elementwise producers into each of their consumers, duplicating them. A
  convolution's kernel gradient reads the convolution's input transposed (the batch becomes
  the contracted axis); when that input is a chain of batch-norm, relu and residual adds, XLA
  recomputes the chain inside the transposing copy, reading each of its operands with a stride
  of a whole image: those copies took 62 of ResNet-20's 250 ms train step (batch 64). jax's
  `optimization_barrier` is expanded away before fusion on XLA:CPU; a conditional is a fusion
  boundary it keeps, so `x` passes through one whose predicate (x's first element equals
  itself) only a NaN makes false. Both branches return x, the other times a one of its dtype,
  so that the two differ. Other backends get `x` back untouched (a GPU conditional reads its
  predicate on the host). benchmarks/stored_conv_input.py measures train steps with and without.
  """
  if jax.default_backend() != "cpu" or x.size == 0:
    return x
  first = x.reshape(-1)[0]
  return lax.cond(first == first, lambda v: v, lambda v: v * jnp.ones((), v.dtype), x)

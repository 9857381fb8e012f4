"""Stride-1 conv followed by a max pool, computed from taps of the input (a custom VJP).

`taps_conv_pool` is what `layers.ConvReluPool` runs for convs on few input channels (impl
"taps", or "auto" when kh * kw * Cin <= `layers.TAPS_MAX_INPUTS`); `taps_problem` says when it
cannot apply.
"""
import functools
import math
from typing import Sequence

import jax
import jax.numpy as jnp
from jax import lax


def _tap_planes(xp, kernel_size, window, out_hw):
  """taps[a][b][c]: (N, h, w) plane of padded input channel c at rows a + wh * i, columns
  b + ww * j, for a < wh + kh - 1, b < ww + kw - 1: the input each phase and tap reads."""
  (kh, kw), (wh, ww), (h, w) = kernel_size, window, out_hw
  planes = [xp[..., c] for c in range(xp.shape[-1])]
  return [[[p[:, a:a + wh * (h - 1) + 1:wh, b:b + ww * (w - 1) + 1:ww] for p in planes]
           for b in range(ww + kw - 1)] for a in range(wh + kh - 1)]


def _phase_maps(taps, kernel, window):
  """The conv output at each window position (dy, dx), row-major: wh * ww maps (N, h, w, F),
  each a sum of kh * kw * Cin broadcast products (elementwise: XLA fuses them)."""
  kh, kw, cin, _ = kernel.shape
  maps = []
  for dy in range(window[0]):
    for dx in range(window[1]):
      terms = [taps[dy + i][dx + j][c][..., None] * kernel[i, j, c]
               for i in range(kh) for j in range(kw) for c in range(cin)]
      maps.append(functools.reduce(jnp.add, terms))
  return maps


def _first_max(maps):
  """(max over the maps, int8 index of the first map attaining it): one variadic reduce, which
  XLA stores rather than recomputing the maps inside every consumer."""
  stacked = jnp.stack(maps)
  index = lax.broadcasted_iota(jnp.int8, stacked.shape, 0)

  def pick(a, b):
    (value_a, index_a), (value_b, index_b) = a, b
    take_a = (value_a > value_b) | ((value_a == value_b) & (index_a < index_b))
    return jnp.where(take_a, value_a, value_b), jnp.where(take_a, index_a, index_b)

  init = (jnp.array(-jnp.inf, stacked.dtype), jnp.array(len(maps), jnp.int8))
  return lax.reduce((stacked, index), init, pick, (0,))


def taps_problem(x_shape, kernel_size, pads, window):
  """What `taps_conv_pool` would lack for these static shapes (a phrase), or None."""
  outputs = [size + sum(pad) - k + 1 for size, pad, k in zip(x_shape[1:3], pads, kernel_size)]
  if min(window) < 1 or math.prod(window) > 127:
    return f"a window with 1 to 127 positions, got {tuple(window)}"
  if min(outputs) < 1 or any(size % w for size, w in zip(outputs, window)):
    return (f"a window that divides the conv output, got window {tuple(window)} and a "
            f"{outputs[0]}x{outputs[1]} output (input {tuple(x_shape)}, pads {tuple(pads)})")
  return None


def _taps_forward(x, kernel, pads, window):
  problem = taps_problem(x.shape, kernel.shape[:2], pads, window)
  if problem:
    raise ValueError(f"taps_conv_pool needs {problem}.")
  kh, kw = kernel.shape[:2]
  xp = jnp.pad(x, ((0, 0), *pads, (0, 0)))
  out_hw = ((xp.shape[1] - kh + 1) // window[0], (xp.shape[2] - kw + 1) // window[1])
  return _first_max(_phase_maps(_tap_planes(xp, (kh, kw), window, out_hw), kernel, window))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def taps_conv_pool(x: jnp.ndarray, kernel: jnp.ndarray, pads: Sequence[Sequence[int]],
                   window: Sequence[int]) -> jnp.ndarray:
  """max_pool(conv(x, kernel), window, window) without the full-resolution conv output.

  For stride-1 convs on inputs with few channels (a first layer on gray images), where XLA's
  convolution writes and re-reads an (N, H, W, F) map that dwarfs its arithmetic: each pooled
  output is the max over the window positions of kh * kw * Cin broadcast products of shifted
  input planes, one fused elementwise pass. The gradient (a custom VJP) keeps the index of
  each window's first maximum (row-major, ties as `max_pool`'s gradient) and computes the
  input gradient with one matmul of the window-expanded output gradient (N h w, wh ww F) by the
  kernel laid out per input offset, then shifted adds; the kernel gradient with one matmul of
  the input offsets. On the digits CNN's 1 -> 32 stage at 32x32 this is 2x faster than the
  convolution and pool, forward and backward (benchmarks/peers.py times the whole network).
  Values equal the convolution's up to float summation order. Reverse mode only (jax.grad,
  vjp); forward mode (jax.jvp, jacfwd) needs ConvReluPool's impl "xla".

  Args:
    x: (N, H, W, Cin).
    kernel: (kh, kw, Cin, F).
    pads: ((top, bottom), (left, right)) zero padding, a tuple of tuples (static); the conv
      output (H + top + bottom - kh + 1, likewise W) must be divisible by the window.
    window: (wh, ww) pool window and stride, a tuple (static), wh * ww <= 127.

  Returns:
    (N, H' // wh, W' // ww, F), H' and W' the stride-1 conv output size.
  """
  return _taps_forward(x, kernel, pads, window)[0]


def _taps_fwd(x, kernel, pads, window):
  out, first = _taps_forward(x, kernel, pads, window)
  return out, (x, kernel, first)


def _taps_bwd(pads, window, residuals, g):
  x, kernel, first = residuals
  kh, kw, cin, features = kernel.shape
  wh, ww = window
  n, h, w, _ = g.shape
  oa, ob = wh + kh - 1, ww + kw - 1  # input offsets per output row / column
  # g spread over the window positions: (N h w, wh ww F), the gradient of each phase map.
  phase = jnp.arange(wh * ww, dtype=jnp.int8)[:, None]
  spread = jnp.where(first[:, :, :, None, :] == phase, g[:, :, :, None, :],
                     jnp.zeros((), g.dtype)).reshape(n * h * w, wh * ww * features)
  # kernel per (phase, F) and input offset (a, b, Cin): kernel[a - dy, b - dx] where in range.
  per_offset = jnp.zeros((wh, ww, features, oa, ob, cin), kernel.dtype)
  for dy in range(wh):
    for dx in range(ww):
      per_offset = per_offset.at[dy, dx, :, dy:dy + kh, dx:dx + kw].set(
          jnp.transpose(kernel, (3, 0, 1, 2)))
  per_offset = per_offset.reshape(wh * ww * features, oa * ob * cin)
  # offsets (a, b) land on padded input (wh m + r, ww l + q) for a = wh s + r, b = ww u + q,
  # from output cell (m - s, l - u): one plane per (a, b), shifted and summed per (r, q).
  at_offset = (spread @ per_offset).T.reshape(oa, ob, cin, n, h, w)
  sa, sb = -(-oa // wh), -(-ob // ww)
  rows = []
  for r in range(wh):
    cols = []
    for q in range(ww):
      cols.append(functools.reduce(jnp.add, [
          jnp.pad(at_offset[wh * s + r, ww * u + q],
                  ((0, 0), (0, 0), (s, sa - 1 - s), (u, sb - 1 - u)))
          for s in range(sa) for u in range(sb) if wh * s + r < oa and ww * u + q < ob]))
    rows.append(jnp.stack(cols, axis=-1))
  padded = jnp.stack(rows, axis=3).reshape(cin, n, (h + sa - 1) * wh, (w + sb - 1) * ww)
  (top, _), (left, _) = pads
  dx = padded.transpose(1, 2, 3, 0)[:, top:top + x.shape[1], left:left + x.shape[2]]
  # kernel gradient: input offsets (N h w, oa ob Cin) against the spread gradient.
  xp = jnp.pad(x, ((0, 0), *pads, (0, 0)))
  taps = _tap_planes(xp, (kh, kw), window, (h, w))
  offsets = jnp.stack([taps[a][b][c] for a in range(oa) for b in range(ob) for c in range(cin)],
                      axis=-1).reshape(n * h * w, oa * ob * cin)
  both = (offsets.T @ spread).reshape(oa, ob, cin, wh, ww, features)
  dkernel = functools.reduce(jnp.add, [both[dy:dy + kh, dx:dx + kw, :, dy, dx]
                                       for dy in range(wh) for dx in range(ww)])
  return dx.astype(x.dtype), dkernel.astype(kernel.dtype)


taps_conv_pool.defvjp(_taps_fwd, _taps_bwd)

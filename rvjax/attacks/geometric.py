"""Rotation-translation attack (Engstrom et al., ICML 2019): exhaustive grid or worst-of-k search.

`warp` rotates each image about its center ((H-1)/2, (W-1)/2) by an angle in degrees
(counter-clockwise as displayed, like np.rot90), then translates it by (tx, ty) pixels (tx to the
right, ty down), with bilinear interpolation and zero (black) padding outside the image.
Translations are literal pixels at any image size: the default 3 px is the paper's CIFAR (32 px)
setting, about 10% of the width; scale it yourself for other sizes (e.g. 24 px at 224).
"""
from typing import Any, Callable

import jax
import jax.numpy as jnp

from rvjax.attacks import _checks, losses


def _bilinear(x: jnp.ndarray, rows: jnp.ndarray, cols: jnp.ndarray) -> jnp.ndarray:
  """Samples x (N, H, W, C) at float coordinates rows, cols (N, H, W); zero outside."""
  n, h, w, _ = x.shape
  r0, c0 = jnp.floor(rows), jnp.floor(cols)
  wr, wc = rows - r0, cols - c0
  batch = jnp.arange(n)[:, None, None]

  def tap(r, c, weight):
    inside = (r >= 0) & (r <= h - 1) & (c >= 0) & (c <= w - 1)
    ri = jnp.clip(r, 0, h - 1).astype(jnp.int32)
    ci = jnp.clip(c, 0, w - 1).astype(jnp.int32)
    return jnp.where(inside, weight, 0.0)[..., None] * x[batch, ri, ci]

  return (tap(r0, c0, (1 - wr) * (1 - wc)) + tap(r0, c0 + 1, (1 - wr) * wc)
          + tap(r0 + 1, c0, wr * (1 - wc)) + tap(r0 + 1, c0 + 1, wr * wc))


def warp(x: Any, params: Any) -> jnp.ndarray:
  """Rotates then translates each image: x (N, H, W, C), params (N, 3) = (tx, ty, degrees).

  Returns (N, H, W, C); zero params give x exactly, and values stay in x's range joined with 0.
  """
  x = jnp.asarray(x)
  params = jnp.asarray(params, x.dtype)
  _, h, w, _ = x.shape
  cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
  tx, ty, theta = (params[:, i, None, None] for i in range(3))
  theta = jnp.deg2rad(theta)
  rows = jnp.arange(h, dtype=x.dtype)[None, :, None] - cy - ty
  cols = jnp.arange(w, dtype=x.dtype)[None, None, :] - cx - tx
  cos, sin = jnp.cos(theta), jnp.sin(theta)
  return _bilinear(x, cos * rows + sin * cols + cy, cos * cols - sin * rows + cx)


def grid_params(max_rotation: Any, max_translation: Any, grid: tuple[int, int, int]) -> jnp.ndarray:
  """(G, 3) (tx, ty, degrees) of the evenly spaced grid, G = grid[0] * grid[1] * grid[2]."""
  tx = jnp.linspace(-max_translation, max_translation, grid[0])
  ty = jnp.linspace(-max_translation, max_translation, grid[1])
  th = jnp.linspace(-max_rotation, max_rotation, grid[2])
  return jnp.stack(jnp.meshgrid(tx, ty, th, indexing="ij"), axis=-1).reshape(-1, 3)


def spatial(logits_fn: Callable, x: Any, y: Any, *, max_rotation: Any = 30.0,
            max_translation: Any = 3, grid: tuple[int, int, int] = (5, 5, 31),
            random_search: int | None = None, key: jax.Array | None = None,
            batch_size: int | None = None) -> jnp.ndarray:
  """Worst rotation + translation per example, under the cross-entropy.

  Grid mode (default): all grid[0] x grid[1] x grid[2] combinations of tx, ty in
  linspace(-max_translation, max_translation) and angles in linspace(-max_rotation, max_rotation)
  (odd counts include the identity). Random mode (`random_search=k` and `key`): k transformations
  drawn uniformly from the same ranges, independently per example (Engstrom's worst-of-k).
  Candidates are evaluated as vmapped batches of warps; per example the result is a misclassified
  candidate with the highest loss if any, else the highest-loss one.

  Args:
    logits_fn: images (N, H, W, C) -> logits (N, K).
    x: (N, H, W, C) float images in [0, 1].
    y: (N,) int labels in [0, K).
    max_rotation: degrees >= 0.
    max_translation: pixels >= 0 (literal pixels, see the module docstring).
    grid: (translations x, translations y, rotations) counts, each >= 1 (static).
    random_search: if set, the number k >= 1 of random candidates instead of the grid (static).
    key: PRNG key, required with random_search.
    batch_size: candidates evaluated at once (lax.map); None evaluates all in one vmap.

  Returns:
    x_adv (N, H, W, C) in [0, 1]: each example warped by its worst candidate.
  """
  _checks.check_scalar(max_rotation, "max_rotation", allow_zero=True)
  _checks.check_scalar(max_translation, "max_translation", allow_zero=True)
  if random_search is None:
    if len(grid) != 3:
      raise ValueError(f"grid must be 3 counts (tx, ty, rotations), got {grid!r}.")
    for i, g in enumerate(grid):
      _checks.check_int(g, f"grid[{i}]")
  else:
    _checks.check_int(random_search, "random_search")
    if key is None:
      raise ValueError("random_search needs key, a PRNG key.")
  if batch_size is not None:
    _checks.check_int(batch_size, "batch_size")
  _checks.check_inputs(logits_fn, x, y)
  x, y = jnp.asarray(x), jnp.asarray(y)
  n = x.shape[0]

  if random_search is None:
    p = grid_params(max_rotation, max_translation, grid)
    params = jnp.broadcast_to(p[:, None, :], (p.shape[0], n, 3))
  else:
    high = jnp.asarray([max_translation, max_translation, max_rotation], x.dtype)
    params = jax.random.uniform(key, (random_search, n, 3), x.dtype, -1.0, 1.0) * high

  def evaluate(p):
    logits = logits_fn(warp(x, p))
    return losses.ce(logits, y), losses.success(logits, y, None, False)

  if batch_size is None:
    values, succ = jax.vmap(evaluate)(params)
  else:
    values, succ = jax.lax.map(evaluate, params, batch_size=batch_size)
  idx = losses.best_index(values, succ)
  return jnp.clip(warp(x, params[idx, jnp.arange(n)]), 0.0, 1.0)

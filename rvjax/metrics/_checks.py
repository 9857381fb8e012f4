"""Input checks for metrics that take class probabilities: clear ValueErrors before any compute.

Shapes, ranks and `num_bins` are checked always (they are static). Values (probabilities sum to 1
and are non-negative, labels in range, weights non-negative) are checked only when the arrays are
concrete (`rvjax.validate.is_concrete`); under `jax.jit` the value checks are skipped.

With `weights`, only the rows of positive weight are value-checked, so padded rows of an eval batch
(weight 0) may hold anything, e.g. all-zero probabilities and label -1.
"""
from typing import Any

import jax.numpy as jnp
import numpy as np

from rvjax import validate

PROB_ATOL = 1e-3  # rows of `probs` must sum to 1 within this absolute tolerance.


def check_num_bins(num_bins: Any) -> None:
  """Raises ValueError unless `num_bins` is an int >= 1."""
  validate.check_positive(num_bins, "num_bins", integer=True)


def _shape(x: Any, name: str) -> tuple:
  shape = getattr(x, "shape", None)
  if shape is None:
    raise ValueError(f"{name} must be an array, got {type(x).__name__}.")
  return tuple(shape)


def check_scores_2d(x: Any, labels: Any, weights: Any = None, *, name: str = "probs") -> np.ndarray | None:
  """Checks (N, K) floating `x`, (N,) int labels in [0, K) and optional (N,) weights.

  Returns the boolean numpy mask of rows to value-check (weight > 0) when `weights` is concrete,
  all-True when `weights` is None, and None when the weights are traced (skip value checks).
  """
  shape = _shape(x, name)
  if len(shape) != 2:
    raise ValueError(f"{name} must have shape (N, K), got shape {shape}.")
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise ValueError(f"{name} must be floating point, got dtype {x.dtype}.")
  n, k = shape
  if k < 1:
    raise ValueError(f"{name} must have at least one class, got shape {shape}.")
  lshape = _shape(labels, "labels")
  if len(lshape) != 1:
    raise ValueError(f"labels must be a rank-1 array of class ids, got shape {lshape}.")
  if lshape[0] != n:
    raise ValueError(f"labels has {lshape[0]} entries but {name} has {n} rows; lengths must match.")
  if not jnp.issubdtype(labels.dtype, jnp.integer):
    raise ValueError(f"labels must be integers, got dtype {labels.dtype}.")
  rows = check_weights(weights, n)
  if rows is not None and validate.is_concrete(labels):
    validate.check_labels(np.asarray(labels)[rows], k)
  return rows


def check_weights(weights: Any, n: int) -> np.ndarray | None:
  """Checks optional (N,) non-negative weights with a positive sum; returns rows to value-check."""
  if weights is None:
    return np.ones((n,), bool)
  wshape = _shape(weights, "weights")
  if wshape != (n,):
    raise ValueError(f"weights must have shape ({n},) to match the {n} examples, got {wshape}.")
  if not validate.is_concrete(weights):
    return None
  w = np.asarray(weights, np.float64)
  if not np.all(np.isfinite(w)):
    raise ValueError("weights contains NaN or inf values.")
  if np.any(w < 0):
    raise ValueError(f"weights must be >= 0, got a minimum of {w.min():.4g}.")
  if n and w.sum() <= 0:
    raise ValueError("weights sum to 0: no example to average over.")
  return w > 0


def check_probs(probs: Any, labels: Any, weights: Any = None, *, name: str = "probs") -> None:
  """Checks (N, K) probabilities: shapes always; when concrete, finite, >= 0, rows sum to 1."""
  rows = check_scores_2d(probs, labels, weights, name=name)
  if rows is not None and validate.is_concrete(probs):
    check_prob_values(np.asarray(probs)[rows], name=name)


def check_prob_values(p: np.ndarray, *, name: str = "probs") -> None:
  """Value checks on a concrete (..., K) probability array (rows along the last axis)."""
  if not p.size:
    return
  p = np.asarray(p, np.float64)
  if not np.all(np.isfinite(p)):
    raise ValueError(f"{name} contains NaN or inf values.")
  lo = p.min()
  if lo < 0:
    raise ValueError(f"{name} must be probabilities (>= 0), got a negative entry {lo:.4g}; "
                     "pass softmax(logits), not logits.")
  err = np.abs(p.sum(-1) - 1.0)
  if err.max() > PROB_ATOL:
    worst = np.unravel_index(np.argmax(err), err.shape)
    raise ValueError(f"{name} rows must sum to 1 (tolerance {PROB_ATOL}), got a row {worst} summing "
                     f"to {p.sum(-1)[worst]:.6g}; pass softmax(logits), not logits.")


def weighted_mean(x: jnp.ndarray, weights: Any) -> jnp.ndarray:
  """Mean of `x` (N,) over examples, weighted by `weights` (N,) if given."""
  if weights is None:
    return jnp.mean(x)
  w = jnp.asarray(weights, x.dtype)
  return jnp.sum(w * x) / jnp.sum(w)

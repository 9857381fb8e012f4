"""Argument checks shared by the attacks: ValueErrors that name the bad argument.

Static facts (shapes, dtypes, choices, counts) are always checked; values of arrays (labels, eps)
only when they are concrete, so every attack stays jit- and vmap-compatible.
"""
from typing import Any, Callable

import jax
import numpy as np

from rvjax import validate


def check_int(value: Any, name: str, *, minimum: int = 1) -> None:
  """Raises ValueError unless `value` is a Python/numpy int >= minimum (a static count)."""
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
    raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def check_scalar(value: Any, name: str, *, allow_zero: bool = False) -> None:
  """Raises ValueError if a concrete hyperparameter is negative (or zero unless allowed)."""
  if validate.is_concrete(value):
    with jax.ensure_compile_time_eval():  # a concrete array closed over inside a jit trace
      validate.check_positive(value, name, allow_zero=allow_zero)


def check_inputs(logits_fn: Callable, x: Any, y: Any, *, targeted: bool = False,
                 y_target: Any = None) -> int:
  """Checks images, labels and targets against `logits_fn`; returns the number of classes K.

  Traces `logits_fn` once with `jax.eval_shape` (no compute) to learn K. Concrete arrays closed
  over inside a jit/scan/cond trace are still value-checked (eagerly, at trace time).
  """
  with jax.ensure_compile_time_eval():
    return _check_inputs(logits_fn, x, y, targeted, y_target)


def _check_inputs(logits_fn, x, y, targeted, y_target):
  validate.check_images(x, name="x")
  out = jax.eval_shape(logits_fn, x)
  if len(out.shape) != 2 or out.shape[0] != x.shape[0]:
    raise ValueError(
        f"logits_fn must map images {tuple(x.shape)} to logits (N, K), got shape {out.shape}.")
  num_classes = out.shape[1]
  validate.check_labels(y, num_classes, name="y", batch=x.shape[0])
  if not targeted:
    if y_target is not None:
      raise ValueError("y_target was given but targeted=False; pass targeted=True.")
    return num_classes
  if y_target is None:
    raise ValueError("targeted=True needs y_target, an (N,) int array of target classes.")
  validate.check_labels(y_target, num_classes, name="y_target", batch=x.shape[0])
  if validate.is_concrete(y) and validate.is_concrete(y_target):
    same = np.asarray(y_target) == np.asarray(y)
    if np.any(same):
      raise ValueError(
          f"y_target must differ from y; they are equal at {int(same.sum())} of {same.size} "
          f"examples (first at index {int(np.argmax(same))}).")
  return num_classes

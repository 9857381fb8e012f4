"""Input checks shared by every floor: clear errors at trace time instead of XLA stack traces.

Shape, rank and dtype are checked on tracers too (they are static); value ranges are checked
only on concrete arrays, since a traced array has no values at trace time.
"""
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(x: Any) -> bool:
  """True when `x` holds values now (numpy or a committed jax array), not a tracer."""
  return not isinstance(x, jax.core.Tracer)


def check_images(x: Any, *, name: str = "images", channels: int | None = None) -> None:
  """Checks float NHWC images in [0, 1]; raises ValueError naming `name` and the problem.

  Args:
    x: array of shape (N, H, W, C), floating dtype, values in [0, 1].
    name: how the caller calls this argument, used in the message.
    channels: the expected C, if known.
  """
  shape = getattr(x, "shape", None)
  if shape is None:
    raise ValueError(f"{name} must be an array, got {type(x).__name__}.")
  if len(shape) != 4:
    raise ValueError(
        f"{name} must be a rank-4 NHWC batch, got rank {len(shape)} with shape {tuple(shape)}.")
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise ValueError(
        f"{name} must be floating point in [0, 1] (float32), got dtype {x.dtype}; "
        "divide uint8 images by 255.")
  if channels is not None and shape[-1] != channels:
    raise ValueError(f"{name} must have {channels} channels (NHWC), got shape {tuple(shape)}.")
  if is_concrete(x) and x.size:
    values = np.asarray(x)  # Materialize: np.min on a jax array inside a trace would trace.
    lo, hi = float(values.min()), float(values.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
      raise ValueError(f"{name} contains NaN or inf values.")
    if lo < 0.0 or hi > 1.0:
      raise ValueError(f"{name} must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}].")


def check_labels(y: Any, num_classes: int, *, name: str = "labels", batch: int | None = None) -> None:
  """Checks int labels of shape (N,) in [0, num_classes); value check only when concrete."""
  shape = getattr(y, "shape", None)
  if shape is None or len(shape) != 1:
    raise ValueError(f"{name} must be a rank-1 array of class ids, got shape {shape}.")
  if not jnp.issubdtype(y.dtype, jnp.integer):
    raise ValueError(f"{name} must be integers, got dtype {y.dtype}.")
  if batch is not None and shape[0] != batch:
    raise ValueError(f"{name} has {shape[0]} entries but the images have {batch}.")
  if is_concrete(y) and y.size:
    values = np.asarray(y)
    lo, hi = int(values.min()), int(values.max())
    if lo < 0 or hi >= num_classes:
      raise ValueError(
          f"{name} must lie in [0, {num_classes}), got values in [{lo}, {hi}].")


def check_positive(value: Any, name: str, *, allow_zero: bool = False,
                   integer: bool = False) -> None:
  """Raises ValueError unless a static hyperparameter is > 0 (>= 0 with `allow_zero`).

  With `integer=True` it must also be an int (a Python or numpy integer, not a bool): >= 1, or
  >= 0 with `allow_zero`.
  """
  if integer:
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not is_int or value < (0 if allow_zero else 1):
      raise ValueError(f"{name} must be an int {'>= 0' if allow_zero else '>= 1'}, got {value!r}.")
    return
  bad = value < 0 if allow_zero else value <= 0
  if bad:
    bound = ">= 0" if allow_zero else "> 0"
    raise ValueError(f"{name} must be {bound}, got {value}.")


def check_choice(value: Any, name: str, choices) -> None:
  """Raises ValueError if `value` is not one of `choices`, listing them."""
  if value not in choices:
    raise ValueError(f"Unknown {name} {value!r}; valid: {', '.join(map(str, sorted(choices)))}.")


# The batch schema of each task: the entries every batch must carry (extra entries are allowed).
BATCH_SCHEMAS = {
    "classification": ("image", "label", "mask"),
    "paired": ("image", "target", "mask"),
    "unpaired": ("image", "reference", "mask"),
}


def check_batch(batch: Any, task: str = "classification") -> None:
  """Checks a train/eval batch against the schema of `task` (see BATCH_SCHEMAS).

  classification: {"image": (B,H,W,C) float in [0,1], "label": (B,) int, "mask": (B,)};
  paired: {"image": (B,H,W,C) degraded, "target": (B,H',W',C') clean, both float in [0,1],
  "mask": (B,)} (H', W' may differ from H, W, e.g. super-resolution);
  unpaired: {"image": (B,H,W,C) from set A, "reference": (B',H',W',C') from set B, both float in
  [0,1], "mask": (B,)}.
  Runs at trace time on shapes and dtypes (values too when concrete); raises ValueError.
  """
  check_choice(task, "task", BATCH_SCHEMAS)
  need = BATCH_SCHEMAS[task]
  missing = set(need) - set(batch)
  if missing:
    raise ValueError(f"batch is missing {sorted(missing)}; a {task} batch needs "
                     f"{', '.join(need[:-1])} and {need[-1]}.")
  check_images(batch["image"], name="batch['image']")
  n = batch["image"].shape[0]
  if task in ("paired", "unpaired"):
    other = need[1]
    check_images(batch[other], name=f"batch[{other!r}]")
    if task == "paired" and batch[other].shape[0] != n:
      raise ValueError(f"batch[{other!r}] has {batch[other].shape[0]} images but batch['image'] "
                       f"has {n}.")
  for key in ("label", "mask") if task == "classification" else ("mask",):
    shape = getattr(batch[key], "shape", None)
    if shape is None or tuple(shape) != (n,):
      raise ValueError(f"batch[{key!r}] must have shape ({n},) to match the images, got {shape}.")
  if task == "classification" and not jnp.issubdtype(batch["label"].dtype, jnp.integer):
    raise ValueError(f"batch['label'] must be integers, got dtype {batch['label'].dtype}.")

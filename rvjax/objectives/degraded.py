"""Degradations on device, inside the jitted step: every step draws fresh noise (DnCNN training).

A paired batch may carry only the clean `target`; `wrap(objective, degrade)` makes
`batch["image"] = degrade(key, batch["target"])` from the step key before the objective runs.
`degrade` is any transform `f(key, images) -> images` (images (B, H, W, C) float32), e.g.
`functools.partial(rvjax.degrade.gaussian_noise, sigma=25)`; a config names one with
`resolve("package.module.function", **kwargs)`.
"""
import functools
import importlib

import jax


def resolve(name: str, **kwargs):
  """The transform `f(key, images) -> images` named by its dotted path, with `kwargs` bound.

  Raises ValueError when the module or function does not exist or is not callable.
  """
  module_name, _, attr = name.rpartition(".")
  try:
    fn = getattr(importlib.import_module(module_name), attr)
  except (ImportError, AttributeError, ValueError) as e:
    raise ValueError(f"degradation {name!r} is not an importable function "
                     f"'package.module.function' ({type(e).__name__}: {e}).") from None
  if not callable(fn):
    raise ValueError(f"degradation {name!r} is not callable.")
  return functools.partial(fn, **kwargs) if kwargs else fn


def wrap(objective, degrade):
  """`objective` on the batch whose "image" is `degrade(key, batch["target"])`, `key` fresh.

  Args:
    objective: `(params, model_state, batch, key) -> (loss, (model_state, metrics))` of a paired
      task.
    degrade: `f(key, images) -> images`, or None (the batch's own "image" is used).
  The degradation key and the objective key are split from the step key, so a run's noise is a
  pure function of its seed and step.
  """
  if degrade is None:
    return objective

  def degraded(params, model_state, batch, key):
    k_deg, k_obj = jax.random.split(key)
    return objective(params, model_state, {**batch, "image": degrade(k_deg, batch["target"])},
                     k_obj)

  return degraded

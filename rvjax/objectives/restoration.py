"""Paired restoration objectives: a restorer maps degraded images to their clean targets.

Batch schema (the paired task): {"image": degraded (B, H, W, C), "target": clean (B, H, W, C),
"mask": (B,)}. With `degrade`, the degraded input is drawn on device from the target inside the
step (fresh noise every step, as DnCNN trains), and batch["image"] is not needed.

Losses per example, then masked-averaged over the batch:
  "residual_l2"  1/2 ||f(y) - x||_F^2 (sum over pixels). For DnCNN, f(y) = y - R(y), so this is
                 Zhang et al.'s 1/2 ||R(y) - (y - x)||_F^2 on the predicted residual.
  "mse"          mean over pixels of (f(y) - x)^2 (SRCNN, VDSR).
"""
from typing import Callable

import jax
import jax.numpy as jnp

from rvjax import validate
from rvjax.objectives import forward

LOSSES = ("residual_l2", "mse")


def make(apply_fn, *, loss: str = "mse", degrade: Callable | None = None):
  """Paired restoration objective `(params, model_state, batch, key) -> (loss, (state, metrics))`.

  Args:
    apply_fn: the restorer module's `apply` (images -> images of the same shape).
    loss: one of LOSSES.
    degrade: optional `f(key, target) -> degraded` transform (e.g. a partial of
      rvjax.degrade.gaussian_noise); if given, it replaces batch["image"].

  Metrics: "psnr" (dB, data range 1, on outputs clipped to [0, 1]) and "mse", masked means.
  """
  validate.check_choice(loss, "loss", LOSSES)

  def objective(params, model_state, batch, key):
    target = batch["target"]
    if degrade is not None:
      key, k_degrade = jax.random.split(key)
      image = degrade(k_degrade, target)
    else:
      image = batch["image"]
    out, model_state = forward.train_forward(apply_fn, params, model_state, image, key)
    sq = (out - target) ** 2
    per_example = (0.5 * jnp.sum(sq, axis=(1, 2, 3)) if loss == "residual_l2"
                   else jnp.mean(sq, axis=(1, 2, 3)))
    mse = jnp.mean((jnp.clip(out, 0.0, 1.0) - target) ** 2, axis=(1, 2, 3))
    metrics = {"mse": forward.masked_mean(mse, batch["mask"]),
               "psnr": forward.masked_mean(-10.0 * jnp.log10(jnp.maximum(mse, 1e-12)),
                                           batch["mask"])}
    return forward.masked_mean(per_example, batch["mask"]), (model_state, metrics)

  return objective

"""The paired restoration objective: a restorer maps degraded images to their clean targets.

Batch schema (the paired task): {"image": degraded (B, H, W, C), "target": clean (B, H, W, C),
"mask": (B,)}. To draw the degraded input on device from the target inside the step (fresh noise
every step, as DnCNN trains), wrap this objective with `rvjax.objectives.degraded.wrap` (a
config's `degrade` block): that is the one way to degrade on device.

Losses per example, then masked-averaged over the batch:
  "mse"          mean over pixels of (f(y) - x)^2 (SRCNN, VDSR; the paired task's default).
  "l1"           mean over pixels of |f(y) - x|.
  "residual_l2"  1/2 ||f(y) - x||_F^2 (sum over pixels). For DnCNN, f(y) = y - R(y), so this is
                 Zhang et al.'s 1/2 ||R(y) - (y - x)||_F^2 on the predicted residual.
"""
import jax.numpy as jnp

from rvjax import validate
from rvjax.objectives import forward

LOSSES = ("mse", "l1", "residual_l2")


def make(apply_fn, *, loss: str = "mse"):
  """Paired restoration objective `(params, model_state, batch, key) -> (loss, (state, metrics))`.

  Args:
    apply_fn: the restorer module's `apply` (images -> images of the target's shape).
    loss: one of LOSSES.

  Metrics: "psnr" (dB, data range 1, on outputs clipped to [0, 1]) and "mse" (of the clipped
  outputs), masked means.
  """
  validate.check_choice(loss, "restoration loss", LOSSES)

  def objective(params, model_state, batch, key):
    target = batch["target"]
    out, model_state = forward.train_forward(apply_fn, params, model_state, batch["image"], key)
    diff = out - target
    if loss == "residual_l2":
      per_example = 0.5 * jnp.sum(diff ** 2, axis=(1, 2, 3))
    else:
      per_example = jnp.mean(diff ** 2 if loss == "mse" else jnp.abs(diff), axis=(1, 2, 3))
    mse = jnp.mean((jnp.clip(out, 0.0, 1.0) - target) ** 2, axis=(1, 2, 3))
    metrics = {"mse": forward.masked_mean(mse, batch["mask"]),
               "psnr": forward.masked_mean(-10.0 * jnp.log10(jnp.maximum(mse, 1e-12)),
                                           batch["mask"])}
    return forward.masked_mean(per_example, batch["mask"]), (model_state, metrics)

  return objective

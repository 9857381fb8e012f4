"""Pixel losses for image-to-image tasks: the model maps `image` to an estimate of `target`."""
import jax.numpy as jnp

from rvjax import validate
from rvjax.objectives import forward

LOSSES = ("l2", "l1")


def make(apply_fn, *, loss: str = "l2"):
  """Paired objective `(params, model_state, batch, key) -> (loss, (model_state, metrics))`.

  The per-image loss is the mean over pixels of (out - target)^2 ("l2") or |out - target|
  ("l1"), out = model(batch["image"]) of the target's shape; its masked mean over the batch is
  the loss. Metrics: "psnr" in dB of the clipped output (data range 1).
  """
  validate.check_choice(loss, "pixel loss", LOSSES)

  def objective(params, model_state, batch, key):
    out, model_state = forward.train_forward(apply_fn, params, model_state, batch["image"], key)
    diff = out - batch["target"]
    per_image = jnp.mean(diff ** 2 if loss == "l2" else jnp.abs(diff), axis=(1, 2, 3))
    mse = jnp.mean((jnp.clip(out, 0, 1) - batch["target"]) ** 2, axis=(1, 2, 3))
    psnr = -10.0 * jnp.log10(jnp.maximum(mse, 1e-10))
    return forward.masked_mean(per_image, batch["mask"]), (
        model_state, {"psnr": forward.masked_mean(psnr, batch["mask"])})

  return objective

"""Empirical risk minimization: softmax cross-entropy on the clean batch."""
import jax
import optax

from rvjax.objectives import forward


def make(apply_fn, *, label_smoothing: float = 0.0):
  """ERM objective `(params, model_state, batch, key) -> (loss, (model_state, metrics))`.

  Args:
    apply_fn: the flax module's `apply`.
    label_smoothing: in [0, 1); mass spread uniformly over the K classes.
  """
  if not 0.0 <= label_smoothing < 1.0:
    raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")

  def objective(params, model_state, batch, key):
    logits, model_state = forward.train_forward(apply_fn, params, model_state, batch["image"], key)
    targets = optax.smooth_labels(jax.nn.one_hot(batch["label"], logits.shape[-1]),
                                  label_smoothing)
    loss = forward.masked_mean(optax.softmax_cross_entropy(logits, targets), batch["mask"])
    return loss, (model_state, {"accuracy": forward.accuracy(logits, batch["label"], batch["mask"])})

  return objective

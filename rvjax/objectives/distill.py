"""Distillation: cross-entropy against per-example target probabilities (a stolen model's
substitute trained on the victim's returned probabilities)."""
import optax

from rvjax.objectives import forward


def make(apply_fn):
  """Objective `(params, model_state, batch, key) -> (loss, (model_state, metrics))`.

  The batch carries "probs" (B, K), rows in the simplex, besides image / label / mask; the loss
  is the masked mean of -sum_k probs_k log softmax(logits)_k, and "accuracy" is against "label".
  """
  def objective(params, model_state, batch, key):
    if "probs" not in batch:
      raise ValueError("The distill objective needs batch['probs'] (B, K) target probabilities.")
    logits, model_state = forward.train_forward(apply_fn, params, model_state, batch["image"], key)
    loss = forward.masked_mean(optax.softmax_cross_entropy(logits, batch["probs"]), batch["mask"])
    accuracy = forward.accuracy(logits, batch["label"], batch["mask"])
    return loss, (model_state, {"accuracy": accuracy})

  return objective

"""Forward passes shared by all objectives, and masked averaging.

`model_state` holds the non-parameter collections (e.g. {"batch_stats": ...}, possibly {}).
Batch-norm convention for every objective:
  * `train_forward` runs in train mode (batch statistics) and returns the updated running stats;
  * `attack_forward` runs in train mode too, so an attack sees the same network the update
    trains, but its running-stat updates are discarded;
  * evaluation (`rvjax.train.step.predict`) uses the running averages.
"""
import jax
import jax.numpy as jnp


def train_forward(apply_fn, params, model_state, images, key):
  """Train-mode logits (N, K) and the new model_state (updated batch statistics)."""
  logits, new_state = apply_fn({"params": params, **model_state}, images, train=True,
                               mutable=list(model_state), rngs={"dropout": key})
  return logits, {**model_state, **new_state}


def attack_forward(apply_fn, params, model_state, key):
  """A `logits_fn(x) -> (N, K)` for attacks: train mode, batch-stat updates discarded."""
  def logits_fn(x):
    logits, _ = train_forward(apply_fn, params, model_state, x, key)
    return logits
  return logits_fn


def masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
  """Mean of per-example `values` (N,) over examples with mask 1 (mask (N,) in {0, 1})."""
  return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def accuracy(logits: jax.Array, labels: jax.Array, mask: jax.Array) -> jax.Array:
  """Masked top-1 accuracy in [0, 1]."""
  return masked_mean((jnp.argmax(logits, -1) == labels).astype(jnp.float32), mask)

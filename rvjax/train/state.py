"""The training state pytree and its sharded creation."""
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax



@flax.struct.dataclass
class TrainState:
  """Everything a step changes; a pure pytree (the optimizer and model stay outside).

  Attributes:
    step: int32 scalar, number of updates applied.
    params: the model's "params" collection.
    model_state: the other collections, e.g. {"batch_stats": ...}; {} when there are none.
    opt_state: the optax state, including per-group `lr_scale`s.
    temperature: float32 scalar T > 0 dividing the eval logits (1.0 until fitted on val data by
      `rvjax.uncertainty.fit_temperature`); saved with the checkpoint.

  A deep ensemble is this same pytree with a leading member axis (K, ...) on every leaf.
  """
  step: jax.Array
  params: Any
  model_state: Any
  opt_state: Any
  temperature: jax.Array = 1.0


def init_fn(model, tx: optax.GradientTransformation, input_shape: tuple[int, ...]):
  """A pure `key -> TrainState` initializing `model` on zeros of `input_shape` (N, H, W, C)."""
  def init(key):
    variables = model.init({"params": key, "dropout": key}, jnp.zeros(input_shape, jnp.float32),
                           train=False)
    params = variables.pop("params") if hasattr(variables, "pop") else variables["params"]
    model_state = {k: v for k, v in variables.items() if k != "params"}
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, model_state=model_state,
                      opt_state=tx.init(params), temperature=jnp.ones((), jnp.float32))
  return init

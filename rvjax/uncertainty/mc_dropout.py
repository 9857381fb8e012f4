"""Monte Carlo dropout (Gal & Ghahramani, 2016): the predictive mean of T stochastic passes.

The model's `mc_dropout=True` clone keeps its dropout active at evaluation (train=False, so batch
norm uses the running statistics); where dropout sits is the model's `dropout_rate` and
`dropout_placement` ("head": before the classifier only, "all": after every block too). The T
passes run vmapped over T keys split from one fixed key, so evaluation is reproducible: the same
state and images always give the same prediction. The prediction is log(mean_t softmax(z_t)),
which evaluators take as logits.
"""
from typing import Callable

import jax

from rvjax import validate
from rvjax.uncertainty import ensemble


def stochastic_model(model):
  """The `mc_dropout=True` clone of a linen classifier; ValueError without dropout."""
  if getattr(model, "dropout_rate", 0.0) <= 0.0:
    raise ValueError("MC dropout needs a model with dropout: set model.kwargs.dropout_rate > 0 "
                     f"(got {getattr(model, 'dropout_rate', None)}).")
  return model.clone(mc_dropout=True)


def sample_logits(model, state, images: jax.Array, keys: jax.Array) -> jax.Array:
  """(T, N, K) logits of T dropout passes, one per key.

  Args:
    model: a classifier with dropout_rate > 0 (mc_dropout is switched on here).
    state: anything with `params` and `model_state` (a TrainState of one member).
    images: (N, H, W, C) float in [0, 1].
    keys: (T,) PRNG keys.
  """
  apply_fn = stochastic_model(model).apply
  variables = {"params": state.params, **state.model_state}
  one = lambda key: apply_fn(variables, images, train=False, rngs={"dropout": key})
  return jax.vmap(one)(keys)


def predictive(model, samples: int, key: jax.Array) -> Callable:
  """`(state, images (N, ...)) -> (N, K)` log mean probabilities of `samples` dropout passes.

  Args:
    model: a classifier with dropout_rate > 0.
    samples: T >= 1 passes.
    key: fixed PRNG key; every call uses the same T keys `split(key, T)`, so evaluation is
      deterministic.
  """
  validate.check_positive(samples, "mc_dropout.samples", integer=True)
  stochastic_model(model)
  keys = jax.random.split(key, samples)
  return lambda state, images: ensemble.pool(sample_logits(model, state, images, keys))


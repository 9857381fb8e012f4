"""SNGP (Liu et al. 2020): a random-feature Gaussian-process output layer with a Laplace posterior.

The GP layer maps hidden features h (N, H) to logits through D random Fourier features

  phi(h) = sqrt(2 / D) cos(h W + b),   W ~ N(0, 1 / l^2) (H, D),  b ~ U(0, 2 pi) (D,)

(so phi(h) . phi(h') ~ exp(-||h - h'||^2 / (2 l^2)), the RBF kernel of length scale l) and a
trained linear output beta (D, K): logits = phi beta. W and b are drawn once at init and kept in
the model-state collection "random_features" (never trained, never weight-decayed).

Laplace posterior of beta (one covariance shared by the K classes, as in the paper):

  covariance = (ridge I + sum_i p_i (1 - p_i) phi_i phi_i^T)^-1,   p_i = max_k softmax(logits_i)_k

accumulated in one pass over the training data after training (`fit_covariance`, run by the
training loop where it fits the temperature) and stored in the collection "laplace". At
evaluation (train=False) the layer returns the mean-field logits

  logits / sqrt(1 + lambda * var),   var = phi^T covariance phi,   lambda = pi / 8

(`mean_field_logits`); before `fit_covariance` the covariance is the prior's (I / ridge).
"""
import math

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rvjax import data as data_lib
from rvjax import sharding

MEAN_FIELD_FACTOR = math.pi / 8
COVARIANCE = "laplace"
RANDOM_FEATURES = "random_features"


def random_features(h: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
  """Random Fourier features sqrt(2 / D) cos(h kernel + bias): (N, H) -> (N, D)."""
  return math.sqrt(2.0 / kernel.shape[-1]) * jnp.cos(h @ kernel + bias)


def posterior_variance(phi: jax.Array, covariance: jax.Array) -> jax.Array:
  """Per-example predictive variance phi^T covariance phi: (N, D), (D, D) -> (N,) >= 0."""
  return jnp.sum((phi @ covariance) * phi, axis=-1)


def mean_field_logits(logits: jax.Array, variance: jax.Array,
                      factor: float = MEAN_FIELD_FACTOR) -> jax.Array:
  """The mean-field approximation of E[softmax]: logits (N, K) / sqrt(1 + factor * var (N,))."""
  return logits / jnp.sqrt(1.0 + factor * variance)[:, None]


def precision_update(phi: jax.Array, logits: jax.Array, mask: jax.Array) -> jax.Array:
  """sum_i mask_i p_i (1 - p_i) phi_i phi_i^T over a batch: (N, D), (N, K), (N,) -> (D, D)."""
  p = jnp.max(jax.nn.softmax(logits, axis=-1), axis=-1)
  weight = mask * p * (1.0 - p)
  return (phi * weight[:, None]).T @ phi


class RandomFeatureGP(nn.Module):
  """The SNGP output layer: (N, H) hidden features -> (N, num_classes) float32 logits.

  Attributes:
    num_classes: K.
    num_features: D random Fourier features.
    kernel_scale: the RBF length scale l (> 0) of the normalized hidden features.
    input_normalization: layer-normalize h first (as the paper's implementation does).
    ridge: prior precision of the output weights (> 0).
    mean_field_factor: lambda of the mean-field adjustment (pi / 8 by default; 0 disables it).

  train=True returns the MAP logits; train=False the mean-field logits. Both sow the features
  ("intermediates"/"features") and MAP logits ("intermediates"/"map_logits") for
  `fit_covariance` when "intermediates" is mutable.
  """
  num_classes: int
  num_features: int = 1024
  kernel_scale: float = 1.0
  input_normalization: bool = True
  ridge: float = 1.0
  mean_field_factor: float = MEAN_FIELD_FACTOR

  @nn.compact
  def __call__(self, h: jax.Array, *, train: bool) -> jax.Array:
    if self.input_normalization:
      h = nn.LayerNorm(name="input_norm")(h)
    h = h.astype(jnp.float32)
    init_key = lambda: self.make_rng("params")
    kernel = self.variable(RANDOM_FEATURES, "kernel", lambda: jax.random.normal(
        init_key(), (h.shape[-1], self.num_features)) / self.kernel_scale).value
    bias = self.variable(RANDOM_FEATURES, "bias", lambda: jax.random.uniform(
        init_key(), (self.num_features,), maxval=2 * math.pi)).value
    covariance = self.variable(COVARIANCE, "covariance",
                               lambda: jnp.eye(self.num_features) / self.ridge).value
    phi = random_features(h, kernel, bias)
    logits = nn.Dense(self.num_classes, use_bias=False, name="output")(phi)
    if not self.is_initializing():  # Else init would put "intermediates" in the model state.
      self.sow("intermediates", "features", phi)
      self.sow("intermediates", "map_logits", logits)
    if train or not self.mean_field_factor:
      return logits
    return mean_field_logits(logits, posterior_variance(phi, covariance), self.mean_field_factor)


def has_covariance(model_state) -> bool:
  """Whether a TrainState's model_state holds an SNGP Laplace covariance to fit."""
  return COVARIANCE in model_state


def _only_leaf(tree, what: str):
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(tree))
  if len(flat) != 1:
    raise ValueError(f"SNGP expects exactly one GP layer; found {len(flat)} {what} entries.")
  return next(iter(flat.items()))


def fit_covariance(apply_fn, state, ds: data_lib.Dataset, *, mesh, batch_size: int,
                   ridge: float = 1.0):
  """One eval-mode pass over `ds`: returns `state` with covariance = (ridge I + sum p(1-p)
  phi phi^T)^-1 in model_state["laplace"] (float32 (D, D); accumulated and inverted in float64
  on the host).

  Args:
    apply_fn: the SNGP model's `apply`.
    state: a single-model TrainState (params, model_state with "laplace").
    ds: the training data (images (N, H, W, C) in [0, 1]).
    mesh: the device mesh; batch_size: a multiple of its data-axis size.
    ridge: the prior precision (the GP layer's `ridge`).

  Raises:
    ValueError: no SNGP covariance in the state, or a stacked (ensemble) state.
  """
  if not has_covariance(state.model_state):
    raise ValueError("fit_covariance needs a model with an SNGP GP layer (model_state has no "
                     f"{COVARIANCE!r} collection).")
  path, cov = _only_leaf(state.model_state[COVARIANCE], COVARIANCE)
  if cov.ndim != 2:
    raise ValueError(f"fit_covariance takes one model; got a covariance of shape {cov.shape} "
                     "(SNGP is not supported with ensembles).")
  variables = {"params": state.params, **state.model_state}

  @jax.jit
  def batch_precision(images, mask):
    _, inter = apply_fn(variables, images, train=False, mutable=["intermediates"])
    inter = inter["intermediates"]
    (_, phi), = [(k, v) for k, v in flax.traverse_util.flatten_dict(inter).items()
                 if k[-1] == "features"]
    (_, logits), = [(k, v) for k, v in flax.traverse_util.flatten_dict(inter).items()
                    if k[-1] == "map_logits"]
    return precision_update(phi[0], logits[0], mask)

  sharding.check_batch_size(batch_size, mesh)
  precision = ridge * np.eye(cov.shape[0])
  for batch in data_lib.to_device(data_lib.eval_batches(ds, batch_size=batch_size), mesh):
    precision += np.asarray(batch_precision(batch["image"], batch["mask"]), np.float64)
  covariance = jax.device_put(np.linalg.inv(precision).astype(np.float32),
                              sharding.replicated(mesh))
  laplace = flax.traverse_util.unflatten_dict({path: covariance})
  return state.replace(model_state={**state.model_state, COVARIANCE: laplace})

"""Accuracy, negative log-likelihood and Brier score over a batch of predictions.

All functions are jit-compatible and average over examples. Pass unpadded arrays (the main path:
evaluators concatenate unpadded numpy arrays), or pass `weights` (N,), e.g. a 0/1 mask for padded
rows, to get the weighted mean sum_i w_i m_i / sum_i w_i; rows of weight 0 are never value-checked.
"""
from typing import Any

import jax
import jax.numpy as jnp

from rvjax.metrics import _checks

NLL_EPS = 1e-12  # p(label) is clipped to [NLL_EPS, 1] in `nll`, so one example costs <= 27.63 nats.


def accuracy(logits_or_probs: Any, labels: Any, *, weights: Any = None) -> jnp.ndarray:
  """Top-1 accuracy in [0, 1].

  Args:
    logits_or_probs: (N, K) logits or probabilities; the prediction is the argmax (first on ties).
    labels: (N,) int class ids in [0, K).
    weights: optional (N,) non-negative example weights (a 0/1 mask for padding).

  Returns:
    Scalar float32 fraction of correct predictions (weighted if `weights` is given).
  """
  _checks.check_scores_2d(logits_or_probs, labels, weights, name="logits_or_probs")
  return _accuracy(logits_or_probs, labels, weights)


@jax.jit
def _accuracy(logits_or_probs, labels, weights):
  correct = (jnp.argmax(logits_or_probs, -1) == labels).astype(jnp.float32)
  return _checks.weighted_mean(correct, weights)


def nll(probs: Any, labels: Any, *, weights: Any = None) -> jnp.ndarray:
  """Mean negative log-likelihood -log p(label) in nats, with p clipped to [NLL_EPS, 1].

  Args:
    probs: (N, K) probabilities (non-negative, rows sum to 1 within 1e-3; checked when concrete).
    labels: (N,) int class ids in [0, K).
    weights: optional (N,) non-negative example weights.

  Returns:
    Scalar float32 in [0, -log(NLL_EPS)].
  """
  _checks.check_probs(probs, labels, weights)
  return _nll(probs, labels, weights)


@jax.jit
def _nll(probs, labels, weights):
  p = jnp.take_along_axis(jnp.asarray(probs), jnp.asarray(labels)[:, None], -1)[:, 0]
  return _checks.weighted_mean(-jnp.log(jnp.clip(p, NLL_EPS, 1.0)), weights)


def brier(probs: Any, labels: Any, *, weights: Any = None) -> jnp.ndarray:
  """Multiclass Brier score: sum_k (p_k - onehot_k)^2 summed over classes, mean over examples.

  Ranges in [0, 2]. This is not halved: for K = 2 it is twice sklearn's binary `brier_score_loss`.

  Args:
    probs: (N, K) probabilities (checked when concrete).
    labels: (N,) int class ids in [0, K).
    weights: optional (N,) non-negative example weights.

  Returns:
    Scalar float32.
  """
  _checks.check_probs(probs, labels, weights)
  return _brier(probs, labels, weights)


@jax.jit
def _brier(probs, labels, weights):
  probs = jnp.asarray(probs)
  onehot = jax.nn.one_hot(labels, probs.shape[-1], dtype=probs.dtype)
  return _checks.weighted_mean(jnp.sum((probs - onehot) ** 2, -1), weights)

"""Calibration errors: top-label ECE (equal-width bins), adaptive ECE (equal-mass), classwise ECE.

Bin convention for the equal-width metrics (`ece`, `classwise_ece`, `calibration_bins`): with B
bins, the edges are e_i = float32(i / B), i = 0..B, and bin i (0-based) holds the confidences c with
e_i < c <= e_{i+1}, except that the first bin is closed, [0, e_1]. A confidence exactly on an inner
edge e_i therefore lands in the lower bin i - 1, confidence 1.0 lands in the last bin, and values
outside [0, 1] by rounding (softmax can give 1.0000001) are put in the first or last bin.

All results are fractions in [0, 1] (not percent). Every function is jit-compatible with
`num_bins` static. `weights` (N,) (e.g. a 0/1 padding mask) make every count a sum of weights; pass
unpadded arrays and leave it None otherwise.

Definitions follow Nixon et al. 2019, "Measuring Calibration in Deep Learning" (see each function).
"""
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rvjax.metrics import _checks


def bin_edges(num_bins: int) -> jnp.ndarray:
  """(num_bins + 1,) float32 equal-width edges float32(i / num_bins) from 0 to 1."""
  _checks.check_num_bins(num_bins)
  return jnp.asarray(_edges_np(num_bins))


def _edges_np(num_bins: int) -> np.ndarray:
  return (np.arange(num_bins + 1) / num_bins).astype(np.float32)


def _bin_index(conf: jnp.ndarray, num_bins: int) -> jnp.ndarray:
  """Equal-width bin of each confidence: the number of inner edges strictly below it."""
  inner = jnp.asarray(_edges_np(num_bins)[1:-1])
  return jnp.searchsorted(inner, conf.astype(jnp.float32), side="left").astype(jnp.int32)


def _weights(weights: Any, n: int) -> jnp.ndarray:
  return jnp.ones((n,), jnp.float32) if weights is None else jnp.asarray(weights, jnp.float32)


def _top_label(probs: Any, labels: Any):
  probs = jnp.asarray(probs, jnp.float32)
  conf = jnp.max(probs, -1)
  correct = (jnp.argmax(probs, -1) == jnp.asarray(labels)).astype(jnp.float32)
  return conf, correct


def _binned_gap(bins, conf, correct, w, num_bins):
  """sum_b |sum_{i in b} w_i (correct_i - conf_i)| / sum_i w_i."""
  gap = jnp.zeros((num_bins,), jnp.float32).at[bins].add(w * (correct - conf))
  return jnp.sum(jnp.abs(gap)) / jnp.sum(w)


def calibration_bins(probs: Any, labels: Any, *, num_bins: int = 15, weights: Any = None) -> dict:
  """Per-bin statistics of the top-label confidence, equal-width bins (see module docstring).

  Args:
    probs: (N, K) probabilities (checked when concrete).
    labels: (N,) int class ids in [0, K).
    num_bins: B >= 1.
    weights: optional (N,) non-negative example weights.

  Returns:
    dict with `edges` (B + 1,), `count` (B,) number (sum of weights) of examples per bin,
    `accuracy` (B,) and `confidence` (B,) bin means (0 for an empty bin), and `ece` (scalar).
  """
  _checks.check_num_bins(num_bins)
  _checks.check_probs(probs, labels, weights)
  return _calibration_bins(probs, labels, weights, num_bins)


@functools.partial(jax.jit, static_argnums=3)
def _calibration_bins(probs, labels, weights, num_bins):
  conf, correct = _top_label(probs, labels)
  w = _weights(weights, conf.shape[0])
  bins = _bin_index(conf, num_bins)
  zeros = jnp.zeros((num_bins,), jnp.float32)
  count = zeros.at[bins].add(w)
  acc_sum = zeros.at[bins].add(w * correct)
  conf_sum = zeros.at[bins].add(w * conf)
  safe = jnp.where(count > 0, count, 1.0)
  return dict(
      edges=bin_edges(num_bins),
      count=count,
      accuracy=jnp.where(count > 0, acc_sum / safe, 0.0),
      confidence=jnp.where(count > 0, conf_sum / safe, 0.0),
      ece=jnp.sum(jnp.abs(acc_sum - conf_sum)) / jnp.sum(w),
  )


def ece(probs: Any, labels: Any, *, num_bins: int = 15, weights: Any = None) -> jnp.ndarray:
  """Top-label expected calibration error with equal-width bins, a fraction in [0, 1].

  ECE = sum_b (n_b / N) |acc(b) - conf(b)|, where conf is the max probability, acc whether its
  argmax equals the label, and the bins are as in the module docstring ((i/B, (i+1)/B], first bin
  [0, 1/B]). With `num_bins=1` this is |accuracy - mean confidence|.

  Args:
    probs: (N, K) probabilities (checked when concrete).
    labels: (N,) int class ids in [0, K).
    num_bins: B >= 1 (static).
    weights: optional (N,) non-negative example weights; n_b and N become sums of weights.

  Returns:
    Scalar float32.
  """
  _checks.check_num_bins(num_bins)
  _checks.check_probs(probs, labels, weights)
  return _ece(probs, labels, weights, num_bins)


@functools.partial(jax.jit, static_argnums=3)
def _ece(probs, labels, weights, num_bins):
  conf, correct = _top_label(probs, labels)
  w = _weights(weights, conf.shape[0])
  return _binned_gap(_bin_index(conf, num_bins), conf, correct, w, num_bins)


def adaptive_ece(probs: Any, labels: Any, *, num_bins: int = 15, weights: Any = None) -> jnp.ndarray:
  """Top-label ECE with equal-mass (adaptive) bins, a fraction in [0, 1].

  The examples are sorted by top-label confidence (stable sort, so ties keep their input order) and
  the example of rank r (0-based) of N goes to bin floor(r * B / N): B contiguous bins whose sizes
  differ by at most one (empty bins when N < B). Then ECE = sum_b (n_b / N)|acc(b) - conf(b)| as in
  `ece`. With `weights`, the bin is floor(B * c_r / W), c_r the total weight ranked before r and W
  the total weight, i.e. equal weight mass per bin; for 0/1 weights this equals the unweighted value
  on the kept rows.

  This is the top-label form of the adaptive binning of Nixon et al. 2019 (called AdaECE by Mukhoti
  et al. 2020); Nixon et al.'s ACE also averages over all classes and thresholds small
  probabilities, which this does not.

  Args:
    probs: (N, K) probabilities (checked when concrete).
    labels: (N,) int class ids in [0, K).
    num_bins: B >= 1 (static).
    weights: optional (N,) non-negative example weights.

  Returns:
    Scalar float32.
  """
  _checks.check_num_bins(num_bins)
  _checks.check_probs(probs, labels, weights)
  return _adaptive_ece(probs, labels, weights, num_bins)


@functools.partial(jax.jit, static_argnums=3)
def _adaptive_ece(probs, labels, weights, num_bins):
  conf, correct = _top_label(probs, labels)
  n = conf.shape[0]
  w = _weights(weights, n)
  order = jnp.argsort(conf, stable=True)
  conf, correct, w = conf[order], correct[order], w[order]
  if weights is None:
    bins = (jnp.arange(n, dtype=jnp.int32) * num_bins) // max(n, 1)
  else:
    before = jnp.cumsum(w) - w
    bins = jnp.floor(num_bins * before / jnp.sum(w)).astype(jnp.int32)
    bins = jnp.clip(bins, 0, num_bins - 1)
  return _binned_gap(bins, conf, correct, w, num_bins)


def classwise_ece(probs: Any, labels: Any, *, num_bins: int = 15, weights: Any = None) -> jnp.ndarray:
  """Classwise ECE (the static calibration error, SCE, of Nixon et al. 2019), in [0, 1].

  SCE = (1 / K) sum_k sum_b (n_bk / N) |acc(b, k) - conf(b, k)|, where for every class k all N
  examples are binned by p_k (equal-width bins as in `ece`), conf(b, k) is the mean p_k in the bin
  and acc(b, k) the fraction of its examples whose label is k.

  Args:
    probs: (N, K) probabilities (checked when concrete).
    labels: (N,) int class ids in [0, K).
    num_bins: B >= 1 (static).
    weights: optional (N,) non-negative example weights.

  Returns:
    Scalar float32.
  """
  _checks.check_num_bins(num_bins)
  _checks.check_probs(probs, labels, weights)
  return _classwise_ece(probs, labels, weights, num_bins)


@functools.partial(jax.jit, static_argnums=3)
def _classwise_ece(probs, labels, weights, num_bins):
  probs = jnp.asarray(probs, jnp.float32)
  n, k = probs.shape
  w = _weights(weights, n)
  onehot = jax.nn.one_hot(labels, k, dtype=jnp.float32)
  bins = _bin_index(probs, num_bins) + num_bins * jnp.arange(k, dtype=jnp.int32)  # (N, K)
  gap = jnp.zeros((k * num_bins,), jnp.float32).at[bins.reshape(-1)].add(
      (w[:, None] * (onehot - probs)).reshape(-1))
  return jnp.sum(jnp.abs(gap)) / (k * jnp.sum(w))

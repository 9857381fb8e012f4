"""Out-of-distribution detection: scores from predictions, and threshold-free detection metrics.

Sign convention: `ood` treats in-distribution as the positive class and expects scores where HIGHER
means MORE in-distribution. `max_softmax` is such a score; `entropy` and `mutual_information`
return the uncertainty itself (higher = more uncertain), so negate them to score: `ood_scores`
returns all of them with the sign already flipped ("neg_entropy", "neg_mutual_information").

`ood` is numpy (not jit-compatible) and takes unpadded 1-D score arrays; the score functions are
jnp and jit-compatible.
"""
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import entr

from rvjax import validate
from rvjax.metrics import _checks


def _check_probs_any(probs: Any, name: str, rank: int) -> None:
  shape = getattr(probs, "shape", None)
  if shape is None or len(shape) != rank:
    raise ValueError(f"{name} must have rank {rank}, got shape {shape}.")
  if not jnp.issubdtype(probs.dtype, jnp.floating):
    raise ValueError(f"{name} must be floating point, got dtype {probs.dtype}.")
  if validate.is_concrete(probs):
    _checks.check_prob_values(np.asarray(probs), name=name)


def max_softmax(probs: Any) -> jnp.ndarray:
  """Maximum softmax probability (Hendrycks & Gimpel 2017), (N, K) -> (N,) in [1/K, 1].

  Higher = more in-distribution: use it directly as an `ood` score.
  """
  _check_probs_any(probs, "probs", 2)
  return _max_softmax(probs)


@jax.jit
def _max_softmax(probs):
  return jnp.max(jnp.asarray(probs), -1)


def entropy(probs: Any) -> jnp.ndarray:
  """Predictive entropy -sum_k p_k log p_k in nats (0 log 0 = 0), (..., K) -> (...,) in [0, log K].

  Higher = more uncertain; the OOD score is `-entropy(probs)`.
  """
  shape = getattr(probs, "shape", None)
  if shape is None or len(shape) < 1:
    raise ValueError(f"probs must have a class axis (..., K), got shape {shape}.")
  if not jnp.issubdtype(probs.dtype, jnp.floating):
    raise ValueError(f"probs must be floating point, got dtype {probs.dtype}.")
  if validate.is_concrete(probs):
    _checks.check_prob_values(np.asarray(probs), name="probs")
  return _entropy(probs)


@jax.jit
def _entropy(probs):
  return jnp.sum(entr(jnp.asarray(probs)), -1)


def mutual_information(member_probs: Any) -> jnp.ndarray:
  """Mutual information between prediction and member (epistemic uncertainty), in nats.

  MI = H(mean_m p_m) - mean_m H(p_m) for member probabilities of an ensemble or MC-dropout samples,
  clamped at 0 against rounding. Higher = more uncertain; the OOD score is `-mutual_information`.

  Args:
    member_probs: (M, N, K) probabilities of M members for N examples.

  Returns:
    (N,) float32 in [0, log K].
  """
  _check_probs_any(member_probs, "member_probs", 3)
  return _mutual_information(member_probs)


@jax.jit
def _mutual_information(member_probs):
  member_probs = jnp.asarray(member_probs)
  mi = jnp.sum(entr(jnp.mean(member_probs, 0)), -1) - jnp.mean(jnp.sum(entr(member_probs), -1), 0)
  return jnp.maximum(mi, 0.0)


def ood_scores(probs: Any = None, *, member_probs: Any = None) -> dict:
  """All scores with HIGHER = MORE in-distribution, ready for `ood`.

  Args:
    probs: (N, K) predictive probabilities; if None, the mean of `member_probs`.
    member_probs: optional (M, N, K) member probabilities, adds "neg_mutual_information".

  Returns:
    dict name -> (N,) score: "max_softmax", "neg_entropy" and, with members,
    "neg_mutual_information".
  """
  if probs is None:
    if member_probs is None:
      raise ValueError("ood_scores needs probs or member_probs.")
    probs = jnp.mean(jnp.asarray(member_probs), 0)
  scores = {"max_softmax": max_softmax(probs), "neg_entropy": -entropy(probs)}
  if member_probs is not None:
    scores["neg_mutual_information"] = -mutual_information(member_probs)
  return scores


def _check_scores(s: Any, name: str) -> np.ndarray:
  s = np.asarray(s)
  if s.ndim != 1:
    raise ValueError(f"{name} must be a rank-1 array of scores, got shape {s.shape}.")
  if s.size == 0:
    raise ValueError(f"{name} is empty.")
  if not np.issubdtype(s.dtype, np.number) or np.issubdtype(s.dtype, np.complexfloating):
    raise ValueError(f"{name} must be real numbers, got dtype {s.dtype}.")
  s = s.astype(np.float64)
  if not np.all(np.isfinite(s)):
    raise ValueError(f"{name} contains NaN or inf values.")
  return s


def _auroc(pos: np.ndarray, neg: np.ndarray) -> float:
  """P(score_pos > score_neg) + P(tie) / 2, via average ranks (Mann-Whitney U)."""
  allv = np.concatenate([pos, neg])
  order = np.argsort(allv, kind="stable")
  sorted_v = allv[order]
  ranks = np.empty(allv.size, np.float64)
  # Average 1-based rank over each group of tied values.
  _, first, counts = np.unique(sorted_v, return_index=True, return_counts=True)
  avg = first + (counts + 1) / 2.0
  ranks[order] = np.repeat(avg, counts)
  u = ranks[:pos.size].sum() - pos.size * (pos.size + 1) / 2.0
  return float(u / (pos.size * neg.size))


def _average_precision(pos: np.ndarray, neg: np.ndarray) -> float:
  """sum_n (R_n - R_{n-1}) P_n over the distinct thresholds (sklearn's average_precision_score)."""
  scores = np.concatenate([pos, neg])
  is_pos = np.concatenate([np.ones(pos.size), np.zeros(neg.size)])
  order = np.argsort(-scores, kind="stable")
  scores, is_pos = scores[order], is_pos[order]
  last = np.r_[np.nonzero(np.diff(scores))[0], scores.size - 1]  # end of each tie group
  tp = np.cumsum(is_pos)[last]
  precision = tp / (last + 1)
  recall = tp / pos.size
  return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def fpr_at_tpr(score_in: Any, score_out: Any, tpr: float = 0.95) -> float:
  """False-positive rate on OOD at the threshold where the in-distribution TPR reaches `tpr`.

  Convention (no interpolation): the threshold t is the largest score with
  #{score_in >= t} >= tpr * N_in, i.e. the ceil(tpr * N_in)-th largest in-distribution score; an
  example counts as detected in-distribution when its score is >= t. Returns #{score_out >= t} /
  N_out. This is the first point of the ROC curve with TPR >= tpr (sklearn `roc_curve` with
  `drop_intermediate=False`).
  """
  if not 0.0 < tpr <= 1.0:
    raise ValueError(f"tpr must lie in (0, 1], got {tpr}.")
  s_in = _check_scores(score_in, "score_in")
  s_out = _check_scores(score_out, "score_out")
  # ceil(tpr * N) in exact integer arithmetic when tpr is a whole percent (0.95 -> 95 / 100).
  pct = round(tpr * 100)
  if abs(pct - tpr * 100) < 1e-9:
    k = (pct * s_in.size + 99) // 100
  else:
    k = int(np.ceil(tpr * s_in.size - 1e-9))
  k = min(max(k, 1), s_in.size)
  t = np.sort(s_in)[::-1][k - 1]
  return float(np.mean(s_out >= t))


def ood(score_in: Any, score_out: Any) -> dict:
  """Threshold-free OOD detection metrics, in-distribution = positive class (numpy, not jit).

  Args:
    score_in: (N_in,) scores of in-distribution examples, higher = more in-distribution.
    score_out: (N_out,) scores of out-of-distribution examples (same convention).

  Returns:
    dict of floats in [0, 1]:
      auroc: area under the ROC curve (ties count 1/2), = sklearn roc_auc_score.
      aupr_in: average precision with in-distribution positive, = sklearn average_precision_score.
      aupr_out: average precision with OOD positive and negated scores.
      fpr95: FPR on OOD at 95% TPR on in-distribution, convention of `fpr_at_tpr` (lower = better).
  """
  s_in = _check_scores(score_in, "score_in")
  s_out = _check_scores(score_out, "score_out")
  return dict(
      auroc=_auroc(s_in, s_out),
      aupr_in=_average_precision(s_in, s_out),
      aupr_out=_average_precision(-s_out, -s_in),
      fpr95=fpr_at_tpr(s_in, s_out, 0.95),
  )

"""Per-example attack losses, the objective an attack maximizes, and per-example best selection.

Every loss maps logits (N, K) and int32 labels (N,) to float32 values (N,), one per example, so
attacks can track the best iterate of each example. Sum them before `jax.grad`: the gradient of the
sum is the per-example gradient as long as `logits_fn` treats examples independently (no batch
statistics in train mode).

Untargeted attacks maximize `ce`, `margin` or `dlr` at the true label. Targeted attacks maximize
`-ce` or `-margin` at the target label, or `dlr_targeted`, and succeed when the prediction is the
target; untargeted ones succeed on any misclassification.
"""
from typing import Any, Callable

import jax
import jax.numpy as jnp

from rvjax import validate

LOSSES = ("ce", "margin", "dlr")
DLR_DENOM_EPS = 1e-12  # as in the reference AutoAttack code


def _at(logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
  return jnp.take_along_axis(logits, labels[:, None].astype(jnp.int32), axis=-1)[:, 0]


def _max_other(logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
  mask = jax.nn.one_hot(labels, logits.shape[-1], dtype=jnp.bool_)
  return jnp.max(jnp.where(mask, -jnp.inf, logits), axis=-1)


def ce(logits: Any, labels: Any) -> jnp.ndarray:
  """Cross-entropy -log softmax(z)_y in nats: logits (N, K), labels (N,) -> (N,) in [0, inf)."""
  logits = jnp.asarray(logits)
  return -_at(jax.nn.log_softmax(logits, axis=-1), jnp.asarray(labels))


def margin(logits: Any, labels: Any) -> jnp.ndarray:
  """Carlini-Wagner logit margin max_{j != y} z_j - z_y: (N, K), (N,) -> (N,).

  Positive iff misclassified.
  """
  logits, labels = jnp.asarray(logits), jnp.asarray(labels)
  return _max_other(logits, labels) - _at(logits, labels)


def dlr(logits: Any, labels: Any) -> jnp.ndarray:
  """Difference of logits ratio (Croce & Hein 2020), untargeted; needs K >= 3.

  -(z_y - max_{j != y} z_j) / (z_pi1 - z_pi3 + 1e-12), with z_pi1 >= z_pi2 >= ... the sorted logits.
  Invariant to shifting and positively scaling the logits; > 0 iff misclassified.

  Args:
    logits: (N, K) float logits, K >= 3.
    labels: (N,) int class ids.

  Returns:
    (N,) float32.
  """
  logits, labels = jnp.asarray(logits), jnp.asarray(labels)
  z = jnp.sort(logits, axis=-1)
  return -(_at(logits, labels) - _max_other(logits, labels)) / (
      z[:, -1] - z[:, -3] + DLR_DENOM_EPS)


def dlr_targeted(logits: Any, labels: Any, targets: Any) -> jnp.ndarray:
  """Targeted DLR (Croce & Hein 2020); needs K >= 4.

  -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12); > 0 means z_t > z_y, y not predicted.

  Args:
    logits: (N, K) float logits, K >= 4.
    labels: (N,) true class ids y.
    targets: (N,) target class ids t.

  Returns:
    (N,) float32.
  """
  logits, labels, targets = jnp.asarray(logits), jnp.asarray(labels), jnp.asarray(targets)
  z = jnp.sort(logits, axis=-1)
  return -(_at(logits, labels) - _at(logits, targets)) / (
      z[:, -1] - 0.5 * (z[:, -3] + z[:, -4]) + DLR_DENOM_EPS)


def kl(logits_adv: Any, logits_clean: Any) -> jnp.ndarray:
  """KL(p_clean || p_adv) in nats, as TRADES uses it: (N, K), (N, K) -> (N,) in [0, inf).

  Gradients flow through both arguments; wrap `logits_clean` in `jax.lax.stop_gradient` for the
  TRADES inner maximization.
  """
  log_p = jax.nn.log_softmax(jnp.asarray(logits_clean), axis=-1)
  log_q = jax.nn.log_softmax(jnp.asarray(logits_adv), axis=-1)
  return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)


def check_loss(loss: str, targeted: bool, num_classes: int) -> None:
  """Raises ValueError for an unknown loss, or DLR with fewer than 3 (targeted: 4) classes."""
  validate.check_choice(loss, "loss", LOSSES)
  need = 4 if targeted else 3
  if loss == "dlr" and num_classes < need:
    kind = "targeted DLR" if targeted else "DLR"
    raise ValueError(
        f"loss='dlr' ({kind}) needs at least {need} classes, but logits_fn gives {num_classes}.")


def objective(loss: str, targeted: bool) -> Callable[..., jnp.ndarray]:
  """The per-example value an attack maximizes: f(logits (N, K), y (N,), y_target (N,)) -> (N,).

  Untargeted: loss(logits, y).
  Targeted: -ce or -margin at y_target, or dlr_targeted(logits, y, yt).
  """
  validate.check_choice(loss, "loss", LOSSES)
  if not targeted:
    fn = {"ce": ce, "margin": margin, "dlr": dlr}[loss]
    return lambda logits, y, y_target: fn(logits, y)
  if loss == "dlr":
    return dlr_targeted
  fn = {"ce": ce, "margin": margin}[loss]
  return lambda logits, y, y_target: -fn(logits, y_target)


def success(logits: jnp.ndarray, y: jnp.ndarray, y_target: Any, targeted: bool) -> jnp.ndarray:
  """(N,) bool: prediction == y_target if targeted, else prediction != y."""
  pred = jnp.argmax(logits, axis=-1)
  return pred == y_target if targeted else pred != y


def _expand(mask: jnp.ndarray, like: jnp.ndarray) -> jnp.ndarray:
  return jnp.reshape(mask, mask.shape + (1,) * (like.ndim - mask.ndim))


def keep_best(best: tuple, cand: tuple) -> tuple:
  """Per-example update of (x (N, ...), value (N,), success (N,)) with a candidate of the same form.

  A candidate wins if it succeeds where the best does not, or has the same success and a strictly
  higher value (ties and NaN keep the old one).
  """
  bx, bv, bs = best
  cx, cv, cs = cand
  better = (cs & ~bs) | ((cs == bs) & (cv > bv))
  return (jnp.where(_expand(better, cx), cx, bx), jnp.where(better, cv, bv), bs | cs)


def best_index(values: jnp.ndarray, succ: jnp.ndarray) -> jnp.ndarray:
  """(R, N) values and success of R candidates per example -> (N,) index of the best.

  Successful candidates beat unsuccessful ones; among equals the highest value wins, the first on
  ties.
  """
  any_succ = jnp.any(succ, axis=0)
  score = jnp.where(any_succ[None] & ~succ, -jnp.inf, values)
  return jnp.argmax(score, axis=0)

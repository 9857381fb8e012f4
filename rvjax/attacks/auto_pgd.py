"""Auto-PGD (Croce & Hein, ICML 2020), step-size-free PGD with momentum, and AutoAttack.

Algorithm 1 of the paper, per example and with fixed shapes:
  x0: a uniform random point of the ball (`ball.random_start`; the reference code also starts at a
      random point, scaled to touch the linf boundary / on the l2 sphere; alike in high D).
  eta = 2 * eps; z = P(x_k + eta * dir(grad f(x_k)));
  x_{k+1} = P(x_k + a (z - x_k) + (1 - a)(x_k - x_{k-1})), a = 1 on the first step, else 0.75.
  At each checkpoint w_j (`checkpoints`), halve eta and restart from the best point x_max if
  (1) fewer than rho = 0.75 of the steps since w_{j-1} increased f, or
  (2) eta was not reduced at w_{j-1} and f_max did not increase since w_{j-1}.
  As in the reference code, (2) is not applied at the first checkpoint.
The result is the per-example best iterate: misclassified first, then the highest loss. As in
AutoAttack, APGD-T (targeted) also counts ANY misclassification as success, not only reaching
y_target: the target only steers the loss. Budget: steps + 1 gradient evaluations.

`autoattack` is an AutoAttack-style ensemble: APGD-CE, then APGD-T (targeted DLR) over the top
classes. The standard AutoAttack also runs FAB-T and Square; they are left out, so robust accuracy
under this ensemble upper-bounds AutoAttack's (usually closely). Instead of re-running each stage on
the shrinking subset of still-robust examples, every stage runs on the whole batch and a fixed-shape
`robust` mask decides which results are kept, so nothing recompiles; a stage is skipped
(`lax.cond`) once no example is robust.
"""
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from rvjax.attacks import _checks, ball, gradient, losses
from rvjax.attacks.gradient import evaluators

MOMENTUM = 0.75  # alpha in the paper
RHO = 0.75
FIRST_CHECKPOINT, DECAY, MIN_INTERVAL = 0.22, 0.03, 0.06


def checkpoints(steps: int) -> list[int]:
  """Checkpoint iterations w_j = ceil(p_j * steps), p_0 = 0, p_1 = 0.22,
  p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06), for p_j <= 1 (duplicates removed).

  For steps = 100: [0, 22, 41, 57, 70, 80, 87, 93, 99].
  """
  _checks.check_int(steps, "steps")
  p = [0.0, FIRST_CHECKPOINT]
  while True:
    nxt = p[-1] + max(p[-1] - p[-2] - DECAY, MIN_INTERVAL)
    if nxt > 1.0 + 1e-9:
      break
    p.append(nxt)
  # round before ceil: 0.41 * 100 is 41.00000000000001 in floating point.
  return sorted({math.ceil(round(q * steps, 6)) for q in p})


def _schedule(steps: int) -> tuple[np.ndarray, np.ndarray]:
  """(steps + 1,) bool 'k is a checkpoint' and int 'steps since the previous checkpoint'."""
  ws = checkpoints(steps)
  is_check = np.zeros(steps + 1, bool)
  interval = np.zeros(steps + 1, np.int32)
  for prev, w in zip(ws[:-1], ws[1:]):
    is_check[w], interval[w] = True, w - prev
  return is_check, interval


def apgd(logits_fn: Callable, x: Any, y: Any, *, key: jax.Array, eps: Any, steps: int = 100,
         norm: str = "linf", loss: str = "ce", targeted: bool = False,
         y_target: Any = None) -> jnp.ndarray:
  """Auto-PGD, untargeted or targeted (APGD-T: loss="dlr", targeted=True).

  Args:
    logits_fn: images (N, H, W, C) -> logits (N, K); examples must be independent.
    x: (N, H, W, C) float images in [0, 1].
    y: (N,) int labels in [0, K).
    key: PRNG key for the random start.
    eps: ball radius >= 0.
    steps: iterations >= 1 (static).
    norm: "linf" or "l2".
    loss: "ce", "dlr" (K >= 3; targeted K >= 4) or "margin".
    targeted: maximize -CE / -margin at y_target, or targeted DLR.
    y_target: (N,) int targets != y, required iff targeted.

  Returns:
    x_adv (N, H, W, C) in [0, 1] with ||x_adv - x|| <= eps.
  """
  _checks.check_int(steps, "steps")
  num_classes = _checks.check_inputs(logits_fn, x, y, targeted=targeted, y_target=y_target)
  eps = ball.check_threat(eps, norm, x)
  losses.check_loss(loss, targeted, num_classes)
  x, y = jnp.asarray(x), jnp.asarray(y)
  with_grad, _ = evaluators(logits_fn, y, loss=loss, targeted=targeted, y_target=y_target,
                            success="misclassified")
  is_check, interval = (jnp.asarray(a) for a in _schedule(steps))
  batch_shape = (x.shape[0],) + (1,) * (x.ndim - 1)

  x0 = ball.random_start(key, x, eps, norm)
  f0, s0, g0 = with_grad(x0)
  state = dict(
      x=x0, x_prev=x0, grad=g0, f=f0,
      eta=jnp.full(batch_shape, 2.0, x.dtype) * eps,
      x_max=x0, f_max=f0, g_max=g0,
      f_max_last=f0, reduced_last=jnp.ones(y.shape, bool), n_up=jnp.zeros(y.shape, jnp.int32),
      best=(x0, f0, s0))

  def body(k, s):
    a = jnp.where(k == 0, 1.0, MOMENTUM).astype(x.dtype)
    z = ball.step(s["x"], s["grad"], x, s["eta"], eps, norm)
    x_new = ball.project(s["x"] + a * (z - s["x"]) + (1 - a) * (s["x"] - s["x_prev"]), x, eps, norm)
    f_new, s_new, g_new = with_grad(x_new)
    best = losses.keep_best(s["best"], (x_new, f_new, s_new))
    n_up = s["n_up"] + (f_new > s["f"])
    up = f_new > s["f_max"]
    x_max = jnp.where(up.reshape(batch_shape), x_new, s["x_max"])
    g_max = jnp.where(up.reshape(batch_shape), g_new, s["g_max"])
    f_max = jnp.where(up, f_new, s["f_max"])

    check = is_check[k + 1]
    cond1 = n_up < RHO * interval[k + 1]
    cond2 = ~s["reduced_last"] & (f_max <= s["f_max_last"])
    reduce = check & (cond1 | cond2)
    r = reduce.reshape(batch_shape)
    return dict(
        x=jnp.where(r, x_max, x_new), x_prev=s["x"], grad=jnp.where(r, g_max, g_new),
        f=jnp.where(reduce, f_max, f_new), eta=jnp.where(r, s["eta"] / 2, s["eta"]),
        x_max=x_max, f_max=f_max, g_max=g_max,
        f_max_last=jnp.where(check, f_max, s["f_max_last"]),
        reduced_last=jnp.where(check, reduce, s["reduced_last"]),
        n_up=jnp.where(check, 0, n_up), best=best)

  # Unrolled up to gradient.MAX_UNROLLED_STEPS, as PGD (see the comment there). Longer runs stay
  # rolled: 100 steps unrolled compile for minutes. Rolled, a model built with
  # `rvjax.models.layers.conv_general_dilated` (every zoo model) runs at the unrolled speed:
  # APGD-100 on benchmarks/peers.py's CNN, 256 images, loaded 2-core CPU: 12.6 s against 33.4 s
  # with flax's default convolution, compile 2.4 s against 9.1 s, same robust accuracy.
  unroll = steps <= gradient.MAX_UNROLLED_STEPS
  return jax.lax.fori_loop(0, steps, body, state, unroll=unroll)["best"][0]


def autoattack(logits_fn: Callable, x: Any, y: Any, *, key: jax.Array, eps: Any,
               norm: str = "linf", steps: int = 100, n_target_classes: int = 9) -> jnp.ndarray:
  """Per-example worst case of APGD-CE and targeted APGD-DLR over the n_target_classes top classes.

  Examples misclassified on clean x keep x. Then APGD-CE runs; for t = 1..n_target_classes, APGD-T
  targets the class with the (t+1)-th largest clean logit, on the examples no earlier stage fooled.
  Each stage is one run of `steps` iterations (one restart, as in AutoAttack's standard version).

  Args:
    logits_fn: images (N, H, W, C) -> logits (N, K), K >= 4; examples must be independent.
    x: (N, H, W, C) float images in [0, 1].
    y: (N,) int labels in [0, K).
    key: PRNG key.
    eps: ball radius >= 0.
    norm: "linf" or "l2".
    steps: APGD iterations per stage (static, >= 1).
    n_target_classes: number of targets for APGD-T, in [1, K - 1] (static).

  Returns:
    x_adv (N, H, W, C) in [0, 1] with ||x_adv - x|| <= eps; misclassified wherever any stage
    found a misclassified point.
  """
  _checks.check_int(steps, "steps")
  _checks.check_int(n_target_classes, "n_target_classes")
  num_classes = _checks.check_inputs(logits_fn, x, y)
  eps = ball.check_threat(eps, norm, x)
  if num_classes < 4:
    raise ValueError(f"autoattack's APGD-T uses targeted DLR, which needs at least 4 classes; "
                     f"logits_fn gives {num_classes}.")
  if n_target_classes > num_classes - 1:
    raise ValueError(f"n_target_classes must be <= K - 1 = {num_classes - 1}, "
                     f"got {n_target_classes}.")
  x, y = jnp.asarray(x), jnp.asarray(y)
  predict = lambda z: jnp.argmax(logits_fn(z), axis=-1)
  expand = lambda m: m.reshape((-1,) + (1,) * (x.ndim - 1))
  key_ce, key_t = jax.random.split(key)

  clean_logits = logits_fn(x)
  clean_ok = jnp.argmax(clean_logits, axis=-1) == y
  x_ce = apgd(logits_fn, x, y, key=key_ce, eps=eps, steps=steps, norm=norm, loss="ce")
  ce_ok = predict(x_ce) == y
  x_adv = jnp.where(expand(clean_ok), x_ce, x)
  robust = clean_ok & ce_ok
  order = jnp.argsort(clean_logits, axis=-1)  # ascending; order[:, -1] == y where robust

  def stage(carry, t):
    x_adv, robust = carry

    def run(_):
      y_target = jnp.take(order, num_classes - 2 - t, axis=1)
      x_t = apgd(logits_fn, x, y, key=jax.random.fold_in(key_t, t), eps=eps, steps=steps,
                 norm=norm, loss="dlr", targeted=True, y_target=y_target)
      fooled = robust & (predict(x_t) != y)
      return jnp.where(expand(fooled), x_t, x_adv), robust & ~fooled

    return jax.lax.cond(jnp.any(robust), run, lambda _: (x_adv, robust), None), None

  (x_adv, _), _ = jax.lax.scan(stage, (x_adv, robust), jnp.arange(n_target_classes))
  return x_adv

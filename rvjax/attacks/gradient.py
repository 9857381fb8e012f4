"""FGSM (Goodfellow et al. 2015), FGSM-RS (Wong et al. 2020) and PGD (Madry et al. 2018).

All attacks take `logits_fn(x (N, H, W, C) in [0, 1]) -> logits (N, K)`, images x float32 NHWC in
[0, 1] and int labels y (N,), and return x_adv with x's shape and dtype, in [0, 1] and inside the
ball ||x_adv - x|| <= eps (linf or per-example l2, up to float rounding). They are pure, jit- and
vmap-compatible (close over logits_fn and the static settings); eps = 0 returns x exactly.
"""
from typing import Any, Callable

import jax
import jax.numpy as jnp

from rvjax import validate
from rvjax.attacks import _checks, ball, losses

MAX_UNROLLED_STEPS = 20
SELECT = ("best", "last")


def evaluators(logits_fn: Callable, y: jnp.ndarray, *, loss: str = "ce", targeted: bool = False,
               y_target: Any = None, success: str = "auto") -> tuple[Callable, Callable]:
  """Per-example objective of an attack at a point, with and without its gradient.

  `success`: "auto" (targeted: prediction == y_target, else prediction != y) or "misclassified"
  (prediction != y even when targeted: AutoAttack's APGD-T counts any misclassification).

  Returns:
    (with_grad, without_grad): with_grad(z) -> (value (N,), success (N,) bool, grad like z);
    without_grad(z) -> (value, success). The value is what the attack maximizes.
  """
  validate.check_choice(success, "success", ("auto", "misclassified"))
  obj = losses.objective(loss, targeted)
  y_t = y_target if targeted else y
  hit_target = targeted and success == "auto"

  def total(z):
    logits = logits_fn(z)
    value = obj(logits, y, y_t)
    return jnp.sum(value), (value, losses.success(logits, y, y_t, hit_target))

  value_and_grad = jax.value_and_grad(total, has_aux=True)

  def with_grad(z):
    (_, (value, succ)), grad = value_and_grad(z)
    return value, succ, grad

  def without_grad(z):
    return total(z)[1]

  return with_grad, without_grad


def fgsm(logits_fn: Callable, x: Any, y: Any, *, eps: Any, norm: str = "linf",
         key: jax.Array | None = None, alpha: Any = None) -> jnp.ndarray:
  """Fast gradient (sign) method on the cross-entropy; FGSM-RS when `key` is given.

  Without key: x_adv = P(x + eps * dir(grad CE(x))), dir = sign for linf, grad/||grad||_2 for l2.
  With key: start at a uniform random point x0 of the ball (see `ball.random_start`), step
  x_adv = P(x0 + alpha * dir(grad CE(x0))). alpha defaults to eps; Fast-AT (Wong et al. 2020)
  uses alpha = 1.25 * eps. P projects onto the eps-ball around x and [0, 1].

  Args:
    logits_fn: images (N, H, W, C) -> logits (N, K).
    x: (N, H, W, C) float images in [0, 1].
    y: (N,) int labels in [0, K).
    eps: ball radius >= 0 (pixel units of [0, 1], e.g. 8/255 for linf).
    norm: "linf" or "l2".
    key: optional PRNG key for the random start.
    alpha: step size > 0; default eps.

  Returns:
    x_adv (N, H, W, C) in [0, 1] with ||x_adv - x|| <= eps.
  """
  _checks.check_inputs(logits_fn, x, y)
  eps = ball.check_threat(eps, norm, x)
  if alpha is not None:
    alpha = ball.check_radius(alpha, "alpha", x)
  x = jnp.asarray(x)
  alpha = eps if alpha is None else alpha
  x0 = x if key is None else ball.random_start(key, x, eps, norm)
  with_grad, _ = evaluators(logits_fn, jnp.asarray(y))
  return ball.step(x0, with_grad(x0)[2], x, alpha, eps, norm)


def pgd(logits_fn: Callable, x: Any, y: Any, *, key: jax.Array, eps: Any, step_size: Any,
        steps: int, norm: str = "linf", restarts: int = 1, loss: str = "ce",
        targeted: bool = False, y_target: Any = None, select: str = "best") -> jnp.ndarray:
  """Projected gradient descent with a uniform random start and restarts.

  Each run starts at a uniform random point of the ball (`ball.random_start`: linf uniform in the
  cube, l2 uniform in the ball) and takes `steps` projected steepest-ascent steps. It returns, per
  example, the best of its steps + 1 iterates: misclassified (targeted: classified as y_target)
  first, then the highest loss; so more steps with the same key are never weaker. With
  select="last" each run returns its last iterate instead (Madry et al.'s PGD, what PGD-AT trains
  on). `restarts` runs are vmapped over keys fold_in(key, r), r = 0..restarts-1, and the
  per-example best run is kept (judged the same way at each run's result), so restarts are never
  weaker than the single run with the same key (memory grows by `restarts`).

  Args:
    logits_fn: images (N, H, W, C) -> logits (N, K); examples must be independent.
    x: (N, H, W, C) float images in [0, 1].
    y: (N,) int labels in [0, K).
    key: PRNG key.
    eps: ball radius >= 0.
    step_size: step length > 0 (linf: per pixel; l2: per example).
    steps: number of gradient steps >= 1 (static).
    norm: "linf" or "l2".
    restarts: number of random starts >= 1 (static).
    loss: "ce", "margin" (Carlini-Wagner logit margin) or "dlr" (Croce & Hein 2020; K >= 3).
    targeted: if True, move toward y_target: maximize -CE(y_target), -margin(y_target) or
      targeted DLR (K >= 4).
    y_target: (N,) int targets != y, required iff targeted.
    select: "best" (the per-example best iterate) or "last" (the last iterate) of each run.

  Returns:
    x_adv (N, H, W, C) in [0, 1] with ||x_adv - x|| <= eps.
  """
  _checks.check_int(steps, "steps")
  _checks.check_int(restarts, "restarts")
  validate.check_choice(select, "select", SELECT)
  num_classes = _checks.check_inputs(logits_fn, x, y, targeted=targeted, y_target=y_target)
  eps = ball.check_threat(eps, norm, x)
  step_size = ball.check_radius(step_size, "step_size", x)
  losses.check_loss(loss, targeted, num_classes)
  x, y = jnp.asarray(x), jnp.asarray(y)
  with_grad, without_grad = evaluators(logits_fn, y, loss=loss, targeted=targeted,
                                       y_target=y_target)
  value_dtype = jax.eval_shape(without_grad, x)[0].dtype

  def run(run_key):
    x0 = ball.random_start(run_key, x, eps, norm)
    init = (x0, jnp.full(y.shape, -jnp.inf, value_dtype), jnp.zeros(y.shape, bool))

    def body(_, carry):
      x_cur, best = carry
      value, succ, grad = with_grad(x_cur)
      best = losses.keep_best(best, (x_cur, value, succ))
      return ball.step(x_cur, grad, x, step_size, eps, norm), best

    # Unrolled up to MAX_UNROLLED_STEPS: an input-gradient convolution reads its kernel with the
    # in/out axes swapped, and XLA:CPU's ConvCanonicalization pass, which transposes it into
    # Eigen's layout, visits only the entry computation; in a while-loop body it falls to a
    # generic loop emitter (digits CNN, 256 images: 1.8-4x slower per step). Unrolling costs
    # compile time only. Models built with `rvjax.models.layers.conv_general_dilated` (the zoo)
    # avoid the slow path rolled too; unrolling keeps users' plain `nn.Conv` models fast.
    x_last, best = jax.lax.fori_loop(0, steps, body, (x0, init),
                                     unroll=steps <= MAX_UNROLLED_STEPS)
    last = (x_last,) + tuple(without_grad(x_last))
    return last if select == "last" else losses.keep_best(best, last)

  keys = jax.vmap(lambda r: jax.random.fold_in(key, r))(jnp.arange(restarts))
  xs, values, succ = jax.vmap(run)(keys)
  idx = losses.best_index(values, succ)
  return jnp.take_along_axis(xs, idx.reshape((1, -1) + (1,) * (x.ndim - 1)), axis=0)[0]

"""Adversarial training objectives: PGD-AT, Fast-AT and TRADES.

  pgd_at  (Madry et al. 2018): the inner max is PGD-k from a uniform random start
          (`rvjax.attacks.pgd`); by default it trains on the LAST iterate, as Madry et al.
          (select="best" trains on the per-example best iterate instead). The outer min is on
          L = (1 - clean_weight) * CE(f(x_adv), y) + clean_weight * CE(f(x), y).
  fast_at (Wong et al. 2020): the same loss with FGSM-RS for the inner max: a uniform random start
          in the ball and one signed step of alpha = 1.25 eps (`rvjax.attacks.fgsm` with a key).
          Guard it against catastrophic overfitting with the `pgd_guard` hook
          (`rvjax.train.guards`).
  trades  (Zhang et al. 2019), exactly as the reference code (yaodongyu/TRADES, trades.py):
          L = 1/B sum_i [CE(f(x_i), y_i) + beta * KL(p(x_i) || p(x'_i))],
          KL(p || q) = sum_k p_k (log p_k - log q_k), p = softmax f(x), q = softmax f(x'), i.e.
          PyTorch's KLDivLoss(log q, p, reduction="sum") / B ("batchmean"); gradients flow through
          both p and q. x' = `kl_attack`: start x + 0.001 N(0, I), then `steps` projected signed
          steps on KL(p(x) || p(x')) with p(x) held fixed. (The paper writes it L(f(x), f(x')).)

Gradients (Danskin's theorem): the attack runs on `stop_gradient`ed parameters and its output is
`stop_gradient`ed, so the parameter gradient is the loss gradient at the attack's output; nothing
is back-propagated through the attack's steps.

Batch norm:
  * the attack sees `forward.attack_forward`: train mode, normalized with the statistics of the
    batch it attacks, running-stat updates discarded (the reference TRADES code attacks in eval
    mode instead; we keep one convention for every objective);
  * the update's forward passes run in train mode on the batches the loss trains on, each
    normalized with its own batch statistics; their running-stat updates are applied in sequence
    (the clean batch first when the loss has a clean term, then the adversarial batch), as two
    consecutive PyTorch train-mode forwards would;
  * evaluation (`rvjax.train.step.predict`) uses the running averages.

Every `make_*` returns `objective(params, model_state, batch, key) -> (loss, (model_state,
metrics))` with scalar metrics: adv_loss, adv_accuracy, and clean_loss, clean_accuracy whenever a
clean forward pass runs (TRADES always; PGD-AT and Fast-AT when clean_weight > 0); TRADES adds kl.
Radii and steps are in [0, 1] pixel units (eps = 8/255 for CIFAR's linf setting).
"""
import jax
import jax.numpy as jnp
import numpy as np

from rvjax import attacks, validate
from rvjax.attacks import ball, losses
from rvjax.objectives import forward

TRADES_INIT_STD = 0.001  # the reference code's start: x + 0.001 * N(0, I)


def _check_int(value, name: str) -> None:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
    raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")


def _check_fraction(value, name: str) -> None:
  if not 0.0 <= value <= 1.0:
    raise ValueError(f"{name} must lie in [0, 1], got {value}.")


def _frozen_logits_fn(apply_fn, params, model_state, key):
  """The attack's `logits_fn`: train-mode BN, no running-stat updates, no parameter gradient."""
  return forward.attack_forward(apply_fn, jax.lax.stop_gradient(params),
                                jax.lax.stop_gradient(model_state), key)


def _ce(logits, labels, mask):
  return forward.masked_mean(losses.ce(logits, labels), mask)


def min_max(apply_fn, perturb, *, clean_weight: float = 0.0):
  """The outer minimization around any inner maximization (shared by PGD-AT and Fast-AT).

  Args:
    apply_fn: the flax module's `apply`.
    perturb: `(logits_fn, x (B,H,W,C) in [0,1], y (B,), key) -> x_adv` of x's shape.
    clean_weight: weight w in [0, 1] of the clean CE: L = (1 - w) CE(x_adv) + w CE(x).

  Returns:
    The objective `(params, model_state, batch, key) -> (loss, (model_state, metrics))`.
  """
  _check_fraction(clean_weight, "clean_weight")

  def objective(params, model_state, batch, key):
    k_attack, k_start, k_clean, k_adv = jax.random.split(key, 4)
    x, y, mask = batch["image"], batch["label"], batch["mask"]
    logits_fn = _frozen_logits_fn(apply_fn, params, model_state, k_attack)
    x_adv = jax.lax.stop_gradient(perturb(logits_fn, x, y, k_start))
    metrics, loss = {}, 0.0
    if clean_weight > 0:
      logits, model_state = forward.train_forward(apply_fn, params, model_state, x, k_clean)
      clean_loss = _ce(logits, y, mask)
      metrics.update(clean_loss=clean_loss, clean_accuracy=forward.accuracy(logits, y, mask))
      loss = clean_weight * clean_loss
    logits_adv, model_state = forward.train_forward(apply_fn, params, model_state, x_adv, k_adv)
    adv_loss = _ce(logits_adv, y, mask)
    metrics.update(adv_loss=adv_loss, adv_accuracy=forward.accuracy(logits_adv, y, mask))
    return loss + (1.0 - clean_weight) * adv_loss, (model_state, metrics)

  return objective


def make_pgd_at(apply_fn, *, eps: float = 8 / 255, step_size: float | None = None,
                steps: int = 10, norm: str = "linf", restarts: int = 1, clean_weight: float = 0.0,
                select: str = "last"):
  """PGD adversarial training (Madry et al. 2018).

  Args:
    apply_fn: the flax module's `apply`.
    eps: ball radius > 0 (default 8/255, the CIFAR-10 linf setting).
    step_size: PGD step > 0; default `attacks.factory.REL_STEP["pgd"]` * eps / steps
      (2.5 eps / steps, Madry et al.'s rule; 2/255 for eps = 8/255, steps = 10).
    steps: PGD iterations k >= 1.
    norm: "linf" or "l2".
    restarts: random restarts >= 1 (per-example best kept).
    clean_weight: weight in [0, 1] of the clean CE (0: pure adversarial loss).
    select: "last" (Madry et al.: train on the last PGD iterate) or "best" (per-example best).
  """
  ball.check_threat(eps, norm)
  validate.check_positive(eps, "eps")
  _check_int(steps, "steps")
  _check_int(restarts, "restarts")
  attack = attacks.create("pgd", norm=norm, steps=steps, restarts=restarts, step_size=step_size,
                          select=select)
  perturb = lambda fn, x, y, key: attack(fn, x, y, key, eps)
  return min_max(apply_fn, perturb, clean_weight=clean_weight)


def make_fast_at(apply_fn, *, eps: float = 8 / 255, alpha: float | None = None,
                 norm: str = "linf", clean_weight: float = 0.0):
  """Fast adversarial training with FGSM-RS (Wong et al. 2020).

  Args:
    apply_fn: the flax module's `apply`.
    eps: ball radius > 0 (default 8/255).
    alpha: FGSM step > 0 from the random start; default `attacks.factory.REL_STEP["fgsm_rs"]`
      * eps = 1.25 eps (10/255 at eps = 8/255).
    norm: "linf" or "l2".
    clean_weight: weight in [0, 1] of the clean CE.
  """
  ball.check_threat(eps, norm)
  validate.check_positive(eps, "eps")
  attack = attacks.create("fgsm_rs", norm=norm, alpha=alpha)
  perturb = lambda fn, x, y, key: attack(fn, x, y, key, eps)
  return min_max(apply_fn, perturb, clean_weight=clean_weight)


def kl_attack(logits_fn, x, logits_clean, *, key, eps, step_size, steps: int, norm: str = "linf",
              init_std: float = TRADES_INIT_STD):
  """TRADES' inner maximization of KL(p(x) || p(x')) over the ball around x.

  x'_0 = P(x + init_std * N(0, I)); x'_{t+1} = P(x'_t + step_size * dir(grad KL(p || p(x'_t)))),
  dir = sign (linf) or grad / ||grad||_2 (l2), P the projection onto the eps-ball and [0, 1].
  Returns the last iterate, as the reference code does.

  Args:
    logits_fn: images (N, H, W, C) -> logits (N, K).
    x: (N, H, W, C) float images in [0, 1].
    logits_clean: (N, K) logits of x, the fixed reference p = softmax(logits_clean).
    key: PRNG key of the start.
    eps, step_size: radius >= 0 and step > 0, in pixel units.
    steps: iterations >= 1 (static).
    norm: "linf" or "l2".
    init_std: standard deviation of the Gaussian start.

  Returns:
    x' (N, H, W, C) in [0, 1] with ||x' - x|| <= eps.
  """
  logits_clean = jax.lax.stop_gradient(logits_clean)
  kl_sum = lambda z: jnp.sum(losses.kl(logits_fn(z), logits_clean))
  x0 = ball.project(x + init_std * jax.random.normal(key, x.shape, x.dtype), x, eps, norm)
  body = lambda _, z: ball.step(z, jax.grad(kl_sum)(z), x, step_size, eps, norm)
  return jax.lax.fori_loop(0, steps, body, x0)


def make_trades(apply_fn, *, eps: float = 0.031, step_size: float = 0.007, steps: int = 10,
                beta: float = 6.0, norm: str = "linf"):
  """TRADES (Zhang et al. 2019); the loss is given in the module docstring.

  Args:
    apply_fn: the flax module's `apply`.
    eps: ball radius >= 0 (reference CIFAR-10: 0.031 linf).
    step_size: attack step > 0 (reference: 0.007).
    steps: attack iterations >= 1 (reference: 10).
    beta: weight >= 0 of the KL term (reference: 6; beta = 0 is clean CE).
    norm: "linf" or "l2".
  """
  ball.check_threat(eps, norm)
  _check_int(steps, "steps")
  validate.check_positive(step_size, "step_size")
  validate.check_positive(beta, "beta", allow_zero=True)

  def objective(params, model_state, batch, key):
    k_attack, k_start, k_clean, k_adv = jax.random.split(key, 4)
    x, y, mask = batch["image"], batch["label"], batch["mask"]
    logits_fn = _frozen_logits_fn(apply_fn, params, model_state, k_attack)
    x_adv = jax.lax.stop_gradient(kl_attack(logits_fn, x, logits_fn(x), key=k_start, eps=eps,
                                            step_size=step_size, steps=steps, norm=norm))
    logits, model_state = forward.train_forward(apply_fn, params, model_state, x, k_clean)
    logits_adv, model_state = forward.train_forward(apply_fn, params, model_state, x_adv, k_adv)
    clean_loss = _ce(logits, y, mask)
    kl = forward.masked_mean(losses.kl(logits_adv, logits), mask)
    metrics = dict(clean_loss=clean_loss, clean_accuracy=forward.accuracy(logits, y, mask),
                   adv_loss=_ce(logits_adv, y, mask),
                   adv_accuracy=forward.accuracy(logits_adv, y, mask), kl=kl)
    return clean_loss + beta * kl, (model_state, metrics)

  return objective

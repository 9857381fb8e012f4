"""Certified training objectives: IBP, CROWN-IBP and Gaussian-noise training for smoothing.

  ibp        (Gowal et al. 2018): L = kappa CE(f(x), y) + (1 - kappa) CE(z_hat, y), z_hat the
             worst-case logits from the margin lower bounds m_j <= z_y - z_j over the eps-ball
             (z_hat_y = 0, z_hat_j = -m_j; CE(z_hat, y) = log(1 + sum_j exp(-m_j))).
  crown_ibp  (Zhang et al. 2020): the same loss with m = (1 - beta) m_IBP + beta m_CROWN-IBP
             (CROWN at the output over IBP pre-activation bounds).
  gaussian_noise (Cohen et al. 2019): CE on clip(x + sigma N(0, I), 0, 1), the base classifier
             of a smoothed one (`rvjax.certify.smoothing`, which clips the same way).

Schedules (all linear in the step, read from batch["step"], which `rvjax.train.step.train_step`
provides): for `warmup_steps` steps eps = 0 and kappa = kappa_start (natural training); over the
next `ramp_steps` steps eps ramps 0 -> eps, kappa kappa_start -> kappa_end and beta
beta_start -> beta_end; then all stay at their end values. Gowal et al.: kappa 1 -> 0.5 and a
training eps 1.1x the test eps; Zhang et al.: kappa 1 -> 0 (or 0 -> 0), beta 1 -> 0.

The bounds use the eval-mode network (`apply_fn(..., train=False)`): for models with batch norm
they bound the running-average network, not the one the natural term trains, so certified
configs use models without batch norm. Metrics: clean_loss, clean_accuracy, robust_loss,
verified_accuracy (the fraction of the batch certified at the current eps), eps, kappa (and beta).
"""
import jax
import jax.numpy as jnp

from rvjax import certify, validate
from rvjax.attacks import losses
from rvjax.objectives import forward


def ramp(step, warmup_steps: int, ramp_steps: int) -> jax.Array:
  """Progress in [0, 1]: 0 until warmup_steps, then linear to 1 over ramp_steps."""
  t = (jnp.asarray(step, jnp.float32) - warmup_steps) / max(ramp_steps, 1)
  return jnp.clip(t, 0.0, 1.0)


def _check_schedule(eps, warmup_steps, ramp_steps, **fractions):
  validate.check_positive(eps, "eps")
  for name, value in (("warmup_steps", warmup_steps), ("ramp_steps", ramp_steps)):
    if isinstance(value, bool) or int(value) != value or value < 0:
      raise ValueError(f"{name} must be an integer >= 0, got {value!r}.")
  for name, value in fractions.items():
    if not 0.0 <= value <= 1.0:
      raise ValueError(f"{name} must lie in [0, 1], got {value}.")


def _step(batch):
  if "step" not in batch:
    raise ValueError("Certified objectives schedule eps by batch['step'] (the int32 train step), "
                     "which rvjax.train.step.train_step adds; pass it when calling directly.")
  return batch["step"]


def robust_ce(margins: jax.Array) -> jax.Array:
  """CE of the worst-case logits from margin lower bounds (N, K-1): (N,) log(1 + sum exp(-m))."""
  zeros = jnp.zeros(margins.shape[:-1] + (1,), margins.dtype)
  return jax.nn.logsumexp(jnp.concatenate([zeros, -margins], -1), axis=-1)


def _make(apply_fn, *, eps, warmup_steps, ramp_steps, kappa_start, kappa_end, beta_start=None,
          beta_end=None):
  def objective(params, model_state, batch, key):
    x, y, mask = batch["image"], batch["label"], batch["mask"]
    t = ramp(_step(batch), warmup_steps, ramp_steps)
    eps_t = eps * t
    kappa = kappa_start + (kappa_end - kappa_start) * t
    variables = {"params": params, **model_state}
    margins = certify.margin_lower_bounds(apply_fn, variables, x, y, eps_t, method="ibp")
    metrics = {"eps": eps_t, "kappa": kappa}
    if beta_start is not None:
      beta = beta_start + (beta_end - beta_start) * t
      crown = certify.margin_lower_bounds(apply_fn, variables, x, y, eps_t, method="crown_ibp")
      margins = (1.0 - beta) * margins + beta * crown
      metrics["beta"] = beta
    logits, model_state = forward.train_forward(apply_fn, params, model_state, x, key)
    clean_loss = forward.masked_mean(losses.ce(logits, y), mask)
    robust_loss = forward.masked_mean(robust_ce(margins), mask)
    verified = forward.masked_mean(jnp.all(margins > 0, -1).astype(jnp.float32), mask)
    metrics.update(clean_loss=clean_loss, clean_accuracy=forward.accuracy(logits, y, mask),
                   robust_loss=robust_loss, verified_accuracy=verified)
    return kappa * clean_loss + (1.0 - kappa) * robust_loss, (model_state, metrics)

  return objective


def make_ibp(apply_fn, *, eps: float = 0.1, warmup_steps: int = 0, ramp_steps: int = 1000,
             kappa_start: float = 1.0, kappa_end: float = 0.5):
  """IBP training (Gowal et al. 2018); see the module docstring.

  Args:
    apply_fn: the flax module's `apply`.
    eps: final training radius > 0 (L-inf, pixel units).
    warmup_steps, ramp_steps: integers >= 0 of the eps / kappa schedule.
    kappa_start, kappa_end: weights in [0, 1] of the natural loss.
  """
  _check_schedule(eps, warmup_steps, ramp_steps, kappa_start=kappa_start, kappa_end=kappa_end)
  return _make(apply_fn, eps=eps, warmup_steps=warmup_steps, ramp_steps=ramp_steps,
               kappa_start=kappa_start, kappa_end=kappa_end)


def make_crown_ibp(apply_fn, *, eps: float = 0.1, warmup_steps: int = 0, ramp_steps: int = 1000,
                   kappa_start: float = 1.0, kappa_end: float = 0.0, beta_start: float = 1.0,
                   beta_end: float = 0.0):
  """CROWN-IBP training (Zhang et al. 2020); args as `make_ibp`, plus beta_start, beta_end in
  [0, 1]: the weight of the CROWN-IBP margin bound against the IBP one."""
  _check_schedule(eps, warmup_steps, ramp_steps, kappa_start=kappa_start, kappa_end=kappa_end,
                  beta_start=beta_start, beta_end=beta_end)
  return _make(apply_fn, eps=eps, warmup_steps=warmup_steps, ramp_steps=ramp_steps,
               kappa_start=kappa_start, kappa_end=kappa_end, beta_start=beta_start,
               beta_end=beta_end)


def make_gaussian_noise(apply_fn, *, sigma: float = 0.25):
  """Gaussian data augmentation (Cohen et al. 2019): CE on clip(x + sigma N(0, I), 0, 1).

  Args:
    apply_fn: the flax module's `apply`.
    sigma: noise standard deviation > 0 in pixel units (the smoothing sigma it is certified at).
  """
  validate.check_positive(sigma, "sigma")

  def objective(params, model_state, batch, key):
    k_noise, k_fwd = jax.random.split(key)
    x, y, mask = batch["image"], batch["label"], batch["mask"]
    noisy = jnp.clip(x + sigma * jax.random.normal(k_noise, x.shape, x.dtype), 0.0, 1.0)
    logits, model_state = forward.train_forward(apply_fn, params, model_state, noisy, k_fwd)
    loss = forward.masked_mean(losses.ce(logits, y), mask)
    return loss, (model_state, {"noisy_accuracy": forward.accuracy(logits, y, mask)})

  return objective

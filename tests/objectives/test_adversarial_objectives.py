"""PGD-AT, Fast-AT and TRADES objectives: values, metrics, Danskin gradients, bad arguments."""
import jax
import numpy as np
import pytest

from rvjax import attacks, objectives
from rvjax.objectives import adversarial, forward

KEY = jax.random.key(3)


def run(objective, tiny, params=None):
  return jax.jit(objective)(tiny.params if params is None else params, tiny.model_state,
                            tiny.batch, KEY)


@pytest.mark.parametrize("name, kwargs, metric_names", [
    ("pgd_at", dict(eps=0.1, steps=2, clean_weight=0.5),
     {"adv_loss", "adv_accuracy", "clean_loss", "clean_accuracy"}),
    ("fast_at", dict(eps=0.1), {"adv_loss", "adv_accuracy"}),
    ("trades", dict(eps=0.1, steps=2, step_size=0.05),
     {"adv_loss", "adv_accuracy", "clean_loss", "clean_accuracy", "kl"}),
])
def test_finite_loss_metrics_and_updated_batch_stats(tiny, name, kwargs, metric_names):
  loss, (model_state, metrics) = run(objectives.create(name, tiny.apply, **kwargs), tiny)
  assert np.isfinite(loss) and set(metrics) == metric_names
  assert all(np.isfinite(v) for v in metrics.values())
  # The update's forward passes move the running statistics; the attack's do not count.
  before, after = (jax.tree.leaves(s) for s in (tiny.model_state, model_state))
  assert any(not np.allclose(a, b) for a, b in zip(before, after))
  if name == "pgd_at":  # The inner max found a harder batch than the clean one.
    assert metrics["adv_loss"] > metrics["clean_loss"]
  # The losses themselves are recomputed by hand in test_adversarial_reference.py.


def test_trades_with_beta_zero_is_clean_cross_entropy(tiny):
  loss, _ = run(objectives.create("trades", tiny.apply, eps=0.1, steps=1, beta=0.0), tiny)
  erm_loss, _ = run(objectives.create("erm", tiny.apply), tiny)
  np.testing.assert_allclose(loss, erm_loss, rtol=1e-6)


def test_kl_attack_increases_kl_and_stays_in_the_ball(tiny):
  logits_fn = forward.attack_forward(tiny.apply, tiny.params, tiny.model_state, KEY)
  x = tiny.batch["image"]
  x_adv = adversarial.kl_attack(logits_fn, x, logits_fn(x), key=KEY, eps=0.1, step_size=0.05,
                                steps=3)
  assert float(np.abs(x_adv - x).max()) <= 0.1 + 1e-6 and 0 <= x_adv.min() <= x_adv.max() <= 1
  assert float(attacks.kl(logits_fn(x_adv), logits_fn(x)).mean()) > 1e-3


def test_gradient_is_taken_at_the_attack_output(tiny):
  """Danskin: d/dtheta of the objective equals d/dtheta CE(f_theta(x_adv)) with x_adv fixed."""
  # l2 FGSM without a key is deterministic and, unlike sign steps, differentiable in theta, so
  # back-propagating through the attack would change the gradient.
  perturb = lambda fn, x, y, key: attacks.fgsm(fn, x, y, eps=1.0, norm="l2")
  objective = adversarial.min_max(tiny.apply, perturb)
  grads = jax.jit(jax.grad(lambda p: objective(p, tiny.model_state, tiny.batch, KEY)[0]))(
      tiny.params)
  x, y, mask = tiny.batch["image"], tiny.batch["label"], tiny.batch["mask"]
  attack_point = lambda p: perturb(forward.attack_forward(tiny.apply, p, tiny.model_state, KEY),
                                   x, y, None)

  def loss_at(p, x_adv):
    logits, _ = forward.train_forward(tiny.apply, p, tiny.model_state, x_adv, KEY)
    return forward.masked_mean(attacks.ce(logits, y), mask)

  danskin = jax.jit(jax.grad(lambda p: loss_at(p, attack_point(tiny.params))))(tiny.params)
  through = jax.jit(jax.grad(lambda p: loss_at(p, attack_point(p))))(tiny.params)
  close = lambda a, b: np.allclose(a, b, rtol=1e-4, atol=1e-6)
  assert all(jax.tree.leaves(jax.tree.map(close, grads, danskin)))
  assert not all(jax.tree.leaves(jax.tree.map(close, grads, through)))


@pytest.mark.parametrize("name, kwargs, match", [
    ("pgd_at", {"eps": -0.1}, "eps must be"),
    ("pgd_at", {"eps": 0.0}, "eps must be > 0"),
    ("pgd_at", {"norm": "l3"}, "Unknown norm 'l3'"),
    ("pgd_at", {"steps": 0}, "steps must be an integer"),
    ("pgd_at", {"restarts": 1.5}, "restarts must be an integer"),
    ("pgd_at", {"step_size": -1.0}, "step_size must be > 0"),
    ("pgd_at", {"clean_weight": 1.5}, r"clean_weight must lie in \[0, 1\]"),
    ("fast_at", {"alpha": 0.0}, "alpha must be > 0"),
    ("trades", {"beta": -1.0}, "beta must be >= 0"),
    ("trades", {"epsilon": 0.1}, "no argument.*epsilon.*valid: eps"),
    ("pgd", {}, "Unknown objective 'pgd'"),
])
def test_bad_arguments_raise_value_error(tiny, name, kwargs, match):
  with pytest.raises(ValueError, match=match):
    objectives.create(name, tiny.apply, **kwargs)

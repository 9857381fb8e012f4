"""Every gradient attack, vmapped over a traced eps (PGD, AutoAttack also jitted), stays in [0, 1]
and in its ball, and returns x exactly at eps = 0."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvjax import attacks

EPS = {"linf": 0.3, "l2": 1.5}  # large enough that both the ball and the [0, 1] box bind
ATTACKS = {
    "fgsm": lambda f, x, y, k, eps, norm: attacks.fgsm(f, x, y, eps=eps, norm=norm),
    "fgsm_rs": lambda f, x, y, k, eps, norm: attacks.fgsm(
        f, x, y, eps=eps, norm=norm, key=k, alpha=1.25 * eps),
    "pgd_margin_restarts": lambda f, x, y, k, eps, norm: attacks.pgd(
        f, x, y, key=k, eps=eps, step_size=eps / 3, steps=4, norm=norm, restarts=2, loss="margin"),
    "pgd_dlr_targeted": lambda f, x, y, k, eps, norm: attacks.pgd(
        f, x, y, key=k, eps=eps, step_size=eps / 3, steps=4, norm=norm, loss="dlr", targeted=True,
        y_target=(y + 1) % 5),
    "apgd": lambda f, x, y, k, eps, norm: attacks.apgd(f, x, y, key=k, eps=eps, steps=6, norm=norm),
    "autoattack": lambda f, x, y, k, eps, norm: attacks.autoattack(
        f, x, y, key=k, eps=eps, norm=norm, steps=3, n_target_classes=2),
}


def _run(name, norm, model, jit=False):
  """Runs the attack vmapped over eps in (0, EPS[norm]) -> (2, N, H, W, C)."""
  attack = ATTACKS[name]
  run = jax.vmap(lambda eps: attack(model.fn, model.x, model.y, jax.random.key(0), eps, norm))
  return np.asarray((jax.jit(run) if jit else run)(jnp.asarray([0.0, EPS[norm]])))


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("name", list(ATTACKS))
def test_output_in_box_and_ball_and_exact_at_eps_zero(name, norm, mlp):
  x_zero, x_adv = _run(name, norm, mlp, jit=name.startswith(("pgd", "autoattack")))
  x = np.asarray(mlp.x)
  np.testing.assert_array_equal(x_zero, x)
  assert x_adv.shape == x.shape and x_adv.dtype == np.float32
  assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
  d = (x_adv - x).reshape(len(x), -1)
  if norm == "linf":
    assert np.abs(d).max() <= EPS[norm] + 1e-6
  else:
    assert np.linalg.norm(d, axis=1).max() <= EPS[norm] * (1 + 1e-5)
  assert np.abs(d).max() > 0.05  # it moved

"""APGD's checkpoint schedule and strength; the AutoAttack-style ensemble."""
import jax
import jax.numpy as jnp
import numpy as np

from rvjax import attacks
from rvjax.attacks import auto_pgd, gradient

EPS = 0.06


def _published_checkpoints(n):
  """w_j = ceil(p_j n), p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06).

  Computed in integer percent, independently of the library's float version.
  """
  p = [0, 22]  # integer percent avoids float rounding
  while p[-1] + max(p[-1] - p[-2] - 3, 6) <= 100:
    p.append(p[-1] + max(p[-1] - p[-2] - 3, 6))
  return sorted({-(-q * n // 100) for q in p})


def test_checkpoint_schedule():
  assert attacks.apgd_checkpoints(100) == [0, 22, 41, 57, 70, 80, 87, 93, 99]
  for n in (1, 5, 10, 37, 100, 250):
    assert attacks.apgd_checkpoints(n) == _published_checkpoints(n)
  is_check, interval = auto_pgd._schedule(100)
  assert list(np.flatnonzero(is_check)) == [22, 41, 57, 70, 80, 87, 93, 99]
  assert list(interval[is_check]) == [22, 19, 16, 13, 10, 7, 6, 6]


def test_apgd_never_weaker_than_pgd_with_same_budget(mlp):
  key = jax.random.key(0)
  x_pgd = attacks.pgd(mlp.fn, mlp.x, mlp.y, key=key, eps=EPS, step_size=EPS / 4, steps=20)
  x_apgd = attacks.apgd(mlp.fn, mlp.x, mlp.y, key=key, eps=EPS, steps=20)
  l_pgd, l_apgd = (np.asarray(attacks.ce(mlp.fn(z), mlp.y)) for z in (x_pgd, x_apgd))
  ok_pgd, ok_apgd = (np.asarray(jnp.argmax(mlp.fn(z), -1) == mlp.y) for z in (x_pgd, x_apgd))
  assert not np.any(~ok_pgd & ok_apgd)  # every example PGD fools, APGD fools too
  assert ok_apgd.mean() <= ok_pgd.mean() < 1.0
  both = ok_pgd & ok_apgd
  assert both.any() and l_apgd[both].mean() >= l_pgd[both].mean()


def test_targeted_apgd_counts_any_misclassification(linear):
  """AutoAttack's APGD-T: the target steers the loss, but any misclassified iterate is success."""
  y_t = (linear.y + 1) % 5
  x_adv = attacks.apgd(linear.fn, linear.x, linear.y, key=jax.random.key(1), eps=0.2, steps=10,
                       loss="dlr", targeted=True, y_target=y_t)
  pred = np.asarray(jnp.argmax(linear.fn(x_adv), -1))
  assert np.all(pred != np.asarray(linear.y))
  # Some examples were first misclassified as another class than the target, and kept that.
  assert np.any(pred != np.asarray(y_t))


def test_autoattack_at_least_as_strong_as_apgd_ce(mlp):
  kw = dict(key=jax.random.key(0), eps=0.03, steps=10)
  x_aa = attacks.autoattack(mlp.fn, mlp.x, mlp.y, n_target_classes=3, **kw)
  x_ce = attacks.apgd(mlp.fn, mlp.x, mlp.y, **kw)
  acc = lambda z: float(jnp.mean(jnp.argmax(mlp.fn(z), -1) == mlp.y))
  assert acc(x_aa) <= acc(x_ce) < 1.0
  assert np.abs(np.asarray(x_aa) - np.asarray(mlp.x)).max() <= 0.03 + 1e-6


def test_apgd_unrolled_equals_rolled_loop(mlp, monkeypatch):
  """11 steps unrolled (up to gradient.MAX_UNROLLED_STEPS) give the rolled loop's result.
  Catches an unrolled loop that drops or repeats steps or mis-indexes the checkpoint schedule."""
  run = lambda steps: np.asarray(attacks.apgd(mlp.fn, mlp.x, mlp.y, key=jax.random.key(4),
                                              eps=EPS, steps=steps))
  loops = lambda: jax.jit(lambda x: attacks.apgd(
      mlp.fn, x, mlp.y, key=jax.random.key(4), eps=EPS, steps=11)).lower(mlp.x).as_text().count(
      "stablehlo.while")
  monkeypatch.setattr(gradient, "MAX_UNROLLED_STEPS", 5)
  rolled, fewer, rolled_loops = run(11), run(10), loops()
  monkeypatch.setattr(gradient, "MAX_UNROLLED_STEPS", 20)
  np.testing.assert_allclose(run(11), rolled, atol=1e-6)
  assert loops() == rolled_loops - 1  # the step loop is gone
  assert np.abs(fewer - rolled).max() > 1e-3  # one step fewer is visibly different

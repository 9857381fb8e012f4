"""FGSM closed forms and PGD strength on a linear model."""
import jax
import jax.numpy as jnp
import numpy as np

from rvjax import attacks

EPS = 0.02


def _ce_grad(lin, x):
  """Closed-form d CE / d x for the linear model, float64: W (softmax - onehot)."""
  z = (x.reshape(len(x), -1).astype(np.float64) - 0.5) @ lin.w + lin.b
  p = np.exp(z - z.max(1, keepdims=True))
  p /= p.sum(1, keepdims=True)
  p[np.arange(len(x)), np.asarray(lin.y)] -= 1
  return (p @ lin.w.T).reshape(x.shape)


def _stats(lin, x_adv):
  """Per-example (CE loss, misclassified) of x_adv."""
  logits = lin.fn(x_adv)
  return np.asarray(attacks.ce(logits, lin.y)), np.asarray(jnp.argmax(logits, -1) != lin.y)


def _at_least_as_strong(a, b, tol=1e-5):
  """Per example, (loss, success) a is at least as strong as b: success first, then loss."""
  (la, sa), (lb, sb) = a, b
  return np.all((sa & ~sb) | ((sa == sb) & (la >= lb - tol)))


def _pgd(lin, key, steps, restarts=1):
  return attacks.pgd(lin.fn, lin.x, lin.y, key=key, eps=EPS, step_size=EPS / 4, steps=steps,
                     restarts=restarts)


def test_fgsm_linf_matches_closed_form(linear):
  x = np.asarray(linear.x)
  g = _ce_grad(linear, x)
  want = np.clip(x + 0.05 * np.sign(g), 0, 1)
  got = np.asarray(attacks.fgsm(linear.fn, linear.x, linear.y, eps=0.05))
  np.testing.assert_allclose(got, want, atol=1e-6)


def test_fgsm_l2_matches_closed_form(linear):
  x = np.asarray(linear.x)
  g = _ce_grad(linear, x)
  d = g / np.linalg.norm(g.reshape(len(x), -1), axis=1)[:, None, None, None]
  want = np.clip(x + 0.5 * d, 0, 1)
  got = np.asarray(attacks.fgsm(linear.fn, linear.x, linear.y, eps=0.5, norm="l2"))
  np.testing.assert_allclose(got, want, atol=1e-5)


def test_pgd_beats_clean_and_more_steps_are_never_weaker(linear):
  key = jax.random.key(3)
  clean = _stats(linear, linear.x)
  short = _stats(linear, _pgd(linear, key, 3))
  long = _stats(linear, _pgd(linear, key, 12))
  assert not clean[1].any()  # labels are the clean predictions
  assert np.all(long[0] > clean[0]) and 0.2 < long[1].mean() < 1.0
  assert _at_least_as_strong(long, short)
  assert long[1].sum() > short[1].sum() or long[0].mean() > short[0].mean()


def test_restarts_are_never_weaker_than_one(linear):
  key = jax.random.key(3)
  one = _stats(linear, _pgd(linear, key, 12))
  three = _stats(linear, _pgd(linear, key, 12, 3))
  assert _at_least_as_strong(three, one)


def test_targeted_pgd_reaches_target(linear):
  y_t = (linear.y + 2) % 5
  x_adv = attacks.pgd(linear.fn, linear.x, linear.y, key=jax.random.key(0), eps=0.2,
                      step_size=0.05, steps=10, targeted=True, y_target=y_t)
  np.testing.assert_array_equal(jnp.argmax(linear.fn(x_adv), -1), y_t)


def test_pgd_vmaps_over_keys_and_fgsm_rs_is_random(linear):
  keys = jax.random.split(jax.random.key(0), 2)
  run = jax.vmap(lambda k: attacks.pgd(linear.fn, linear.x, linear.y, key=k, eps=EPS,
                                       step_size=EPS / 4, steps=2, norm="l2"))
  out = np.asarray(run(keys))
  assert out.shape == (2,) + linear.x.shape and not np.array_equal(out[0], out[1])
  rs = [attacks.fgsm(linear.fn, linear.x, linear.y, eps=EPS, key=k) for k in keys]
  assert not np.array_equal(rs[0], rs[1])

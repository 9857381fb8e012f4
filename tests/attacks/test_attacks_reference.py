"""Attacks against independent expectations: closed-form worst cases of tiny models, a numpy
re-implementation of the APGD step-size trace, and one-pixel landscapes with a known best point.

Each test names the broken implementation it catches (see benchmarks/mutation_check.py).
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvjax import attacks


def _pixel_model(g):
  """Two-class logits [0, g(x)] of one-pixel images (N, 1, 1, 1): CE at label 0 grows with g."""
  return lambda z: jnp.stack([jnp.zeros(z.shape[0]), g(z.reshape(-1))], axis=-1)


def test_pgd_returns_the_best_iterate_not_the_last():
  """Catches: PGD returning its last iterate. Landscape g = -100 (x - 0.75)^2 on the ball
  [0.2, 0.8] around 0.5; a step of 1 bounces between the two ends, 0.8 (the best, g = -0.25)
  and 0.2 (g = -30.25); the best-iterate result must be at 0.8 or closer to the peak."""
  g = lambda v: -100.0 * (v - 0.75) ** 2
  f = _pixel_model(g)
  x = jnp.full((16, 1, 1, 1), 0.5)
  y = jnp.zeros(16, jnp.int32)
  kw = dict(key=jax.random.key(0), eps=0.3, step_size=1.0, steps=2)
  best = np.asarray(attacks.pgd(f, x, y, **kw)).ravel()
  assert np.all(g(best) >= g(0.8) - 1e-4)
  last = np.asarray(attacks.pgd(f, x, y, select="last", **kw)).ravel()
  # Start below 0.75 (11 in 12): 0.8, then 0.2; above: 0.2, then 0.8.
  assert np.all(np.isclose(last, 0.2, atol=1e-5) | np.isclose(last, 0.8, atol=1e-5))
  assert np.mean(np.isclose(last, 0.2, atol=1e-5)) >= 0.5


def test_pgd_keeps_the_per_example_best_restart(linear):
  """Catches: PGD keeping restart 0. With a negligible step the result is the random start, and
  the best of 8 uniform starts has a strictly higher loss than the first for almost every
  example (P(first start is the best) = 1/8)."""
  kw = dict(key=jax.random.key(3), eps=0.1, step_size=1e-6, steps=1)
  ce = lambda z: np.asarray(attacks.ce(linear.fn(z), linear.y))
  one = ce(attacks.pgd(linear.fn, linear.x, linear.y, restarts=1, **kw))
  eight = ce(attacks.pgd(linear.fn, linear.x, linear.y, restarts=8, **kw))
  assert np.all(eight >= one - 1e-6)
  assert np.mean(eight > one + 1e-4) >= 0.6


def _checkpoints(steps):
  """Croce & Hein's checkpoints, written out independently: p0 = 0, p1 = 0.22,
  p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06); w_j = ceil(p_j * steps)."""
  p = [0.0, 0.22]
  while p[-1] + max(p[-1] - p[-2] - 0.03, 0.06) <= 1.0:
    p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
  return sorted({math.ceil(round(q * steps, 6)) for q in p})


def _apgd_reference(x, x0, eps, steps, f, df):
  """Algorithm 1 of Croce & Hein (2020) for one scalar pixel, in float64: the visited points and
  how many step-size reductions moved back to an earlier, better point."""
  clip = lambda v: min(max(v, x - eps, 0.0), x + eps, 1.0)
  ws = _checkpoints(steps)
  eta, x_prev, xk = 2 * eps, x0, x0
  fk, gk = f(x0), df(x0)
  x_max, f_max, g_max = x0, fk, gk
  f_max_last, reduced_last, n_up, prev_w = fk, True, 0, 0
  trace, moved = [x0], 0
  for k in range(steps):
    a = 1.0 if k == 0 else 0.75
    z = clip(xk + eta * np.sign(gk))
    xn = clip(xk + a * (z - xk) + (1 - a) * (xk - x_prev))
    fn, gn = f(xn), df(xn)
    trace.append(xn)
    n_up += fn > fk
    if fn > f_max:
      x_max, f_max, g_max = xn, fn, gn
    x_prev, xk, fk, gk = xk, xn, fn, gn
    if k + 1 in ws[1:]:
      reduce = n_up < 0.75 * (k + 1 - prev_w) or (not reduced_last and f_max <= f_max_last)
      if reduce:
        moved += x_max != xk
        eta, xk, fk, gk = eta / 2, x_max, f_max, g_max
      reduced_last, f_max_last, n_up, prev_w = reduce, f_max, 0, k + 1
  return np.array(trace), moved


def test_apgd_step_size_trace_matches_the_paper():
  """Catches: momentum 1 instead of 0.75, initial step eps instead of 2 eps, no restart from the
  best point, wrong checkpoints. Every point APGD evaluates is recorded and compared with a
  float64 re-implementation of Algorithm 1 on g = sin(12 x), started at APGD's own random start."""
  seen = []
  record = lambda z: seen.append(np.asarray(z).ravel().copy())

  def g(v):
    jax.debug.callback(record, v, ordered=True)
    return jnp.sin(12.0 * v)

  n, eps, steps = 6, 0.25, 20
  x = jnp.asarray(np.linspace(0.3, 0.7, n).reshape(n, 1, 1, 1), jnp.float32)
  attacks.apgd(_pixel_model(g), x, jnp.zeros(n, jnp.int32), key=jax.random.key(2), eps=eps,
               steps=steps)
  jax.effects_barrier()
  got = np.stack(seen[-(steps + 1):], axis=1)  # (n, steps + 1), skipping eval_shape traces
  f = lambda v: np.log1p(np.exp(np.sin(12.0 * v)))  # CE at label 0 = softplus(g)
  df = lambda v: 12.0 * np.cos(12.0 * v)  # same sign as f's derivative
  restarted = 0
  for i in range(n):
    want, moved = _apgd_reference(float(x[i, 0, 0, 0]), float(got[i, 0]), eps, steps, f, df)
    np.testing.assert_allclose(got[i], want, atol=1e-4, err_msg=f"example {i}")
    restarted += moved
  assert restarted >= 2  # the restarts from the best point are exercised


def test_autoattack_needs_its_targeted_stages():
  """Catches: APGD-T stages dropped from autoattack. Logits scaled by 1e4 saturate the softmax, so
  the CE gradient is exactly 0 and APGD-CE cannot move; targeted DLR is scale-invariant. On a
  linear model the linf worst case is known in closed form: every example whose worst-case
  margin is clearly negative must be fooled, none with a positive one."""
  rng = np.random.default_rng(5)
  w = rng.normal(size=(16, 4)).astype(np.float32)
  x = jnp.asarray(rng.uniform(0.2, 0.8, size=(24, 4, 4, 1)), jnp.float32)
  fn = lambda z: 1e4 * ((z.reshape(z.shape[0], -1) - 0.5) @ w)
  y = jnp.argmax(fn(x), -1).astype(jnp.int32)
  eps = 0.02
  flat, yy = np.asarray(x).reshape(24, -1), np.asarray(y)
  margins = []
  for i in range(24):  # min over x' in the ball of (w_y - w_j) . (x' - 0.5), per target j
    c = w[:, yy[i]][:, None] - w  # (16, 4)
    worst = np.clip(flat[i][:, None] - eps * np.sign(c), 0, 1)
    m = np.sum(c * (worst - 0.5), axis=0)
    m[yy[i]] = np.inf
    margins.append(m.min())
  margins = np.array(margins)
  foolable, safe = margins < -0.05, margins > 0.05
  assert foolable.sum() >= 5 and safe.sum() >= 3
  key = jax.random.key(0)
  x_aa = attacks.autoattack(fn, x, y, key=key, eps=eps, steps=10, n_target_classes=3)
  fooled = np.asarray(jnp.argmax(fn(x_aa), -1) != y)
  assert np.all(fooled[foolable]) and not np.any(fooled[safe])
  x_ce = attacks.apgd(fn, x, y, key=key, eps=eps, steps=10)  # the CE stage alone fails
  assert np.mean(np.asarray(jnp.argmax(fn(x_ce), -1) != y)[foolable]) < 0.5


def test_fgsm_rs_step_is_one_and_a_quarter_eps_by_default():
  """Catches: Fast-AT's default step eps instead of 1.25 eps. A two-class linear model has a
  constant gradient sign s, so x_adv - x = clip(u + alpha s, -eps, eps) with u ~ U[-eps, eps]:
  with alpha = 1.25 eps every pixel moves at least 0.25 eps along s (alpha = eps: 1/8 do not)."""
  rng = np.random.default_rng(0)
  w = rng.normal(size=(64, 2)).astype(np.float32)
  fn = lambda z: z.reshape(z.shape[0], -1) @ w
  x = jnp.asarray(rng.uniform(0.3, 0.7, size=(8, 8, 8, 1)), jnp.float32)
  y = jnp.zeros(8, jnp.int32)
  eps = 0.1
  s = np.sign(w[:, 1] - w[:, 0])  # CE at label 0 rises along w_1 - w_0
  d = np.asarray(attacks.create("fgsm_rs")(fn, x, y, jax.random.key(1), eps) - x).reshape(8, -1)
  assert np.min(d * s) >= 0.25 * eps - 1e-6
  assert np.max(np.abs(d)) <= eps + 1e-6


def test_kl_is_clean_to_adversarial_by_hand():
  """Catches: the TRADES KL direction swapped. KL(p || q) = sum p log(p / q), p the clean."""
  p, q = np.array([0.7, 0.2, 0.1]), np.array([0.2, 0.5, 0.3])
  want = np.sum(p * np.log(p / q))  # 0.5822, while KL(q || p) = 0.4608
  got = attacks.kl(jnp.log(jnp.asarray(q))[None], jnp.log(jnp.asarray(p))[None])
  np.testing.assert_allclose(float(got[0]), want, rtol=1e-5)


@pytest.mark.parametrize("eps, message", [
    (float("nan"), "eps must be finite"), ("0.1", "eps must be a number"),
    (-0.1, "eps must be >= 0"), (np.array([0.1, np.inf]), "eps must be finite"),
    (np.ones(3), r"eps must be a number or per-example values of shape \(2,\)")])
def test_bad_eps_names_eps(eps, message):
  x, y = jnp.full((2, 1, 1, 1), 0.5), jnp.zeros(2, jnp.int32)
  with pytest.raises(ValueError, match=message):
    attacks.fgsm(_pixel_model(lambda v: v), x, y, eps=eps)


def test_per_example_eps():
  """A per-example eps (N,) bounds each example by its own radius, also under jit."""
  f = _pixel_model(lambda v: v)  # CE at label 0 rises with x: the attack moves up by eps
  x, y = jnp.full((3, 1, 1, 1), 0.5), jnp.zeros(3, jnp.int32)
  eps = jnp.asarray([0.0, 0.1, 0.2])
  np.testing.assert_allclose(np.asarray(attacks.fgsm(f, x, y, eps=eps)).ravel(), [0.5, 0.6, 0.7],
                             atol=1e-6)
  x_pgd = jax.jit(lambda e: attacks.pgd(f, x, y, key=jax.random.key(0), eps=e, step_size=0.5,
                                        steps=2))(eps)
  np.testing.assert_allclose(np.asarray(x_pgd).ravel(), [0.5, 0.6, 0.7], atol=1e-6)

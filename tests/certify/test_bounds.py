"""Soundness and tightness of the IBP and CROWN bounds, against sampling, PGD and an exact MILP."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvjax import attacks, certify, models
from rvjax.certify import exact, graph
from rvjax.models import layers

TOL = 1e-4


class Net(nn.Module):
  """Conv -> BN -> relu -> avg pool -> conv -> relu -> max pool -> flatten -> dense.

  The max pool is flax's (reduce_window) or, with `reshape_pool`, `layers.max_pool`'s reshape +
  reduce_max; the variables are the same."""
  reshape_pool: bool = False

  @nn.compact
  def __call__(self, x, *, train):
    x = nn.Conv(6, (3, 3))(x * 2.0 - 1.0)
    x = nn.relu(nn.BatchNorm(use_running_average=not train)(x))
    x = nn.avg_pool(x, (2, 2), (2, 2))
    x = nn.relu(nn.Conv(8, (3, 3))(x))
    x = (layers.max_pool if self.reshape_pool else nn.max_pool)(x, (2, 2), (2, 2))
    return nn.Dense(4)(x.reshape(x.shape[0], -1))


class MLP(nn.Module):
  """Flatten -> dense 10 -> relu -> dense 10 -> relu -> dense 3 (small enough for the MILP)."""
  act: str = "relu"

  @nn.compact
  def __call__(self, x, *, train):
    x = x.reshape(x.shape[0], -1)
    for width in (10, 10):
      x = getattr(nn, self.act)(nn.Dense(width)(x))
    return nn.Dense(3)(x)


def _net_variables(key):
  """Net's variables with random, non-trivial batch-norm running statistics."""
  k_init, k_mean, k_var = jax.random.split(key, 3)
  variables = Net().init(k_init, jnp.zeros((1, 8, 8, 1)), train=False)
  stats = variables["batch_stats"]["BatchNorm_0"]
  stats = {"mean": 0.3 * jax.random.normal(k_mean, stats["mean"].shape),
           "var": jax.random.uniform(k_var, stats["var"].shape, minval=0.5, maxval=2.0)}
  return {**variables, "batch_stats": {"BatchNorm_0": stats}}


def all_bounds(apply_fn):
  """One jitted function (eps traced) giving IBP, CROWN and the three margin lower bounds."""
  def fn(variables, x, y, eps):
    return {"ibp": certify.interval_bounds(apply_fn, variables, x, eps),
            "crown": certify.linear_bounds(apply_fn, variables, x, eps),
            **{f"margin_{m}": certify.margin_lower_bounds(apply_fn, variables, x, y, eps,
                                                          method=m)
               for m in certify.bounds.METHODS}}
  return jax.jit(fn)


@pytest.fixture(scope="module")
def net():
  variables = _net_variables(jax.random.key(0))
  x = jax.random.uniform(jax.random.key(1), (4, 8, 8, 1))
  y = jnp.argmax(Net().apply(variables, x, train=False), -1)
  return Net().apply, variables, x, y, all_bounds(Net().apply)


def _ball_points(key, x, eps, num):
  """num random points of the ball ∩ [0, 1] per example, half at corners: (num, N, ...)."""
  k_u, k_s = jax.random.split(key)
  u = jax.random.uniform(k_u, (num,) + x.shape, minval=-eps, maxval=eps)
  corners = eps * jnp.sign(jax.random.normal(k_s, (num,) + x.shape))
  delta = jnp.where(jnp.arange(num)[:, None, None, None, None] % 2 == 0, u, corners)
  return jnp.clip(x + delta, 0.0, 1.0)


def test_bounds_contain_random_and_pgd_points(net):
  """Catches a wrong radius (W instead of |W|), a wrong relu/pool relaxation, BN in train mode."""
  apply_fn, variables, x, y, bounds_fn = net
  eps = 0.05
  logits_fn = lambda z: apply_fn(variables, z, train=False)
  points = _ball_points(jax.random.key(2), x, eps, 64)
  logits = jax.vmap(logits_fn)(points)
  x_adv = attacks.pgd(logits_fn, x, y, key=jax.random.key(3), eps=eps, step_size=eps / 4,
                      steps=10, loss="margin")
  logits = jnp.concatenate([logits, logits_fn(x_adv)[None]])
  b = bounds_fn(variables, x, y, eps)
  for lower, upper in (b["ibp"], b["crown"]):
    assert lower.shape == upper.shape == (4, 4)
    assert bool(jnp.all(logits >= lower - TOL)) and bool(jnp.all(logits <= upper + TOL))
  # The PGD point is on the attacked side: its margin is at or below every random point's.
  spec = certify.margin_spec(y, 4)
  margins = jnp.einsum("nsk,mnk->mns", spec, jax.vmap(logits_fn)(points))
  adv_margin = jnp.einsum("nsk,nk->ns", spec, logits_fn(x_adv))
  assert bool(jnp.all(jnp.min(adv_margin, -1) <= jnp.min(margins, (0, 2)) + TOL))
  for method in certify.bounds.METHODS:
    lower = b[f"margin_{method}"]
    assert bool(jnp.all(adv_margin >= lower - TOL)) and bool(jnp.all(margins >= lower - TOL))


def test_reshape_max_pool_is_bounded_like_reduce_window(net):
  """`layers.max_pool` traces to reshape + reduce_max (a max_pool op), gets exactly the IBP bounds
  of flax's reduce_window pool, and sound CROWN bounds within IBP's (its lower line splits tied
  lower bounds, a convex combination of the window's entries). Catches the graph rejecting or
  mis-bounding a reduce_max over the window axes."""
  _, variables, x, _, _ = net
  eps = 0.05
  fast = Net(reshape_pool=True).apply
  kinds = {(op.kind, op.primitive.name) for op in graph.trace(fast, variables, x).ops}
  assert ("max_pool", "reduce_max") in kinds and ("max_pool", "reduce_window_max") not in kinds
  ibp = certify.interval_bounds(fast, variables, x, eps)
  for ours, ref in zip(ibp, certify.interval_bounds(Net().apply, variables, x, eps)):
    np.testing.assert_allclose(ours, ref, atol=1e-5)
  lower, upper = certify.linear_bounds(fast, variables, x, eps)
  logits = jax.vmap(lambda z: fast(variables, z, train=False))(
      _ball_points(jax.random.key(2), x, eps, 64))
  assert bool(jnp.all(logits >= lower - TOL)) and bool(jnp.all(logits <= upper + TOL))
  assert bool(jnp.all(upper - lower <= ibp[1] - ibp[0] + 1e-6))
  assert float(jnp.mean(upper - lower)) < float(jnp.mean(ibp[1] - ibp[0]))


def test_eps_zero_gives_the_logits(net):
  """Catches a centre mistake (e.g. ignoring exact offsets such as biases or BN shifts)."""
  apply_fn, variables, x, y, bounds_fn = net
  logits = apply_fn(variables, x, train=False)
  b = bounds_fn(variables, x, y, 0.0)
  for lower, upper in (b["ibp"], b["crown"]):
    np.testing.assert_allclose(lower, logits, atol=1e-4)
    np.testing.assert_allclose(upper, logits, atol=1e-4)


def test_crown_tighter_than_ibp(net):
  """Never looser entrywise, and clearly tighter on average (catches CROWN collapsing to IBP)."""
  apply_fn, variables, x, y, bounds_fn = net
  b = bounds_fn(variables, x, y, 0.05)
  (ibp_lo, ibp_hi), (lo, hi) = b["ibp"], b["crown"]
  assert bool(jnp.all(hi - lo <= ibp_hi - ibp_lo + 1e-6))
  assert float(jnp.mean(hi - lo)) < 0.7 * float(jnp.mean(ibp_hi - ibp_lo))
  assert bool(jnp.all(b["margin_crown"] >= b["margin_ibp"] - 1e-6))
  # Margins bounded directly beat differences of logit bounds.
  others = certify.margin_spec(y, 4) < 0
  naive = (jnp.take_along_axis(ibp_lo, y[:, None], 1)
           - jnp.where(others, ibp_hi[:, None, :], -jnp.inf).max(-1))
  assert bool(jnp.all(b["margin_ibp"] >= naive - 1e-6))
  assert float(jnp.mean(b["margin_ibp"] - naive)) > 0


def test_linear_model_margin_is_exact():
  """For f(x) = W x + b away from the [0, 1] edges the elided IBP margin bound is exact:
  m_j = (w_y - w_j) . x + b_y - b_j - eps |w_y - w_j|_1. Catches non-elided IBP."""
  model = nn.Dense(3)
  apply_fn = lambda v, x, train: model.apply(v, x.reshape(x.shape[0], -1))
  x = jax.random.uniform(jax.random.key(0), (2, 2, 2, 1), minval=0.3, maxval=0.7)
  variables = model.init(jax.random.key(1), x.reshape(2, -1))
  w, b = np.asarray(variables["params"]["kernel"]), np.asarray(variables["params"]["bias"])
  y, eps = jnp.array([2, 0]), 0.1
  flat = np.asarray(x).reshape(2, -1)
  for n in range(2):
    expected = [(w[:, y[n]] - w[:, j]) @ flat[n] + b[y[n]] - b[j]
                - eps * np.abs(w[:, y[n]] - w[:, j]).sum() for j in range(3) if j != y[n]]
    for method in certify.bounds.METHODS:
      got = certify.margin_lower_bounds(apply_fn, variables, x, y, eps, method=method)[n]
      np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
  certified = certify.certified(apply_fn, variables, x, y, eps)
  assert certified.tolist() == [bool(min(m) > 0) for m in [
      certify.margin_lower_bounds(apply_fn, variables, x, y, eps)[n] for n in range(2)]]


def test_exact_milp_between_pgd_and_bounds():
  """PGD's margin >= the exact MILP minimum >= CROWN >= IBP, and >= CROWN-IBP (catches unsound
  relaxations, e.g. a relu upper line below relu, and a MILP that is not a minimum)."""
  model = MLP()
  apply_fn = model.apply
  x = jax.random.uniform(jax.random.key(4), (3, 3, 3, 1))
  variables = model.init(jax.random.key(5), x, train=False)
  params = variables["params"]
  layers = [(params[f"Dense_{i}"]["kernel"], params[f"Dense_{i}"]["bias"]) for i in range(3)]
  logits_fn = lambda z: apply_fn(variables, z, train=False)
  y = jnp.argmax(logits_fn(x), -1)
  eps = 0.08
  spec = certify.margin_spec(y, 3)
  b = all_bounds(apply_fn)(variables, x, y, eps)
  bound = {k: b[f"margin_{k}"] for k in certify.bounds.METHODS}
  lo, hi = jnp.clip(x - eps, 0, 1), jnp.clip(x + eps, 0, 1)
  # PGD on the margins c . f(x), both specs in one batch: CE of class 0 under logits (c . f, 0)
  # falls as the margin does.
  c = jnp.concatenate([spec[:, 0], spec[:, 1]])
  margin_fn = lambda z: jnp.stack([jnp.sum(c * logits_fn(z), -1), jnp.zeros(z.shape[0])], -1)
  x2 = jnp.concatenate([x, x])
  x_adv = attacks.pgd(margin_fn, x2, jnp.zeros(6, jnp.int32), key=jax.random.key(0), eps=eps,
                      step_size=eps / 4, steps=10, restarts=2)
  pgd_margin = np.asarray(margin_fn(x_adv)[:, 0]).reshape(2, 3)
  gaps = []
  for s in range(2):
    for n in range(3):
      worst = exact.min_linear(layers, lo[n], hi[n], spec[n, s])
      assert pgd_margin[s, n] >= worst - TOL
      assert worst >= float(bound["crown"][n, s]) - TOL
      assert worst >= float(bound["crown_ibp"][n, s]) - TOL  # not intersected with IBP
      assert float(bound["crown"][n, s]) >= float(bound["ibp"][n, s]) - 1e-6
      gaps.append(float(bound["ibp"][n, s]) - worst)
  assert min(gaps) < -1e-3  # the relaxation is not exact here, so the checks above have teeth


def test_certified_accuracy_counts_positive_margins():
  model = MLP()
  x = jax.random.uniform(jax.random.key(4), (3, 3, 3, 1))
  variables = model.init(jax.random.key(5), x, train=False)
  y = jnp.argmax(model.apply(variables, x, train=False), -1)
  assert float(certify.certified_accuracy(model.apply, variables, x, y, 0.0)) == 1.0
  assert float(certify.certified_accuracy(model.apply, variables, x, y, 1.0, method="ibp")) == 0
  spec = certify.margin_spec(jnp.array([0, 2]), 3)
  np.testing.assert_array_equal(spec[1], [[-1, 0, 1], [0, -1, 1]])


def test_bad_input():
  x = jnp.full((1, 3, 3, 1), 0.5)
  variables = MLP(act="tanh").init(jax.random.key(0), x, train=False)
  with pytest.raises(ValueError, match="'tanh'.*layer 'MLP'"):
    certify.interval_bounds(MLP(act="tanh").apply, variables, x, 0.1)
  variables = MLP().init(jax.random.key(0), x, train=False)
  with pytest.raises(ValueError, match="eps must be >= 0"):
    certify.linear_bounds(MLP().apply, variables, x, -0.1)
  with pytest.raises(ValueError, match="method"):
    certify.margin_lower_bounds(MLP().apply, variables, x, jnp.zeros(1, jnp.int32), 0.1,
                                method="lp")


def test_zoo_models_are_supported():
  """The zoo's CNN (BN, max pool, global average pool) and the flat certified-training CNN."""
  x = jnp.full((2, 8, 8, 1), 0.5)
  for name in ("cnn_tiny", "ibp_tiny"):
    model = models.create(name)
    variables = model.init(jax.random.key(0), x, train=False)
    lower, upper = certify.interval_bounds(model.apply, variables, x, 0.01)
    logits = model.apply(variables, x, train=False)
    assert bool(jnp.all(lower <= logits + TOL)) and bool(jnp.all(logits <= upper + TOL))

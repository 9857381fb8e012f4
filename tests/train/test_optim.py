"""Optimizers and schedules from config; per-group learning rates without recompiling."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from rvjax.train import optim


def cfg(**kw):
  base = dict(name="sgd", lr=0.1, momentum=0.0, nesterov=False, b1=0.9, b2=0.999,
              weight_decay=0.0, grad_clip_norm=0.0, groups=(("head", "Dense"), ("backbone", ".*")))
  return ml_collections.ConfigDict({**base, **kw})


def sched(**kw):
  return ml_collections.ConfigDict({"name": "constant", "warmup_steps": 0, **kw})


PARAMS = {"Conv_0": {"kernel": jnp.ones((3, 3))}, "Dense_0": {"kernel": jnp.ones((3, 2))}}


def test_group_lr_changes_without_recompiling():
  tx = optim.make_optimizer(cfg(), sched(), 100)
  state = tx.init(PARAMS)
  grads = jax.tree.map(jnp.ones_like, PARAMS)
  update = jax.jit(tx.update)
  u, state = update(grads, state, PARAMS)
  np.testing.assert_allclose(u["Dense_0"]["kernel"], -0.1)
  state = optim.set_lr_scales(state, {"head": 0.5, "backbone": 0.0})
  u, state = update(grads, state, PARAMS)
  np.testing.assert_allclose(u["Dense_0"]["kernel"], -0.05)
  np.testing.assert_allclose(u["Conv_0"]["kernel"], 0.0)
  assert update._cache_size() == 1
  assert {k: float(v) for k, v in optim.learning_rates(state).items()} == pytest.approx(
      {"lr/head": 0.05, "lr/backbone": 0.0})
  with pytest.raises(ValueError, match="Unknown optimizer groups"):
    optim.set_lr_scales(state, {"stem": 1.0})


def test_unmatched_parameter_is_an_error():
  tx = optim.make_optimizer(cfg(groups=(("head", "Dense"),)), sched(), 10)
  with pytest.raises(ValueError, match="Conv_0/kernel.*matches no optimizer group"):
    tx.init(PARAMS)


@pytest.mark.parametrize("name", ["constant", "cosine", "piecewise", "onecycle"])
def test_schedules(name):
  s = optim.make_schedule(sched(name=name, warmup_steps=0 if name == "onecycle" else 10,
                                boundaries=(0.5,), factors=(0.1,)), 1.0, 100)
  values = np.array([s(i) for i in range(100)])
  assert values.max() == pytest.approx(1.0, abs=0.03) and values.min() >= 0
  if name == "cosine":
    assert values[10] == pytest.approx(1.0) and values[-1] < 0.01 and values[5] == 0.5
  if name == "piecewise":
    assert values[40] == 1.0 and values[60] == pytest.approx(0.1)
  if name == "onecycle":
    assert np.argmax(values) == 40 and values[0] == 0.0


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_matches_optax(name):
  tx = optim.make_optimizer(cfg(name=name, weight_decay=0.0), sched(), 10)
  ref = optax.adam(0.1)
  grads = jax.tree.map(lambda p: p * 0.3, PARAMS)
  u, _ = tx.update(grads, tx.init(PARAMS), PARAMS)
  r, _ = ref.update(grads, ref.init(PARAMS), PARAMS)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), u, r)


def test_bad_optimizer_values():
  with pytest.raises(ValueError, match="optimizer.lr must be > 0"):
    optim.make_optimizer(cfg(lr=-1.0), sched(), 10)
  with pytest.raises(ValueError, match="Unknown optimizer 'rmsprop'"):
    optim.make_optimizer(cfg(name="rmsprop"), sched(), 10)
  with pytest.raises(ValueError, match="warmup_steps"):
    optim.make_schedule(sched(name="cosine", warmup_steps=20), 0.1, 10)

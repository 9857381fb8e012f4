"""The Fast-AT catastrophic-overfitting guard, on a linear model with a faked collapse."""
import types

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from rvjax import data
from rvjax.train import hooks, state as state_lib


@pytest.fixture(scope="module")
def setup():
  """A least-squares linear digits classifier ("good") and a constant one ("collapsed")."""
  train, val = data.load("digits", "train"), data.load("digits", "val")
  feats = np.c_[train.images.reshape(len(train), -1), np.ones(len(train))]
  coef = np.linalg.lstsq(feats, np.eye(10)[train.labels] * 10, rcond=None)[0].astype(np.float32)
  good = {"w": jnp.asarray(coef[:-1]), "b": jnp.asarray(coef[-1])}
  collapsed = {"w": jnp.zeros_like(good["w"]), "b": jnp.arange(10.0)}  # always predicts 9
  make = lambda params, step: state_lib.TrainState(
      step=jnp.int32(step), params=params, model_state={},
      opt_state={"momentum": jax.tree.map(lambda p: p + step, params)})
  config = ml_collections.ConfigDict({"objective": {"name": "fast_at",
                                                    "kwargs": {"eps": 0.5, "norm": "linf"}}})
  predict = jax.jit(lambda s, x: x.reshape(x.shape[0], -1) @ s.params["w"] + s.params["b"])
  ctx = types.SimpleNamespace(predict_fn=predict, config=config, val_ds=val)
  return types.SimpleNamespace(good=make(good, 10), collapsed=make(collapsed, 20), ctx=ctx)


def guard(**kw):
  return hooks.create("pgd_guard", every_steps=10, steps=3, num_examples=64, **{"eps": 0.02, **kw})


def test_eps_is_explicit_not_read_from_the_config(setup):
  with pytest.raises(ValueError, match="pgd_guard needs eps"):
    hooks.create("pgd_guard", every_steps=10)
  # The config's objective says eps 0.5 (which would fool every example); the guard uses its own.
  assert guard()(10, setup.good, setup.ctx).metrics["pgd_accuracy"] > 0.4


def test_rolls_back_and_stops_on_a_collapse(setup):
  g = guard()
  first = g(10, setup.good, setup.ctx)
  assert not first.stop and first.metrics["collapsed"] == 0 and first.state is setup.good
  assert first.metrics["pgd_accuracy"] > 0.4  # eps 0.02
  out = g(20, setup.collapsed, setup.ctx)
  assert out.stop and out.metrics["collapsed"] == 1 and out.metrics["rolled_back"] == 1
  assert out.metrics["pgd_accuracy"] < 0.2
  assert out.metrics["best_pgd_accuracy"] == first.metrics["pgd_accuracy"]
  for got, want in zip(jax.tree.leaves((out.state.params, out.state.opt_state)),
                       jax.tree.leaves((setup.good.params, setup.good.opt_state))):
    np.testing.assert_array_equal(got, want)
  assert int(out.state.step) == 20  # the step counter keeps counting


@pytest.mark.parametrize("action, stop, rolled_back", [("rollback", False, 1), ("stop", True, 0)])
def test_actions(setup, action, stop, rolled_back):
  g = guard(action=action, eps=0.02)
  g(10, setup.good, setup.ctx)
  out = g(20, setup.collapsed, setup.ctx)
  assert out.stop == stop and out.metrics["rolled_back"] == rolled_back
  expected = setup.good if rolled_back else setup.collapsed
  np.testing.assert_array_equal(out.state.params["b"], expected.params["b"])


def test_small_drop_is_not_a_collapse(setup):
  g = guard(threshold=1.0)
  g(10, setup.good, setup.ctx)
  out = g(20, setup.collapsed, setup.ctx)
  assert not out.stop and out.metrics["collapsed"] == 0 and out.state is setup.collapsed


def test_bad_arguments():
  with pytest.raises(ValueError, match="Unknown pgd_guard action"):
    guard(action="panic")
  with pytest.raises(ValueError, match="threshold must be >= 0"):
    guard(threshold=-0.1)

"""train_for: the step under lax.scan, equal to the loop it replaces, vmapped over hyperparameters."""
import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from rvjax import objectives
from rvjax.train import inner, optim, state as state_lib, step as step_lib

STEPS, B = 3, 8


@pytest.fixture(scope="module", autouse=True)
def _fast(fast_compile):
  yield


@pytest.fixture(scope="module")
def run(tiny, sgd_config):
  tx = optim.make_optimizer(sgd_config(momentum=0.9), ml_collections.ConfigDict({"name": "constant"}),
                            100)
  state = state_lib.init_fn(tiny.model, tx, (B, 8, 8, 1))(jax.random.key(0))
  objective = objectives.create("erm", tiny.apply)
  images, labels = tiny.batch["image"], tiny.batch["label"]

  def sampler(key, i, noise):
    """B digits chosen by the key, plus uniform noise of amplitude `noise` (clipped)."""
    idx = jax.random.randint(key, (B,), 0, images.shape[0])
    x = jnp.clip(images[idx] + noise * jax.random.uniform(jax.random.fold_in(key, i), (B, 8, 8, 1)),
                 0, 1)
    return {"image": x, "label": labels[idx], "mask": jnp.ones(B)}

  run_for = functools.partial(inner.train_for, steps=STEPS, objective=objective, tx=tx)
  sampled = jax.jit(lambda s, key, hyper: run_for(s, sampler, key, hyper=hyper))
  stacked = jax.jit(lambda s, batches, key: run_for(s, batches, key))
  return dict(tx=tx, state=state, objective=objective, sampler=sampler, sampled=sampled,
              stacked=stacked)


def test_scanned_run_equals_the_step_loop(run):
  key = jax.random.key(3)
  data_key = jax.random.fold_in(key, 1)
  batches = [run["sampler"](jax.random.fold_in(data_key, i), i, 0.1) for i in range(STEPS)]
  step = jax.jit(functools.partial(step_lib.train_step, objective=run["objective"], tx=run["tx"]))
  state = run["state"]
  losses = []
  for b in batches:
    state, m = step(state, b, jax.random.fold_in(key, 0))
    losses.append(float(m["loss"]))
  stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *batches)
  for out, metrics in (run["sampled"](run["state"], key, {"lr_scale": {"all": 1.0}, "data": 0.1}),
                       run["stacked"](run["state"], stacked, key)):
    assert int(out.step) == STEPS and metrics["loss"].shape == (STEPS,)
    np.testing.assert_allclose(np.asarray(metrics["loss"]), losses, rtol=1e-5)
    jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6),
                 out.params, state.params)


def test_vmap_over_lr_multipliers_and_keys(run):
  scales = jnp.asarray([0.0, 1.0, 3.0])
  keys = jax.random.split(jax.random.key(5), 3)
  many = jax.jit(jax.vmap(lambda s, k: run["sampled"](
      run["state"], k, {"lr_scale": {"all": s}, "data": 0.1})))
  out, metrics = many(scales, keys)
  np.testing.assert_allclose(np.asarray(metrics["lr/all"][:, 0]), 0.1 * np.asarray(scales))
  # lr_scale 0: nothing moves (SGD without weight decay).
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(a[0], b), out.params, run["state"].params)
  for i in (1, 2):
    one, m = run["sampled"](run["state"], keys[i], {"lr_scale": {"all": scales[i]}, "data": 0.1})
    np.testing.assert_allclose(np.asarray(metrics["loss"][i]), np.asarray(m["loss"]), rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[i], b, rtol=1e-4, atol=1e-6),
                 out.params, one.params)
  assert not np.allclose(metrics["loss"][1], metrics["loss"][2])


def test_bad_arguments_are_clear_errors(run):
  with pytest.raises(ValueError, match="leading axis of 3"):
    run["stacked"](run["state"], {"image": jnp.zeros((2, B, 8, 8, 1))}, jax.random.key(0))
  with pytest.raises(ValueError, match="hyper"):
    run["sampled"](run["state"], jax.random.key(0), {"lr": 1.0})
  with pytest.raises(ValueError, match="groups"):
    run["sampled"](run["state"], jax.random.key(0), {"lr_scale": {"head": 1.0}, "data": 0.0})

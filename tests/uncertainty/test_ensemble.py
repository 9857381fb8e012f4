"""Deep ensembles: stacked init, pooled prediction, the member-mapped step, formulations."""
import functools

import jax
import ml_collections
import numpy as np
import pytest

from rvjax import models, objectives, sharding
from rvjax.train import optim, state as state_lib, step as step_lib
from rvjax.uncertainty import ensemble

K, B = 3, 8
FORMULATIONS = ("vmap", "unroll", "map")


@pytest.fixture(scope="module")
def setup():
  model = models.create("cnn_tiny", num_classes=10)
  opt = ml_collections.ConfigDict(dict(name="adam", lr=1e-2, momentum=0.9, nesterov=False, b1=0.9,
                                       b2=0.999, weight_decay=1e-4, grad_clip_norm=0.0,
                                       groups=(("all", ".*"),)))
  tx = optim.make_optimizer(opt, ml_collections.ConfigDict({"name": "constant"}), 100)
  init = state_lib.init_fn(model, tx, (B, 8, 8, 1))
  mesh = sharding.make_mesh()
  state = ensemble.create(init, jax.random.key(0), K, mesh)
  step = functools.partial(step_lib.train_step, objective=objectives.create("erm", model.apply),
                           tx=tx)
  rng = np.random.default_rng(0)
  batch = {"image": rng.random((K, B, 8, 8, 1), np.float32),
           "label": rng.integers(0, 10, (K, B)).astype(np.int32),
           "mask": np.ones((K, B), np.float32)}
  return model, init, mesh, state, step, batch


def member(tree, m):
  return jax.tree.map(lambda x: x[m], tree)


def test_stacked_state_has_member_axis_and_members_differ(setup):
  _, init, mesh, state, _, _ = setup
  leaves = jax.tree.leaves(state)
  assert leaves and all(x.shape[:1] == (K,) for x in leaves)
  assert state.temperature.shape == (K,) and np.all(np.asarray(state.temperature) == 1.0)
  kernels = np.asarray(state.params["conv0"]["kernel"])
  assert not np.allclose(kernels[0], kernels[1]) and not np.allclose(kernels[1], kernels[2])
  # Member m is exactly the single-model init from fold_in(key, m).
  one = jax.jit(init)(jax.random.fold_in(jax.random.key(0), 2))
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-6, atol=1e-7),
               member(state, 2), one)
  abstract = ensemble.abstract_state(init, K, mesh)
  assert jax.tree.map(lambda a: a.shape, abstract) == jax.tree.map(lambda a: a.shape, state)


@pytest.mark.parametrize("formulation", FORMULATIONS)
def test_pooled_prediction_is_mean_of_member_probabilities(setup, formulation):
  model, _, _, state, _, batch = setup
  images = batch["image"][0]
  logits_fn = functools.partial(step_lib.eval_logits, model.apply)
  pooled = jax.jit(ensemble.pooled(logits_fn, formulation))(state, images)
  member_logits = np.stack([np.asarray(logits_fn(member(state, m), images), np.float64)
                            for m in range(K)])
  probs = np.exp(member_logits - member_logits.max(-1, keepdims=True))
  probs /= probs.sum(-1, keepdims=True)
  np.testing.assert_allclose(np.exp(pooled), probs.mean(0), rtol=1e-5, atol=1e-6)
  # Not the softmax of averaged logits.
  avg = np.exp(member_logits.mean(0))
  assert not np.allclose(np.exp(pooled), avg / avg.sum(-1, keepdims=True), atol=1e-6)


@pytest.fixture(scope="module")
def independent_steps(setup):
  """K single-member steps, each with its own state, batch and key."""
  _, _, _, state, step, batch = setup
  keys = ensemble.member_keys(jax.random.key(1), K)
  single = jax.jit(step)
  outs = [single(member(state, m), member(batch, m), keys[m]) for m in range(K)]
  return keys, outs


@pytest.mark.parametrize("formulation", FORMULATIONS)
def test_member_step_equals_independent_steps(setup, independent_steps, formulation):
  _, _, mesh, state, step, batch = setup
  keys, outs = independent_steps
  stacked = jax.tree.map(np.array, state)  # The step donates its input.
  new_state, metrics = ensemble.compile_step(step, formulation, mesh)(stacked, batch, keys)
  for m, (want_state, want_metrics) in enumerate(outs):
    jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=2e-5, atol=1e-6),
                 member(new_state, m), want_state)
    np.testing.assert_allclose(metrics["loss_members"][m], want_metrics["loss"], rtol=1e-5)
  losses = [float(o[1]["loss"]) for o in outs]
  np.testing.assert_allclose(metrics["loss"], np.mean(losses), rtol=1e-5)
  assert metrics["finite"] == 1.0 and int(new_state.step[0]) == 1


def test_over_members_broadcasts_unmapped_args():
  fn = lambda a, b: a * b["x"]
  a, b = np.arange(3.0), {"x": np.float32(2.0)}
  for formulation in FORMULATIONS:
    np.testing.assert_array_equal(ensemble.over_members(fn, formulation, (0, None))(a, b), 2 * a)


def test_formulation_choice():
  assert ensemble.resolve("auto", backend="cpu") == "unroll"
  assert ensemble.resolve("auto", backend="gpu") == "vmap"
  assert ensemble.resolve("auto", backend="tpu") == "vmap"
  assert ensemble.resolve("map") == "map"
  with pytest.raises(ValueError, match="Unknown ensemble.formulation 'fold'"):
    ensemble.resolve("fold")
  assert ensemble.mesh_members(5) == 1  # One CPU device.
  with pytest.raises(ValueError, match="ensemble.size must be > 0"):
    ensemble.mesh_members(0)
  assert ensemble.member_seeds(3, 3) == (3, 4, 5)

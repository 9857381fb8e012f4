"""The pure train step: determinism, bad batches rejected at trace time."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from rvjax import models, objectives, sharding
from rvjax.train import optim, replicas, state as state_lib, step as step_lib


@pytest.fixture(scope="module")
def setup(sgd_config):
  model = models.create("cnn_tiny")
  opt = sgd_config(momentum=0.9)
  tx = optim.make_optimizer(opt, ml_collections.ConfigDict({"name": "constant"}), 10)
  mesh = sharding.make_mesh()
  state = replicas.Single().create_state(state_lib.init_fn(model, tx, (4, 8, 8, 1)),
                                         jax.random.key(0), mesh)
  step = jax.jit(lambda s, b, k: step_lib.train_step(
      s, b, k, objective=objectives.create("erm", model.apply), tx=tx))
  rng = np.random.default_rng(0)
  batch = {"image": jnp.asarray(rng.random((4, 8, 8, 1), np.float32)),
           "label": jnp.asarray([0, 1, 2, 3], jnp.int32), "mask": jnp.ones(4)}
  return state, step, batch


def test_step_is_deterministic_and_counts(setup):
  state, step, batch = setup
  s1, m1 = step(state, batch, jax.random.key(1))
  s2, m2 = step(state, batch, jax.random.key(1))
  assert int(s1.step) == 1 and float(m1["loss"]) == float(m2["loss"])
  jax.tree.map(np.testing.assert_array_equal, s1.params, s2.params)
  assert float(m1["finite"]) == 1.0 and float(m1["update_norm"]) > 0
  # ERM loss at init equals the cross-entropy of the initial logits.
  logits = state_lib_predict(state, batch["image"])
  ce = -np.mean(jax.nn.log_softmax(logits)[np.arange(4), np.asarray(batch["label"])])
  np.testing.assert_allclose(float(m1["loss"]), ce, rtol=1e-5)


def state_lib_predict(state, images):
  model = models.create("cnn_tiny")
  variables = {"params": state.params, **state.model_state}
  logits, _ = model.apply(variables, images, train=True, mutable=["batch_stats"])
  return np.asarray(logits)


@pytest.mark.parametrize("change, match", [
    (lambda b: {**b, "image": b["image"][..., 0]}, "rank-4"),
    (lambda b: {**b, "image": (b["image"] * 255).astype(jnp.uint8)}, "float"),
    (lambda b: {**b, "label": b["label"][:3]}, "label"),
    (lambda b: {**b, "label": b["label"].astype(jnp.float32)}, "integers"),
    (lambda b: {k: v for k, v in b.items() if k != "mask"}, "missing"),
])
def test_bad_batch_is_a_clear_error(setup, change, match):
  state, step, batch = setup
  with pytest.raises(ValueError, match=match):
    step(state, change(batch), jax.random.key(1))


def test_out_of_range_values_are_caught_when_concrete(setup):
  # Under jit only shapes and dtypes exist at trace time; value ranges are checked wherever the
  # arrays are concrete: at load, and in an eager (un-jitted) step like this one.
  state, _, batch = setup
  model = models.create("cnn_tiny")
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    step_lib.train_step(state, {**batch, "image": batch["image"] * 2 + 1}, jax.random.key(1),
                        objective=objectives.create("erm", model.apply), tx=None)

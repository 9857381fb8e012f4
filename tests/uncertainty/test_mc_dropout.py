"""MC dropout: the predictive mean of T passes, reproducible, placement from the model fields."""
import functools

import jax
import numpy as np
import pytest

from configs import digits_mc_dropout
from rvjax import models, sharding
from rvjax.train import loop, replicas, state as state_lib
from rvjax.uncertainty import mc_dropout

pytestmark = pytest.mark.usefixtures("fast_compile")

T = 5


@pytest.fixture(scope="module")
def setup():
  """The tiny MC config's model (dropout 0.1 after every stage and before the head), its state,
  images, and a jitted manual pass `key -> (dropout probs, deterministic probs)`."""
  config = digits_mc_dropout.get_config("tiny")
  model = models.create(config.model.name, **dict(config.model.kwargs))
  assert model.dropout_placement == "all" and model.dropout_rate > 0
  images = np.random.default_rng(0).random((6, 8, 8, 1), np.float32)
  variables = jax.jit(functools.partial(model.init, train=False))(jax.random.key(0), images)
  state = state_lib.TrainState(step=np.int32(0), params=variables["params"],
                               model_state={"batch_stats": variables["batch_stats"]},
                               opt_state=(), temperature=np.float32(1.0))
  stochastic = model.clone(mc_dropout=True)

  @jax.jit
  def manual(key):
    noisy = stochastic.apply(variables, images, train=False, rngs={"dropout": key})
    return jax.nn.softmax(noisy), jax.nn.softmax(model.apply(variables, images, train=False))

  return config, model, state, images, manual


def manual_mean(manual, keys):
  return np.mean([manual(k)[0] for k in keys], 0)


def test_predictive_mean_matches_manual_loop(setup):
  _, model, state, images, manual = setup
  key = jax.random.key(3)
  predict = jax.jit(mc_dropout.predictive(model, T, key))
  pooled = np.exp(predict(state, images))
  np.testing.assert_allclose(pooled, manual_mean(manual, jax.random.split(key, T)), rtol=1e-5,
                             atol=1e-6)
  assert np.abs(pooled - manual(key)[1]).max() > 1e-3  # Not the deterministic pass.
  np.testing.assert_array_equal(np.exp(predict(state, images)), pooled)  # No hidden RNG state.


def test_loop_predict_fn_uses_fixed_mc_keys_and_temperature(setup):
  config, model, state, images, manual = setup
  predict_fn = loop.make_predict_fn(config, model, sharding.make_mesh())
  key = jax.random.fold_in(jax.random.key(config.seed), 2)
  want = manual_mean(manual, jax.random.split(key, config.mc_dropout.samples))
  np.testing.assert_allclose(np.exp(predict_fn(state, images)), want, rtol=1e-5, atol=1e-6)
  scaled = predict_fn(state.replace(temperature=np.float32(2.0)), images)
  np.testing.assert_allclose(scaled, predict_fn(state, images) / 2, rtol=1e-6)


def test_mc_dropout_errors():
  with pytest.raises(ValueError, match="dropout_rate > 0"):
    mc_dropout.predictive(models.create("cnn_tiny"), T, jax.random.key(0))
  model = models.create("cnn_tiny", dropout_rate=0.1)
  with pytest.raises(ValueError, match="samples must be an int >= 1"):
    mc_dropout.predictive(model, 0, jax.random.key(0))


def test_loop_member_logits_feed_mutual_information():
  """The loop hands evaluators (T, B, K) MC-dropout logits whose pool is the predict_fn output."""
  import jax.numpy as jnp
  import ml_collections
  import optax
  from rvjax.uncertainty import ensemble as ensemble_lib
  config = ml_collections.ConfigDict({"seed": 0, "ensemble": {"size": 1, "formulation": "auto"},
                                      "mc_dropout": {"samples": 4}})
  model = models.create("cnn_tiny", dropout_rate=0.5)
  mesh = sharding.make_mesh()
  state = replicas.Single().create_state(
      state_lib.init_fn(model, optax.sgd(0.1), (2, 8, 8, 1)), jax.random.key(0), mesh)
  images = jnp.asarray(np.random.default_rng(0).random((3, 8, 8, 1), np.float32))
  members = loop.make_member_logits_fn(config, model, mesh)(state, images)
  assert members.shape == (4, 3, 10)
  pooled = loop.make_predict_fn(config, model, mesh)(state, images)
  np.testing.assert_allclose(ensemble_lib.pool(members), pooled, rtol=1e-5, atol=1e-6)
  assert float(jnp.std(members, axis=0).mean()) > 0  # the samples differ

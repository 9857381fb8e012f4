"""Several players in one TrainState: each update against a hand computation, one checkpoint."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from rvjax import sharding
from rvjax.train import checkpoint, inner, optim, players, replicas, step as step_lib

CONSTANT = ml_collections.ConfigDict({"name": "constant"})
BATCH = {"image": jnp.zeros((2, 4, 4, 1)), "label": jnp.zeros(2, jnp.int32), "mask": jnp.ones(2)}


def _setup(sgd_config, order):
  """Player a: x (lr 0.1) minimizes x*y; player b: y (lr 0.5) minimizes -x*y + y^2/2.

  Player a counts its own updates in model_state; player b tries to overwrite that count (which
  must be ignored: a player changes only its own model state).
  """
  inits = {"a": lambda k: {"params": {"x": jnp.array(1.0)}, "stats": {"count": jnp.array(0)}},
           "b": lambda k: {"params": {"y": jnp.array(2.0)}}}
  txs = {"a": optim.make_optimizer(sgd_config(lr=0.1), CONSTANT, 10),
         "b": optim.make_optimizer(sgd_config(lr=0.5), CONSTANT, 10)}

  def loss_a(params, model_state, batch, key):
    count = model_state["a"]["stats"]["count"] + 1
    xy = params["a"]["x"] * params["b"]["y"]
    return xy, ({**model_state, "a": {"stats": {"count": count}}}, {"xy": xy})

  def loss_b(params, model_state, batch, key):
    x, y = params["a"]["x"], params["b"]["y"]
    return -x * y + 0.5 * y ** 2, ({**model_state, "a": {"stats": {"count": jnp.array(99)}}}, {})

  game = players.Game({"a": loss_a, "b": loss_b}, order=order)
  state = replicas.Single().create_state(players.init_fn(inits, txs), jax.random.key(0),
                                         sharding.make_mesh())
  step = jax.jit(lambda s, b, k: step_lib.train_step(s, b, k, objective=game, tx=txs))
  return state, step, game, txs


@pytest.mark.parametrize("order, y1", [("alternating", 2 - 0.5 * (-0.8 + 2)),   # b sees x1 = 0.8
                                       ("simultaneous", 2 - 0.5 * (-1.0 + 2))])  # b sees x0 = 1
def test_each_player_update_matches_hand_computation(sgd_config, order, y1):
  state, step, _, _ = _setup(sgd_config, order)
  new, metrics = step(state, BATCH, jax.random.key(1))
  np.testing.assert_allclose(float(new.params["a"]["x"]), 1.0 - 0.1 * 2.0, rtol=1e-6)
  np.testing.assert_allclose(float(new.params["b"]["y"]), y1, rtol=1e-6)
  assert int(new.model_state["a"]["stats"]["count"]) == 1 and int(new.step) == 1
  np.testing.assert_allclose(float(metrics["a/lr/all"]), 0.1)
  np.testing.assert_allclose(float(metrics["b/lr/all"]), 0.5)
  np.testing.assert_allclose(float(metrics["a/loss"]), 2.0)
  b_seen_x = 0.8 if order == "alternating" else 1.0
  np.testing.assert_allclose(float(metrics["b/loss"]), -b_seen_x * 2.0 + 2.0, rtol=1e-6)
  np.testing.assert_allclose(float(metrics["loss"]), float(metrics["a/loss"] + metrics["b/loss"]))
  assert float(metrics["finite"]) == 1.0
  rep = sharding.replicated(sharding.make_mesh())
  assert all(leaf.sharding.is_equivalent_to(rep, leaf.ndim) for leaf in jax.tree.leaves(new))


def test_two_players_checkpoint_and_resume_bit_identically(sgd_config, tmp_path):
  state, step, _, _ = _setup(sgd_config, "alternating")
  key = jax.random.key(1)
  s1, _ = step(state, BATCH, key)
  straight, _ = step(s1, BATCH, key)
  ckpt = checkpoint.Checkpointer(str(tmp_path / "ckpt"))
  ckpt.save(1, s1, {"fingerprint": {"players": ["a", "b"]}})
  abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding),
                          s1)
  restored, meta = ckpt.restore(abstract)
  assert meta["fingerprint"] == {"players": ["a", "b"]}
  ckpt.close()
  jax.tree.map(np.testing.assert_array_equal, restored, s1)
  resumed, _ = step(restored, BATCH, key)
  jax.tree.map(np.testing.assert_array_equal, resumed, straight)


def test_game_and_state_must_name_the_same_players(sgd_config):
  state, _, game, txs = _setup(sgd_config, "alternating")
  with pytest.raises(ValueError, match="players"):
    step_lib.train_step(state, BATCH, jax.random.key(0),
                        objective=players.Game({"a": game.losses["a"], "c": game.losses["b"]}),
                        tx=txs)
  with pytest.raises(ValueError, match="at least two"):
    players.Game({"a": game.losses["a"]})
  with pytest.raises(ValueError, match="order"):
    players.Game(game.losses, order="random")


def test_train_for_scales_one_players_learning_rate(sgd_config):
  state, _, game, txs = _setup(sgd_config, "alternating")
  batches = jax.tree.map(lambda x: jnp.stack([x, x]), BATCH)
  out, metrics = jax.jit(lambda s, b, k: inner.train_for(
      s, b, k, 2, {"lr_scale": {"b": {"all": 0.0}}}, objective=game, tx=txs))(
          state, batches, jax.random.key(0))
  assert float(out.params["b"]["y"]) == 2.0  # frozen by its multiplier
  np.testing.assert_allclose(float(out.params["a"]["x"]), 1.0 - 2 * 0.1 * 2.0, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(metrics["b/lr/all"]), [0.0, 0.0])

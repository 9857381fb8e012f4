"""A several-player config (EnlightenGAN's :tiny) through the one loop: a killed run resumes
bit-identically, and the loop's step moves every player down its own loss."""
import importlib

import jax
import numpy as np
import pytest

from rvjax.train import build as build_lib, loop

STEPS = 3


@pytest.fixture(scope="module", autouse=True)
def _fast(fast_compile):
  del fast_compile


@pytest.fixture(scope="module")
def lowlight(tmp_path_factory):
  from rvjax.data import lowlight as lowlight_lib
  out = str(tmp_path_factory.mktemp("lowlight") / "set")
  lowlight_lib.prepare(out, limit=4)
  return out


def _config(data, **overrides):
  config = importlib.import_module("configs.lowlight_enlightengan").get_config(f"tiny,data={data}")
  with config.unlocked():
    config.total_steps, config.checkpoint.every_steps = STEPS, 1
    config.evals = {}
    config.update(overrides)
  return config


def test_killed_game_run_resumes_bit_identically(lowlight, tmp_path):
  """All three players' params, batch statistics and Adam moments come back from the checkpoint
  and the data/keys continue where they stopped: a run killed before step 2 and rerun ends
  exactly where an uninterrupted one does (a player left out of the checkpoint, or restarted
  optimizer moments, or replayed batches, change the end state)."""
  whole, crashed = str(tmp_path / "whole"), str(tmp_path / "crashed")
  summary = loop.train_and_evaluate(_config(lowlight), whole, write_report=False)
  assert summary["objective/features"].startswith("pixels")
  with pytest.raises(loop.InjectedFailure):
    loop.train_and_evaluate(_config(lowlight, fail_at_step=2), crashed, write_report=False)
  resumed = loop.train_and_evaluate(_config(lowlight), crashed, write_report=False)
  assert resumed["source"].startswith("resumed") and resumed["steps"] == STEPS
  (_, model, a, _), (_, _, b, _) = loop.restore_workdir(whole), loop.restore_workdir(crashed)
  assert set(a.params) == set(a.opt_state) == {"generator", "d_global", "d_local"}
  assert int(a.step) == int(b.step) == STEPS
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  # The restored model is the generator: an image in, an image of the same shape out.
  x = np.full((1, 16, 16, 3), 0.1, np.float32)
  assert model.apply({"params": a.params, **a.model_state}, x, train=False).shape == x.shape


def test_each_player_update_lowers_its_own_loss(lowlight):
  """One step of the loop's compiled step: each player, updated in the game's order, lowers its
  own loss at the params it saw (a dropped gradient leaves it unchanged, a flipped update sign
  or a player stepped with another's optimizer raises it), and every player's params move."""
  config = _config(lowlight)
  train_ds = build_lib.load_split(config, "train")
  model, game, txs, _, _ = build_lib.build(config, train_ds)
  assert list(game.losses) == ["d_global", "d_local", "generator"] and game.model == "generator"
  mesh = build_lib.make_mesh(config)
  state = build_lib.create_state(config, model, txs, build_lib.input_shape(config, train_ds),
                                 mesh)
  batch = next(build_lib.train_batches(config, train_ds, start_step=0))
  train_key = build_lib.seed_key(config, "train")
  start = jax.tree.map(np.asarray, state)
  new, metrics = build_lib.compile_step(config, game, txs, mesh)(state, batch, train_key)
  step_key = jax.random.fold_in(train_key, 0)
  loss_at = jax.jit(lambda i, params: [fn for fn in game.losses.values()][i](
      params, start.model_state, batch, jax.random.fold_in(step_key, i))[0], static_argnums=0)
  params = dict(start.params)
  for i, name in enumerate(game.losses):
    before = float(loss_at(i, params))
    np.testing.assert_allclose(before, float(metrics[f"{name}/loss"]), rtol=1e-4)
    params[name] = new.params[name]
    after = float(loss_at(i, params))
    assert after < before - 1e-4 * abs(before), (name, before, after)
    assert any(not np.array_equal(np.asarray(p), q) for p, q in
               zip(jax.tree.leaves(new.params[name]), jax.tree.leaves(start.params[name]))), name


@pytest.mark.parametrize("change, match", [
    (lambda c: c.update(objective={"name": "zero_dce", "kwargs": {}}),
     "'zero_dce' has no argument.*players"),
    (lambda c: c.players.update(d_local=c.players.d_global, d_extra=c.players.d_global),
     "critic apply functions"),
    (lambda c: setattr(c, "players", {}), "critic apply functions"),
    (lambda c: c.update(augment="flip"), "do not apply to a several-player game")])
def test_bad_game_configs_are_refused(lowlight, change, match):
  config = _config(lowlight)
  with config.unlocked():
    change(config)
  with pytest.raises(ValueError, match=match):
    build_lib.build(config, build_lib.load_split(config, "train"))

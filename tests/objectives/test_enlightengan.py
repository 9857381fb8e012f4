"""EnlightenGAN's game: each player's loss against a hand computation, one jitted step."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from rvjax import models, objectives
from rvjax.objectives import enhancement as E, forward
from rvjax.train import optim, players, step as step_lib

PATCH, NUM = 8, 2
OPT = optim.make_optimizer(ml_collections.ConfigDict(dict(
    name="adam", lr=1e-3, momentum=0.0, nesterov=False, b1=0.5, b2=0.999, weight_decay=0.0,
    grad_clip_norm=0.0, groups=(("all", ".*"),))), ml_collections.ConfigDict({"name": "constant"}),
    10)


def _setup():
  mods = {"d_global": models.create("enlighten_d_tiny"), "d_local": models.create("enlighten_d_tiny"),
          "generator": models.create("enlighten_generator_tiny")}
  x = jnp.zeros((1, 16, 16, 3))
  inits = {n: (lambda k, m=m, s=(x if n != "d_local" else x[:, :PATCH, :PATCH]):
               m.init(k, s, train=False)) for n, m in mods.items()}
  game = objectives.create("enlightengan", mods["generator"].apply,
                           players={n: mods[n].apply for n in ("d_global", "d_local")},
                           features=lambda z: z,  # identity phi: pixels as features
                           num_patches=NUM, patch_size=PATCH)
  rng = np.random.default_rng(0)
  batch = {"image": jnp.asarray(rng.random((2, 16, 16, 3), np.float32) * 0.2),
           "reference": jnp.asarray(rng.random((2, 16, 16, 3), np.float32)),
           "mask": jnp.ones(2)}
  return mods, inits, game, batch


def test_enlightengan_player_losses_by_hand_and_one_step():
  """The global critic's loss is relativistic LSGAN with B real and G(A) fake (swapping them, or
  an unrelativistic LSGAN, changes it); the generator's sums both adversarial terms and the
  global + local SFP terms on the same patch positions of A and G(A). Then one step."""
  mods, inits, game, batch = _setup()
  state = players.init_fn(inits, {n: OPT for n in mods})(jax.random.key(0))
  params, ms = state.params, state.model_state
  key = jax.random.key(3)

  def fwd(name, x, k):
    return jax.jit(lambda x, k: forward.train_forward(mods[name].apply, params[name], ms[name],
                                                      x, k)[0])(x, k)

  k_g, k_d = jax.random.split(key)
  fake = fwd("generator", batch["image"], k_g)
  logits = fwd("d_global", jnp.concatenate([batch["reference"], fake]), k_d)
  want = E.relativistic_lsgan_d(logits[:2], logits[2:])
  got = jax.jit(game.losses["d_global"])(params, ms, batch, key)[0]
  np.testing.assert_allclose(got, want, rtol=1e-5)
  assert abs(float(E.relativistic_lsgan_d(logits[2:], logits[:2]) - want)) > 1e-4

  k_g, k_p, k_dg, k_dl = jax.random.split(key, 4)
  fake = fwd("generator", batch["image"], k_g)
  logits = fwd("d_global", jnp.concatenate([batch["reference"], fake]), k_dg)
  fake_p = E.random_patches(k_p, fake, num=NUM, size=PATCH)
  in_p = E.random_patches(k_p, batch["image"], num=NUM, size=PATCH)
  ident = lambda z: z
  want = (E.relativistic_lsgan_g(logits[:2], logits[2:]) + E.lsgan_g(fwd("d_local", fake_p, k_dl))
          + E.self_feature_preserving(ident, batch["image"], fake)
          + E.self_feature_preserving(ident, in_p, fake_p))
  got, (_, m) = jax.jit(game.losses["generator"])(params, ms, batch, key)
  np.testing.assert_allclose(got, want, rtol=1e-5)
  assert float(m["sfp"]) > 0

  # One jitted step of the whole game moves every player and logs each player's terms.
  txs = {n: OPT for n in mods}
  new, metrics = jax.jit(lambda s, b, k: step_lib.train_step(s, b, k, objective=game, tx=txs,
                                                              task="unpaired"))(
      state, batch, jax.random.key(1))
  for name in mods:
    before, after = jax.tree.leaves(state.params[name]), jax.tree.leaves(new.params[name])
    assert any(not np.allclose(a, b) for a, b in zip(before, after)), name
  assert {"d_global/d_global", "d_local/d_local", "generator/sfp"} <= set(metrics)
  assert float(metrics["finite"]) == 1.0
  assert game.model == "generator" and game.info == {"features": "<lambda>"}
  with pytest.raises(ValueError, match="critic apply functions"):
    E.make_enlightengan(None, players={"d_global": None}, features=lambda z: z)

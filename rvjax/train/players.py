"""Several named players in one TrainState: a GAN's generator and discriminator, a model and a policy.

A one-player state is today's TrainState: `params`, `model_state` and `opt_state` are the model's
(its checkpoint layout is unchanged). A several-player state is the same TrainState whose three
fields are dicts keyed by player name, `{"generator": ..., "discriminator": ...}`: one pytree,
checkpointed, restored and sharded as one.

A `Game` (rvjax.objectives.game, re-exported here) is the objective of a several-player state.
It gives each player a loss

    loss_p(params, model_state, batch, key) -> (loss, (model_state, metrics))

over ALL players' params and model states (dicts keyed by name); player p's update follows the
gradient of loss_p with respect to params[p] only, through its own optax optimizer (`txs[p]`, with
its own schedule and per-group `lr_scale`s). Player p may change only model_state[p]; what its
loss returns for the other players is ignored. `order`:
  * "alternating": players update one after another in `losses`' order; player p+1's loss sees
    the params and model state player p just produced (the usual GAN step: D, then G).
  * "simultaneous": every gradient is taken at the step's starting params, then all players
    update at once.
Player i's key is `fold_in(step_key, i)`. Every optimizer comes from
`rvjax.train.optim.make_optimizer` (its per-group learning rates are logged).
"""
import dataclasses
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from rvjax.objectives.game import Game
from rvjax.train import optim
from rvjax.train.state import TrainState

__all__ = ["Game", "Players", "init_fn", "game_step"]


@dataclasses.dataclass(frozen=True)
class Players:
  """A several-player run's modules, seen from outside as its model: player `model`'s.

  `apply` takes the variables of the WHOLE state, `{"params": state.params, **state.model_state}`
  (params and model states keyed by player), and applies player `model`'s module to its own, so
  evaluators, hooks and `launch.restore` use it as they use a one-player model.

  Attributes:
    modules: {player: flax module}.
    model: the player whose outputs are the run's (the Game's `model`, e.g. "generator").
  """
  modules: dict[str, nn.Module]
  model: str

  def apply(self, variables, *args, **kwargs):
    """Player `model`'s `module.apply` on its own params and model state."""
    own = {"params": variables["params"][self.model], **variables.get(self.model, {})}
    return self.modules[self.model].apply(own, *args, **kwargs)

  def init_fn(self, txs: dict[str, optax.GradientTransformation], input_shape: tuple[int, ...]):
    """`key -> TrainState` of every player initialized on zeros of `input_shape` (N, H, W, C);
    fully convolutional critics see the same shape (their params do not depend on it)."""
    zeros = jnp.zeros(input_shape, jnp.float32)
    inits = {p: (lambda k, m=m: m.init({"params": k, "dropout": k}, zeros, train=False))
             for p, m in self.modules.items()}
    return init_fn(inits, txs)


def init_fn(inits: dict[str, Callable], txs: dict[str, optax.GradientTransformation]):
  """A pure `key -> TrainState` holding every player's params, model state and optimizer state.

  Args:
    inits: {player: key -> variables} (e.g. `lambda k: model.init(k, x, train=False)`); the
      "params" collection is the player's params, the others its model state.
    txs: {player: optax optimizer}; the same names as `inits`.
  Player i is initialized from `fold_in(key, i)`.
  """
  if set(inits) != set(txs):
    raise ValueError(f"players {sorted(inits)} and optimizers {sorted(txs)} must have the same "
                     "names.")

  def init(key):
    params, model_state, opt_state = {}, {}, {}
    for i, (name, init_p) in enumerate(inits.items()):
      variables = dict(init_p(jax.random.fold_in(key, i)))
      params[name] = variables.pop("params")
      model_state[name] = variables
      opt_state[name] = txs[name].init(params[name])
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, model_state=model_state,
                      opt_state=opt_state, temperature=jnp.ones((), jnp.float32))

  return init


def _update(name, loss_fn, tx, params, model_state, opt_state, batch, key):
  """One player's gradient step: (params[name], model_state[name], opt_state, loss, metrics)."""
  def loss_of_own(own):
    return loss_fn({**params, name: own}, model_state, batch, key)

  (loss, (new_model_state, metrics)), grads = jax.value_and_grad(loss_of_own, has_aux=True)(
      params[name])
  updates, opt_state = tx.update(grads, opt_state, params[name])
  new_params = optax.apply_updates(params[name], updates)
  grad_norm = optax.tree.norm(grads)
  metrics = {**metrics, "loss": loss, "grad_norm": grad_norm,
             "param_norm": optax.tree.norm(new_params), "update_norm": optax.tree.norm(updates),
             "finite": (jnp.isfinite(loss) & jnp.isfinite(grad_norm)).astype(jnp.float32),
             **optim.learning_rates(opt_state)}
  return new_params, new_model_state[name], opt_state, metrics


def game_step(state: TrainState, batch: dict, step_key: jax.Array, *, game: Game, txs: dict):
  """Updates every player of `state` once, in `game.order`; returns (state, metrics).

  Metrics are "<player>/<name>" for each player's loss, norms and learning rates, plus
  "loss" (the sum of the players' losses) and "finite" (1.0 iff every player's is finite).
  """
  if set(game.losses) != set(state.params) or set(txs) != set(state.params):
    raise ValueError(f"The game's players {sorted(game.losses)} and optimizers {sorted(txs)} "
                     f"must be the state's players {sorted(state.params)}.")
  params, model_state, opt_state = dict(state.params), dict(state.model_state), dict(
      state.opt_state)
  start_params, start_model_state = dict(params), dict(model_state)
  metrics = {}
  for i, (name, loss_fn) in enumerate(game.losses.items()):
    seen = (params, model_state) if game.order == "alternating" else (start_params,
                                                                       start_model_state)
    p, ms, os_, m = _update(name, loss_fn, txs[name], *seen, opt_state[name], batch,
                            jax.random.fold_in(step_key, i))
    params[name], model_state[name], opt_state[name] = p, ms, os_
    metrics.update({f"{name}/{k}": v for k, v in m.items()})
  names = list(game.losses)
  metrics["loss"] = sum(metrics[f"{n}/loss"] for n in names)
  metrics["finite"] = jnp.min(jnp.stack([metrics[f"{n}/finite"] for n in names]))
  return state.replace(step=state.step + 1, params=params, model_state=model_state,
                       opt_state=opt_state), metrics

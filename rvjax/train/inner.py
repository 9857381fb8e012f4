"""Inner training runs as pure functions: the train step under `lax.scan`.

    state, metrics = train_for(state, data, key, steps, hyper, objective=..., tx=...)

is `steps` calls of `rvjax.train.step.train_step` as one traced program, so it can be jitted and
`jax.vmap`-ped over keys, states, learning-rate multipliers and data-generation parameters: an
outer loop (REINFORCE over a learning-rate policy, learning to simulate, a sweep) trains N
optimizees as one compiled program.

`data` is either
  * a pytree of batches with a leading steps axis, e.g. {"image": (steps, B, H, W, C), ...}, or
  * a sampler `(key, step, data_hyper) -> batch`, called with `fold_in(data_key, step)`,
    the step index (int32 scalar, counting from 0 within this run) and `hyper["data"]`; it
    generates the batch on device (e.g. rendering synthetic images from simulator knobs).

`hyper` (a dict, every entry optional, every value possibly traced):
  * "lr_scale": {group: multiplier} set into the optimizer state before the first step
    (`rvjax.train.optim.set_lr_scales`); for a several-player state
    {player: {group: multiplier}};
  * "data": passed to the sampler as is.
"""
import functools

import jax
import jax.numpy as jnp

from rvjax import validate
from rvjax.train import optim, players
from rvjax.train import step as step_lib


def with_lr_scales(state, lr_scale: dict, *, several: bool):
  """`state` with its optimizer's per-group lr_scale replaced (per player when `several`)."""
  if not lr_scale:
    return state
  if several:
    opt_state = dict(state.opt_state)
    for player, scales in lr_scale.items():
      validate.check_choice(player, "player", opt_state)
      opt_state[player] = optim.set_lr_scales(opt_state[player], scales)
    return state.replace(opt_state=opt_state)
  return state.replace(opt_state=optim.set_lr_scales(state.opt_state, lr_scale))


def train_for(state, data, key, steps: int, hyper: dict | None = None, *, objective, tx,
              task: str = "classification"):
  """Runs `steps` train steps from `state`; returns (state, metrics stacked to (steps,)).

  Args:
    state: a TrainState (one player, or several with a `players.Game` objective).
    data: batches with a leading (steps,) axis, or a sampler `(key, step, data_hyper) -> batch`
      (see the module docstring).
    key: PRNG key of this run; the train steps use `fold_in(key, 0)` as their base key (step
      keys are `fold_in(base, state.step)`, as in the loop) and the sampler `fold_in(key, 1)`.
    steps: static number of steps >= 1.
    hyper: {"lr_scale": ..., "data": ...}, see the module docstring.
    objective, tx, task: as for `rvjax.train.step.train_step`.
  """
  validate.check_positive(steps, "steps", integer=True)
  hyper = dict(hyper or {})
  unknown = set(hyper) - {"lr_scale", "data"}
  if unknown:
    raise ValueError(f"Unknown hyper entries {sorted(unknown)}; valid: data, lr_scale.")
  state = with_lr_scales(state, hyper.get("lr_scale"),
                         several=isinstance(objective, players.Game))
  train_key, data_key = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)
  step = functools.partial(step_lib.train_step, objective=objective, tx=tx, task=task)

  if callable(data):
    def body(state, i):
      batch = data(jax.random.fold_in(data_key, i), i, hyper.get("data"))
      return step(state, batch, train_key)
    xs = jnp.arange(steps)
  else:
    lead = {x.shape[0] for x in jax.tree.leaves(data)}
    if lead != {steps}:
      raise ValueError(f"data must have a leading axis of {steps} steps on every entry, got "
                       f"{sorted(lead)}.")
    def body(state, batch):
      return step(state, batch, train_key)
    xs = data
  return jax.lax.scan(body, state, xs)

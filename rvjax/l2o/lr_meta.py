"""Meta-training the learning-rate controller (ASG's RL-L2O) over N vmapped truncated optimizees.

One meta-iteration is one compiled program: N copies of a syn2real row's model (warm-started
from the source, as in its config) train for `windows` windows of `window` steps each; before
every window the controller (rvjax.l2o.policy) observes each optimizee and samples its per-group
multipliers, and each window is the core's `train_for` under `jax.vmap` over the N optimizees
(their data keys and multipliers), with batches drawn on device from the synthetic train split.
The reward of window t is the drop of the cross-entropy on a held-out SYNTHETIC split (the
config's data, split "val"; the real target is never read):  r_t = L_val(t - 1) - L_val(t).
The controller is then updated by REINFORCE (rvjax.l2o.reinforce) with Adam.
"""
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvjax.l2o import policy as policy_lib
from rvjax.l2o import reinforce
from rvjax.objectives import source as source_lib
from rvjax.train import inner, state as state_lib, syn2real


def reward_split(config):
  """The synthetic held-out split the reward is measured on: config.data's "val" split.
  Raises ValueError when config.data names the real target (the reward must never see it)."""
  if config.data.name == config.syn2real.real:
    raise ValueError(f"The L2O reward must use a synthetic split, not the real target "
                     f"{config.syn2real.real!r}.")
  return syn2real.setup(config).val_ds


def _horizon_config(config, steps: int):
  """`config` with total_steps = the truncated horizon (the schedule decays over it)."""
  c = config.copy_and_resolve_references()
  with c.unlocked():
    c.total_steps = steps
    c.eval_every_steps = steps
  return c


class Program:
  """The compiled pieces of meta-training for one row config and N optimizees.

  rollout(params, states, key) -> (observations (N, T, D), actions (N, T, G), rewards (N, T),
  final states) runs the N truncated optimizees under the controller with `params`, as one
  jitted program.
  """

  def __init__(self, config, policy: dict, *, windows: int, window: int, val_num: int = 256):
    self.config = _horizon_config(config, windows * window)
    self.row = row = syn2real.setup(self.config)
    self.policy, self.windows, self.window = policy, windows, window
    self.groups = row.groups
    val = reward_split(self.config)
    val_x, val_y = jnp.asarray(val.images[:val_num]), jnp.asarray(val.labels[:val_num])
    train_x, train_y = jnp.asarray(row.train_ds.images), jnp.asarray(row.train_ds.labels)
    batch = self.config.batch_size
    guidance = syn2real.row_guidance(self.config)

    def sampler(key, step, _):
      idx = jax.random.randint(key, (batch,), 0, train_x.shape[0])
      return {"image": train_x[idx], "label": train_y[idx], "mask": jnp.ones((batch,))}

    def val_loss(state):
      _, logits = row.features(state, val_x)
      return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, val_y))

    def train_window(state, key, scales):
      hyper = {"lr_scale": dict(zip(self.groups, scales))}
      state, m = inner.train_for(state, sampler, key, window, hyper, objective=row.objective,
                                 tx=row.tx)
      return state, jnp.mean(m["ce"]), jnp.mean(m[guidance])

    def rollout(params, states, key):
      n = jax.tree.leaves(states)[0].shape[0]
      obs_keys = jax.random.split(key, windows)

      def body(carry, t):
        states, lstm, ce, kl, scales, loss = carry
        progress = t / windows
        obs = jax.vmap(policy_lib.observation, (0, 0, None, 0, 0))(
            ce, kl, progress, states.params[source_lib.HEAD]["kernel"], scales)
        lstm, logits = jax.vmap(functools.partial(policy_lib.step, policy, params))(lstm, obs)
        k_act, k_train = jax.random.split(obs_keys[t])
        actions = policy_lib.sample(k_act, logits)
        scales = policy_lib.multipliers(actions)
        states, ce, kl = jax.vmap(train_window)(states, jax.random.split(k_train, n), scales)
        new_loss = jax.vmap(val_loss)(states)
        return (states, lstm, ce, kl, scales, new_loss), (obs, actions, loss - new_loss)

      init = (states, policy_lib.initial_carry(policy["hidden"], (n,)), jnp.zeros(n),
              jnp.zeros(n), jnp.ones((n, len(self.groups))), jax.vmap(val_loss)(states))
      final, (obs, actions, rewards) = jax.lax.scan(body, init, jnp.arange(windows))
      return obs.swapaxes(0, 1), actions.swapaxes(0, 1), rewards.swapaxes(0, 1), final[0]

    self.rollout = jax.jit(rollout)
    self.val_loss = jax.jit(jax.vmap(val_loss))

  def initial_states(self, n: int, seed: int):
    """N optimizees: the row's initial state (source warm start), stacked N times."""
    shape = (self.config.batch_size,) + self.row.train_ds.images.shape[1:]
    state = jax.jit(state_lib.init_fn(self.row.model, self.row.tx, shape))(jax.random.key(seed))
    state = self.row.init(state)
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (n,) + x.shape), state)


def surrogate(policy: dict, params, obs, actions, returns, baseline, *, entropy_bonus: float):
  """The REINFORCE loss of trajectories obs (N, T, D), actions (N, T, G), returns (N, T)."""
  logp, ent = jax.vmap(functools.partial(policy_lib.trajectory_log_prob, policy, params))(
      obs, actions)
  return reinforce.surrogate_loss(logp, returns, baseline, ent, entropy_bonus=entropy_bonus)


def meta_train(config, *, num_optimizees: int = 8, windows: int = 6, window: int = 10,
               iterations: int = 20, lr: float = 3e-3, entropy_bonus: float = 0.01,
               baseline_decay: float = 0.9, hidden: int = 32, seed: int = 0, log=print):
  """Meta-trains a learning-rate policy for `config`'s row; returns (policy, per-iteration
  [(mean return, mean multiplier per group, seconds)]).

  Each iteration: a rollout of `num_optimizees` vmapped optimizees (fresh data keys), returns
  to go, the REINFORCE step with the moving-average baseline (per window index) and the
  entropy bonus.
  """
  policy = policy_lib.init(jax.random.key(seed), syn2real.setup(config).groups, hidden=hidden)
  program = Program(config, policy, windows=windows, window=window)
  opt = optax.adam(lr)
  params = policy["params"]
  opt_state = opt.init(params)
  baseline = jnp.zeros((windows,))
  grad_fn = jax.jit(jax.value_and_grad(functools.partial(surrogate, policy,
                                                         entropy_bonus=entropy_bonus)))
  states = program.initial_states(num_optimizees, seed)
  history = []
  for it in range(iterations):
    t = time.time()
    obs, actions, rewards, _ = program.rollout(params, states, jax.random.key(seed * 7919 + it + 1))
    returns = reinforce.returns_to_go(rewards)
    _, grads = grad_fn(params, obs, actions, returns, baseline)
    baseline = reinforce.update_baseline(baseline, returns, decay=baseline_decay)
    updates, opt_state = opt.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    mean_scale = np.asarray(policy_lib.multipliers(actions)).mean((0, 1))
    history.append((float(returns[:, 0].mean()), dict(zip(program.groups, mean_scale.tolist())),
                    time.time() - t))
    log(f"meta-iteration {it}: mean return {history[-1][0]:.4f}, mean multipliers "
        + ", ".join(f"{g} {m:.2f}" for g, m in history[-1][1].items())
        + f" ({history[-1][2]:.1f} s)")
  return {**policy, "params": jax.device_get(params)}, history

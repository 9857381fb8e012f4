"""The RL-L2O learning-rate controller of ASG (Chen et al. ICML 2020): an LSTM over windows.

Every window of training steps the controller observes

    obs = [window-mean CE, window-mean guidance KL, progress in [0, 1],
           mean |W_head|, std W_head, the G current per-group multipliers]      (OBS_BASE + G,)

updates its LSTM carry and outputs, per parameter group, logits over the action set
`ACTIONS` = {0, 0.1, ..., 1}; the group's multiplier for the next window is the chosen action.
Everything is a pure function of the policy parameters, so a batch of N optimizees runs the
controller under `jax.vmap`, and REINFORCE (rvjax.l2o.reinforce) re-scores a recorded
trajectory with `trajectory_log_prob`. Policies are saved as one msgpack file (atomic, never
overwriting) with a JSON header naming the groups and the controller's sizes.
"""
import json
import os

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ACTIONS = tuple(round(0.1 * i, 1) for i in range(11))  # ASG's per-group multiplier set.
OBS_BASE = 5  # ce, kl, progress, head |W| mean, head W std.


class Controller(nn.Module):
  """One controller step: (carry, obs (D,)) -> (carry, logits (num_groups, len(ACTIONS)))."""
  num_groups: int
  hidden: int = 32

  @nn.compact
  def __call__(self, carry, obs):
    carry, h = nn.OptimizedLSTMCell(self.hidden, name="lstm")(carry, obs)
    logits = nn.Dense(self.num_groups * len(ACTIONS), name="logits",
                      kernel_init=nn.initializers.normal(0.01))(h)
    return carry, logits.reshape(self.num_groups, len(ACTIONS))


def observation(ce, kl, progress, head_kernel, scales):
  """The controller's input (OBS_BASE + G,) float32: window-mean CE and KL (scalars), progress
  in [0, 1], statistics of the head kernel (D, K) and the current multipliers (G,)."""
  return jnp.concatenate([
      jnp.stack([ce, kl, progress, jnp.mean(jnp.abs(head_kernel)) * 10.0,
                 jnp.std(head_kernel) * 10.0]).astype(jnp.float32),
      jnp.asarray(scales, jnp.float32)])


def init(key, groups: tuple[str, ...], *, hidden: int = 32) -> dict:
  """A fresh policy: {"params", "groups", "hidden"} (groups and hidden are static metadata)."""
  if not groups:
    raise ValueError("The learning-rate policy needs at least one parameter group.")
  net = Controller(len(groups), hidden)
  obs = jnp.zeros((OBS_BASE + len(groups),))
  params = net.init(key, initial_carry(hidden), obs)["params"]
  return {"params": params, "groups": tuple(groups), "hidden": hidden}


def initial_carry(hidden: int, batch: tuple = ()):
  """The LSTM's zero carry (c, h), each `batch + (hidden,)`."""
  zeros = jnp.zeros(batch + (hidden,))
  return zeros, zeros


def step(policy: dict, params, carry, obs):
  """One controller step with `params` (the trained leaves of `policy`): (carry, logits (G, A))."""
  return Controller(len(policy["groups"]), policy["hidden"]).apply({"params": params}, carry, obs)


def sample(key, logits):
  """Action indices (..., G) int32 in [0, len(ACTIONS)) drawn from logits (..., G, A)."""
  return jax.random.categorical(key, logits).astype(jnp.int32)


def multipliers(actions):
  """Action indices (..., G) -> multipliers (..., G) float32 from ACTIONS."""
  return jnp.asarray(ACTIONS, jnp.float32)[actions]


def log_prob_and_entropy(logits, actions):
  """(sum over groups of log pi(a_g), sum over groups of the entropy), for logits (..., G, A)
  and actions (..., G)."""
  logp = jax.nn.log_softmax(logits)
  chosen = jnp.take_along_axis(logp, actions[..., None], -1)[..., 0]
  entropy = -jnp.sum(jnp.exp(logp) * logp, -1)
  return jnp.sum(chosen, -1), jnp.sum(entropy, -1)


def trajectory_log_prob(policy: dict, params, observations, actions):
  """Re-runs the controller over one recorded trajectory: observations (T, D), actions (T, G)
  -> (log-probabilities (T,), entropies (T,)) of each window's joint action."""
  def body(carry, xs):
    obs, act = xs
    carry, logits = step(policy, params, carry, obs)
    return carry, log_prob_and_entropy(logits, act)
  _, (logp, ent) = jax.lax.scan(body, initial_carry(policy["hidden"]), (observations, actions))
  return logp, ent


def save(path: str, policy: dict) -> None:
  """Writes `policy` to `path` atomically; refuses to overwrite an existing file."""
  if os.path.exists(path):
    raise FileExistsError(f"Policy file {path!r} exists; remove it or choose another path.")
  header = json.dumps({"groups": list(policy["groups"]), "hidden": policy["hidden"]})
  blob = flax.serialization.msgpack_serialize(
      {"header": header, "params": jax.tree.map(np.asarray, policy["params"])})
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "wb") as f:
    f.write(blob)
  os.replace(tmp, path)


def load(path: str, groups: tuple[str, ...] | None = None) -> dict:
  """Reads a policy file; with `groups`, refuses one trained for other parameter groups."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"Policy file {path!r} does not exist; train one with "
                            "rvjax.l2o.lr_meta.meta_train.")
  try:
    with open(path, "rb") as f:
      raw = flax.serialization.msgpack_restore(f.read())
    header = json.loads(raw["header"])
  except Exception as e:
    raise ValueError(f"{path!r} is not an rvjax policy file ({type(e).__name__}: {e}).") from e
  policy = {"params": raw["params"], "groups": tuple(header["groups"]),
            "hidden": int(header["hidden"])}
  if groups is not None and tuple(groups) != policy["groups"]:
    raise ValueError(f"Policy {path!r} acts on groups {policy['groups']}, the run has "
                     f"{tuple(groups)}.")
  return policy

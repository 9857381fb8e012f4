"""The RL-L2O learning-rate policy: REINFORCE on a bandit, actions, entropy bonus, the reward."""
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rvjax import data
from rvjax.l2o import lr_meta, policy as policy_lib, reinforce
from rvjax.train import syn2real

pytestmark = pytest.mark.usefixtures("fast_compile")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from configs import syn2real_digits  # noqa: E402


def _bandit_grad(theta, rewards, actions, baseline):
  def loss(theta):
    logp = jax.nn.log_softmax(theta)[actions]
    return reinforce.surrogate_loss(logp[:, None], rewards[actions][:, None], baseline,
                                    jnp.zeros((len(actions), 1)), entropy_bonus=0.0)
  return jax.grad(loss)(theta)


def test_reinforce_gradient_of_a_bandit_matches_the_analytic_expectation():
  theta = jnp.array([0.5, -0.3, 0.1, 1.0])
  rewards = jnp.array([1.0, 3.0, -2.0, 0.5])
  p = jax.nn.softmax(theta)
  analytic = -p * (rewards - p @ rewards)  # gradient of -E[r] in the logits.
  actions = jax.random.categorical(jax.random.key(0), theta, shape=(200_000,))
  for baseline in (jnp.zeros(1), jnp.full(1, 2.0)):  # a baseline changes variance, not the mean.
    estimate = _bandit_grad(theta, rewards, actions, baseline)
    np.testing.assert_allclose(estimate, analytic, atol=0.02)
  # Moving-average baseline and returns to go.
  np.testing.assert_allclose(reinforce.returns_to_go(jnp.array([[1.0, 2.0, 3.0]])), [[6, 5, 3]])
  np.testing.assert_allclose(reinforce.update_baseline(jnp.array([1.0, 0.0]),
                                                       jnp.array([[3.0, 2.0], [5.0, 4.0]]),
                                                       decay=0.75), [1.75, 0.75])
  with pytest.raises(ValueError, match="decay"):
    reinforce.update_baseline(jnp.zeros(1), jnp.zeros((1, 1)), decay=1.0)


def test_entropy_bonus_raises_the_entropy():
  theta = jnp.array([2.0, 0.0, -1.0])
  actions = jnp.array([0, 1, 2])
  def loss(theta, bonus):
    logp, ent = policy_lib.log_prob_and_entropy(jnp.broadcast_to(theta, (3, 1, 3)),
                                                actions[:, None])
    return reinforce.surrogate_loss(logp[:, None], jnp.zeros((3, 1)), jnp.zeros(1),
                                    ent[:, None], entropy_bonus=bonus)
  entropy = lambda t: -jnp.sum(jax.nn.softmax(t) * jax.nn.log_softmax(t))
  for bonus, direction in ((0.1, 1), (-0.1, -1)):
    stepped = theta - 1.0 * jax.grad(loss)(theta, bonus)
    assert direction * (entropy(stepped) - entropy(theta)) > 1e-4


def test_controller_actions_are_in_the_action_set_and_rescored_exactly():
  groups = ("a", "b", "c")
  pol = policy_lib.init(jax.random.key(0), groups, hidden=8)
  obs = jax.random.normal(jax.random.key(1), (4, policy_lib.OBS_BASE + 3)) * 3
  carry, acts, logps = policy_lib.initial_carry(8), [], []
  for t in range(4):
    carry, logits = policy_lib.step(pol, pol["params"], carry, obs[t])
    a = policy_lib.sample(jax.random.key(t), logits + 5 * jax.random.normal(jax.random.key(9 + t),
                                                                            logits.shape))
    acts.append(a)
    logps.append(jnp.sum(jax.nn.log_softmax(logits)[jnp.arange(3), a]))
  acts = jnp.stack(acts)
  assert acts.shape == (4, 3) and acts.min() >= 0 and acts.max() < len(policy_lib.ACTIONS)
  chosen = np.asarray(policy_lib.multipliers(acts)).ravel()
  syn2real.check_lr_scales({str(i): m for i, m in enumerate(chosen)})  # raises if outside.
  logp, ent = policy_lib.trajectory_log_prob(pol, pol["params"], obs, acts)
  np.testing.assert_allclose(logp, jnp.stack(logps), rtol=1e-5)
  assert np.all(ent > 0) and np.all(ent <= 3 * np.log(11) + 1e-5)


def test_reward_is_the_synthetic_val_loss_drop_and_policy_files(tmp_path):
  d = str(tmp_path)
  syn2real.pretrain_source(syn2real_digits.source_path(d, "digits"), "digits_rotation", "cnn",
                           model_kwargs={"widths": (4, 8, 8)}, steps=2, batch_size=16)
  cfg = syn2real_digits.get_config(f"row=asg_pg,tiny,source=digits,source_dir={d}")
  pol = policy_lib.init(jax.random.key(0), syn2real.setup(cfg).groups, hidden=8)
  program = lr_meta.Program(cfg, pol, windows=2, window=2, val_num=64)
  states = program.initial_states(2, seed=0)
  obs, actions, rewards, final = program.rollout(pol["params"], states, jax.random.key(3))
  assert obs.shape == (2, 2, policy_lib.OBS_BASE + 4) and actions.shape == (2, 2, 4)
  # The reward telescopes to the CE drop on the synthetic val split (never the real digits).
  val = data.load("syndigits", "val", **dict(cfg.data.kwargs))
  row = program.row
  def ce(state):
    logits = row.features(state, val.images[:64])[1]
    return np.mean(optax.softmax_cross_entropy_with_integer_labels(logits, val.labels[:64]))
  for n in range(2):
    pick = lambda s: jax.tree.map(lambda x: x[n], s)
    np.testing.assert_allclose(rewards[n].sum(), ce(pick(states)) - ce(pick(final)), atol=1e-4)
  real = cfg.copy_and_resolve_references()
  with real.unlocked():
    real.data.name = "digits"
  with pytest.raises(ValueError, match="synthetic split"):
    lr_meta.reward_split(real)
  # Saved atomically, never overwritten, refused for other groups.
  path = f"{d}/policy.msgpack"
  policy_lib.save(path, pol)
  with pytest.raises(FileExistsError):
    policy_lib.save(path, pol)
  with pytest.raises(ValueError, match="groups"):
    policy_lib.load(path, ("head",))
  back = policy_lib.load(path, pol["groups"])
  np.testing.assert_array_equal(jax.tree.leaves(back["params"])[0],
                                jax.tree.leaves(pol["params"])[0])
  # Deployed by a config: one decision per window (tiny: 6 steps, window 3), all in the set.
  out = syn2real.run(syn2real_digits.get_config(
      f"row=asg_l2o,tiny,source=digits,source_dir={d},policy={path}"))
  assert [s for s, _ in out["lr_history"]] == [0, 3]
  for _, scales in out["lr_history"]:
    assert set(scales) == set(pol["groups"])
    syn2real.check_lr_scales(scales)
  with pytest.raises(ValueError, match="policy"):
    syn2real_digits.get_config("row=asg_l2o")

"""REINFORCE (Williams 1992) with a moving-average baseline and an entropy bonus.

For trajectories of T decisions with log-probabilities log pi(a_t) (N, T) under the policy, and
rewards r_t (N, T), the return-to-go is G_t = sum_{k >= t} r_k and the surrogate loss

    loss = -mean_{n,t} (G_t - b_t) * log pi(a_t) - beta * mean_{n,t} H_t

has, in expectation, the gradient of -E[G_0] - beta * E[H] (the baseline b_t, a moving average
of past returns per decision index, changes the variance, not the mean). Minimizing the loss
with beta > 0 raises the entropy of the policy.
"""
import jax
import jax.numpy as jnp


def returns_to_go(rewards):
  """G_t = sum_{k >= t} r_k along the last axis: rewards (..., T) -> (..., T)."""
  return jnp.flip(jnp.cumsum(jnp.flip(rewards, -1), -1), -1)


def update_baseline(baseline, returns, *, decay: float):
  """Moving average b <- decay * b + (1 - decay) * mean over trajectories of G: (T,), (N, T)."""
  if not 0.0 <= decay < 1.0:
    raise ValueError(f"baseline decay must be in [0, 1); got {decay}.")
  return decay * baseline + (1.0 - decay) * jnp.mean(returns, 0)


def surrogate_loss(log_probs, returns, baseline, entropies, *, entropy_bonus: float):
  """The REINFORCE loss (a scalar) whose gradient in the policy parameters estimates
  -grad E[G] - entropy_bonus * grad E[H]; log_probs, returns, entropies (N, T), baseline (T,)."""
  advantage = jax.lax.stop_gradient(returns - baseline)
  return -jnp.mean(advantage * log_probs) - entropy_bonus * jnp.mean(entropies)

"""Clean-label feature-collision poisons (Shafahi et al. 2018, "Poison Frogs").

A poison p looks like a base image b (of the base class, and labelled so) but sits next to a
target image t in the victim's feature space:

  p = argmin_x ||f(x) - f(t)||^2 + beta ||x - b||^2,   x in [0, 1]^d,

solved by forward-backward splitting (the paper's Algorithm 1), each iteration

  forward:  x_hat = x - lr * grad_x ||f(x) - f(t)||^2
  backward: x = clip((x_hat + lr * beta * b) / (1 + lr * beta), 0, 1)

(the backward step is the proximal operator of lr * beta ||x - b||^2). With watermarking
(`opacity` gamma > 0) the base is first blended with the target, b <- (1 - gamma) b + gamma t,
and used as start and anchor. Poisons are crafted independently, vmapped over the batch.
f is the penultimate layer (the input of the module named "head") in eval mode.
"""
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from rvjax import validate


def penultimate(apply_fn: Callable, variables) -> Callable:
  """`features(x (N, H, W, C) in [0, 1]) -> (N, D)`: the input of the classifier's final layer
  (the submodule named "head"), in eval mode. Works for every `rvjax.models` classifier."""
  def interceptor(next_fun, args, kwargs, context):
    if context.module.name == "head" and context.method_name == "__call__":
      return args[0]
    return next_fun(*args, **kwargs)

  def features(x):
    with nn.intercept_methods(interceptor):
      return apply_fn(variables, x, train=False)
  return features


def watermark(bases: jax.Array, targets: jax.Array, opacity: float) -> jax.Array:
  """(1 - opacity) * bases + opacity * targets, opacity in [0, 1); same shapes (N, H, W, C)."""
  if not 0.0 <= opacity < 1.0:
    raise ValueError(f"opacity must lie in [0, 1), got {opacity}.")
  return (1.0 - opacity) * bases + opacity * targets


def feature_distance(features: Callable, x: jax.Array, target_features: jax.Array) -> jax.Array:
  """Per-example ||f(x_i) - f(t_i)||^2: (N, H, W, C), (N, D) -> (N,)."""
  return jnp.sum((features(x) - target_features) ** 2, axis=-1)


def forward_backward_step(features: Callable, x: jax.Array, target_features: jax.Array,
                          bases: jax.Array, *, beta: float, lr: float) -> jax.Array:
  """One forward-backward iteration for every poison (see the module docstring).

  Args:
    features: `x (N, ...) -> (N, D)`, applied to each poison alone (vmapped).
    x: current poisons (N, H, W, C) in [0, 1].
    target_features: f(t) (N, D).
    bases: anchors b (N, H, W, C) in [0, 1].
    beta: weight of the image term (>= 0); lr: step size (> 0).

  Returns:
    The next poisons (N, H, W, C), clipped to [0, 1].
  """
  def one(xi, ti):
    return feature_distance(features, xi[None], ti[None])[0]
  grad = jax.vmap(jax.grad(one))(x, target_features)
  x_hat = x - lr * grad
  return jnp.clip((x_hat + lr * beta * bases) / (1.0 + lr * beta), 0.0, 1.0)


def craft(features: Callable, targets: jax.Array, bases: jax.Array, *, beta: float, lr: float,
          steps: int, opacity: float = 0.0) -> tuple[jax.Array, jax.Array]:
  """Crafts one poison per (target, base) pair.

  Args:
    features: `x (N, ...) -> (N, D)`, e.g. `penultimate(model.apply, variables)`.
    targets: (N, H, W, C) in [0, 1], the images to be misclassified as the bases' class.
    bases: (N, H, W, C) in [0, 1], images of the base class.
    beta: >= 0; lr: > 0; steps: >= 1 iterations (one compiled step, looped on the host).
    opacity: watermark strength gamma in [0, 1) (0: none).

  Returns:
    (poisons (N, H, W, C) in [0, 1], feature distances (steps + 1, N) along the way).
  """
  validate.check_images(targets, name="targets")
  validate.check_images(bases, name="bases")
  if targets.shape != bases.shape:
    raise ValueError(f"targets {targets.shape} and bases {bases.shape} must have one shape.")
  if beta < 0 or lr <= 0 or steps < 1:
    raise ValueError(f"Need beta >= 0, lr > 0 and steps >= 1; got {beta}, {lr}, {steps}.")
  anchors = watermark(bases, targets, opacity)
  target_features = features(targets)

  @jax.jit
  def step(x):
    x = forward_backward_step(features, x, target_features, anchors, beta=beta, lr=lr)
    return x, feature_distance(features, x, target_features)

  x = anchors
  distances = [feature_distance(features, x, target_features)]
  for _ in range(steps):
    x, d = step(x)
    distances.append(d)
  return x, jnp.stack(distances)

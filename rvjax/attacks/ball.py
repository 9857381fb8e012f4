"""The threat model shared by fgsm, pgd and apgd: an L-inf or L2 ball of radius eps around x,
intersected with the image box [0, 1].

Shapes: x, x_adv and gradients are (N, H, W, C) (any rank >= 2 works, axis 0 is the batch); eps and
step sizes are scalars or arrays broadcastable to (N, 1, 1, 1). Norms are per example.
"""
from typing import Any

import jax
import jax.numpy as jnp

from rvjax import validate
from rvjax.attacks import _checks

NORMS = ("linf", "l2")
_TINY = 1e-12


def check_threat(eps: Any, norm: str) -> None:
  """Raises ValueError for an unknown norm or a negative eps (value checked only when concrete)."""
  validate.check_choice(norm, "norm", NORMS)
  _checks.check_scalar(eps, "eps", allow_zero=True)


def l2_norm(d: jnp.ndarray) -> jnp.ndarray:
  """Per-example L2 norm of (N, ...) -> (N, 1, ..., 1), broadcastable against d."""
  return jnp.sqrt(jnp.sum(d * d, axis=tuple(range(1, d.ndim)), keepdims=True))


def project(x_adv: jnp.ndarray, x: jnp.ndarray, eps: Any, norm: str) -> jnp.ndarray:
  """Projects x_adv onto {x + d : ||d|| <= eps} and then onto [0, 1].

  For linf this is the exact projection onto the intersection; for l2 the box clip after the ball
  projection only shrinks |d| coordinate-wise, so the result stays in both sets. eps = 0 gives x
  exactly.
  """
  d = x_adv - x
  if norm == "linf":
    d = jnp.clip(d, -eps, eps)
  else:
    d = d * jnp.minimum(1.0, eps / jnp.maximum(l2_norm(d), _TINY))
  return jnp.clip(x + d, 0.0, 1.0)


def random_start(key: jax.Array, x: jnp.ndarray, eps: Any, norm: str) -> jnp.ndarray:
  """A uniform random point of the ball around x, clipped to [0, 1].

  linf: d ~ U[-eps, eps]^D. l2: uniform in the ball, d = eps * u^(1/D) * g / ||g|| with g Gaussian
  and u ~ U[0, 1]; with D = H*W*C in the thousands this lies almost on the sphere.
  """
  if norm == "linf":
    d = eps * jax.random.uniform(key, x.shape, x.dtype, -1.0, 1.0)
  else:
    k_dir, k_rad = jax.random.split(key)
    g = jax.random.normal(k_dir, x.shape, x.dtype)
    dim = x[0].size
    u = jax.random.uniform(k_rad, (x.shape[0],) + (1,) * (x.ndim - 1), x.dtype)
    d = eps * u ** (1.0 / dim) * g / jnp.maximum(l2_norm(g), _TINY)
  return project(x + d, x, eps, norm)


def ascent_direction(grad: jnp.ndarray, norm: str) -> jnp.ndarray:
  """Steepest-ascent unit direction: sign(grad) for linf, grad / ||grad||_2 per example for l2."""
  if norm == "linf":
    return jnp.sign(grad)
  return grad / jnp.maximum(l2_norm(grad), _TINY)


def step(x_cur: jnp.ndarray, grad: jnp.ndarray, x: jnp.ndarray, step_size: Any, eps: Any,
         norm: str) -> jnp.ndarray:
  """One projected steepest-ascent step: project(x_cur + step_size * direction(grad))."""
  return project(x_cur + step_size * ascent_direction(grad, norm), x, eps, norm)

"""The threat model shared by fgsm, pgd and apgd: an L-inf or L2 ball of radius eps around x,
intersected with the image box [0, 1].

Shapes: x, x_adv and gradients are (N, H, W, C) (any rank >= 2 works, axis 0 is the batch); eps and
step sizes are Python/numpy numbers, or arrays of per-example values of shape (N,) or
(N, 1, 1, 1) (`check_radius` reshapes (N,) to (N, 1, 1, 1)). Norms are per example.
"""
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rvjax import validate

NORMS = ("linf", "l2")
_TINY = 1e-12


def check_radius(value: Any, name: str, x: Any = None, *, allow_zero: bool = False) -> Any:
  """Checks a radius or step size and returns it ready to broadcast against x (N, ...).

  A number, or an array of shape (), (N,) or (N, 1, ..., 1); (N,) is reshaped to (N, 1, ..., 1).
  Raises ValueError naming `name` for a non-number (a string, None), a bad shape, and, when the
  value is concrete (not traced), for NaN, inf, a negative value or (unless allowed) zero.
  """
  if isinstance(value, bool) or not (isinstance(value, (int, float, np.number))
                                     or hasattr(value, "shape")):
    raise ValueError(f"{name} must be a number or an array of per-example values, got "
                     f"{type(value).__name__} {value!r}.")
  if hasattr(value, "dtype") and not np.issubdtype(value.dtype, np.number):
    raise ValueError(f"{name} must be numeric, got dtype {value.dtype}.")
  shape = tuple(np.shape(value))
  if x is not None and shape:
    n, rank = x.shape[0], len(x.shape)
    if len(shape) == 1 and shape[0] in (1, n):
      value = value.reshape(shape + (1,) * (rank - 1))
      shape = tuple(value.shape)
    if len(shape) != rank or shape[0] not in (1, n) or any(s != 1 for s in shape[1:]):
      raise ValueError(f"{name} must be a number or per-example values of shape ({n},) or "
                       f"({n}{', 1' * (rank - 1)}), got shape {shape}.")
  if validate.is_concrete(value):
    with jax.ensure_compile_time_eval():  # a concrete array closed over inside a jit trace
      v = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(v)):
      raise ValueError(f"{name} must be finite, got {value!r}.")
    bad = v < 0 if allow_zero else v <= 0
    if np.any(bad):
      raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got "
                       f"{float(v[bad].min()) if v.ndim else float(v)}.")
  return value


def check_threat(eps: Any, norm: str, x: Any = None) -> Any:
  """Checks the norm and eps (`check_radius`, zero allowed); returns eps ready to broadcast."""
  validate.check_choice(norm, "norm", NORMS)
  return check_radius(eps, "eps", x, allow_zero=True)


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

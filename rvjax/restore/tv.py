"""Total-variation (ROF) denoising by Chambolle's projection algorithm (2004).

Solves min_u ||u - f||^2 / 2 + weight * TV(u) per channel with isotropic TV and the step
tau = 1/4, stopping when the energy changes by less than eps times the first iteration's, or
after max_iter: the same iteration and stopping rule as
skimage.restoration.denoise_tv_chambolle(f, weight, eps, max_num_iter, channel_axis=-1), so the
two agree to float32 rounding. Planes stop independently (a batched `lax.while_loop`).
"""
import functools
from typing import Any

import jax
import jax.numpy as jnp

from rvjax.restore import _checks

TAU = 0.25  # 1 / (2 * ndim) for 2-D planes


def _grad(u):
  gy = jnp.zeros_like(u).at[:-1].set(u[1:] - u[:-1])
  gx = jnp.zeros_like(u).at[:, :-1].set(u[:, 1:] - u[:, :-1])
  return jnp.stack([gy, gx])


def _neg_div(p):
  """-div p with the adjoint boundary convention of the forward differences above."""
  d = -(p[0] + p[1])
  d = d.at[1:].add(p[0, :-1])
  return d.at[:, 1:].add(p[1, :, :-1])


def _chambolle_plane(f, weight, eps, max_iter):
  def body(state):
    i, p, _, e_init, e_prev, _ = state
    d = _neg_div(p)
    out = f + d
    g = _grad(out)
    norm = jnp.sqrt(jnp.sum(g * g, 0))
    energy = (jnp.sum(d * d) + weight * jnp.sum(norm)) / f.size
    p = (p - TAU * g) / (1.0 + norm * (TAU / weight))
    e_init = jnp.where(i == 0, energy, e_init)
    done = (i > 0) & (jnp.abs(e_prev - energy) < eps * e_init)
    return i + 1, p, out, e_init, energy, done

  def cond(state):
    return (state[0] < max_iter) & ~state[5]

  zero = jnp.float32(0)
  init = (0, jnp.zeros((2,) + f.shape, f.dtype), f, zero, zero, jnp.bool_(False))
  return jax.lax.while_loop(cond, body, init)[2]


@functools.partial(jax.jit, static_argnames=("eps", "max_iter"))
def _tv(x, weight, eps, max_iter):
  n, _, _, c = x.shape
  planes = jax.vmap(lambda f: _chambolle_plane(f, weight, eps, max_iter))(_checks.to_planes(x))
  return _checks.from_planes(planes, n, c)


def tv_denoise(images: Any, *, weight: float = 0.1, eps: float = 2e-4,
               max_iter: int = 200) -> jnp.ndarray:
  """Chambolle TV denoising of every channel of every image.

  Args:
    images: (N, H, W, C) float, [0, 1] scale (noisy values outside it are fine).
    weight: > 0, [0, 1]-scale regularization strength (larger = smoother; ~ sigma/255 * 2 for
      AWGN); may be traced.
    eps: relative energy change that stops the iteration.
    max_iter: iteration cap.

  Returns:
    (N, H, W, C) float32, not clipped.
  """
  x = _checks.check_noisy(images)
  if not isinstance(weight, jax.core.Tracer):
    _checks.check_positive(weight, "weight")
  _checks.check_positive(max_iter, "max_iter")
  return _tv(x, jnp.float32(weight), float(eps), int(max_iter))

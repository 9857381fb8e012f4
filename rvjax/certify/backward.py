"""Backward linear bound propagation (CROWN, Zhang et al. 2018) through a traced graph.

To lower-bound sum_k lam_k v_k for a value v (lam: (S, N, *v.shape[1:]), S specifications per
example), the coefficients are pushed from v back to the input, op by op in reverse:

  affine  v = A(w) + b:          lam . v = (A^T lam) . w + lam . b   (A^T by `jax.vjp`);
  relu    v = max(w, c):         z = w - c has bounds [l, u]; relu(z) lies between the lower line
          a_l z (a_l = 1 if u > -l else 0 when unstable; 0 or 1 when stable) and the upper line
          u (z - l) / (u - l) (z when stable active, 0 when inactive); positive coefficients
          take the lower line, negative ones the upper line;
  max pool v = max_window(w):    lower line: the window's entry with the largest lower bound
          (the pool's gradient at l selects it); upper line: the constant max of the upper
          bounds;

and the input's coefficients are concretized over the input box. With `relax=False` the pass
stops at the first relu or pool it meets and concretizes there with that value's interval:
IBP with the last affine layers folded into the specification (Gowal et al.'s elision).
"""
import jax
import jax.numpy as jnp

from rvjax.certify import graph as graph_lib
from rvjax.certify import interval


def _inner(lam: jax.Array, value) -> jax.Array:
  """sum over the non-(S, N) axes of lam * value: (S, N)."""
  value = jnp.broadcast_to(value, lam.shape[1:])
  return jnp.sum(lam * value, axis=tuple(range(2, lam.ndim)))


def relu_relaxation(lower, upper):
  """Lines a_l z <= relu(z) <= a_u z + b_u on [lower, upper] (elementwise, lower <= upper)."""
  active, inactive = lower >= 0, upper <= 0
  gap = jnp.where(active | inactive, 1.0, upper - lower)
  slope = jnp.where(active, 1.0, jnp.where(inactive, 0.0, upper / gap))
  intercept = jnp.where(active | inactive, 0.0, -lower * upper / gap)
  a_lower = jnp.where(active, 1.0, jnp.where(inactive, 0.0, (upper > -lower).astype(lower.dtype)))
  return a_lower, slope, intercept


def lower_bound(graph: graph_lib.Graph, start: int, lam: jax.Array, bounds: dict, *,
                relax: bool) -> jax.Array:
  """A lower bound (S, N) of sum lam * v_start over the input box.

  Args:
    graph: the traced model.
    start: id of the bounded value v.
    lam: (S, N, *shape of v[1:]) coefficients.
    bounds: {id: (lower, upper)} for every value up to `start` (from `interval.propagate`);
      id 0 is the input box.
    relax: relax relus and pools (CROWN) or stop at them (IBP with elision).
  """
  acc, total = {start: lam}, 0.0
  for op in reversed(graph.ops):
    if op.out not in acc:
      continue
    lam = acc.pop(op.out)
    ids = [op.args[i] for i in op.bounded()]
    if op.kind != "affine" and not relax:
      total = total + interval.concretize(lam, *bounds[op.out])
      continue
    pos, neg = jnp.maximum(lam, 0), jnp.minimum(lam, 0)
    if op.kind == "affine":
      zeros = [jnp.zeros(graph.shapes[i], lam.dtype) for i in ids]
      offset, vjp = jax.vjp(op.apply, *zeros)
      total = total + _inner(lam, offset)
      grads = jax.vmap(vjp)(lam)
    elif op.kind == "relu":
      c = next(a for a in op.args if not isinstance(a, int))
      lower, upper = bounds[ids[0]]
      a_lower, a_upper, b_upper = relu_relaxation(lower - c, upper - c)
      lam_in = pos * a_lower + neg * a_upper
      total = total + _inner(lam - lam_in, c) + _inner(neg, b_upper)
      grads = (lam_in,)
    else:  # max pool
      _, select = jax.vjp(op.apply, bounds[ids[0]][0])
      total = total + _inner(neg, bounds[op.out][1])
      grads = jax.vmap(select)(pos)
    for i, g in zip(ids, grads):
      acc[i] = acc[i] + g if i in acc else g
  if 0 in acc:
    total = total + interval.concretize(acc[0], *bounds[0])
  return total


def identity_bounds(graph: graph_lib.Graph, start: int, bounds: dict):
  """CROWN (lower, upper) of value `start`, elementwise: each unit is its own specification."""
  shape = graph.shapes[start]
  size = 1
  for d in shape[1:]:
    size *= d
  eye = jnp.eye(size, dtype=bounds[0][0].dtype).reshape((size, 1) + tuple(shape[1:]))
  eye = jnp.broadcast_to(eye, (size,) + tuple(shape))
  both = lower_bound(graph, start, jnp.concatenate([eye, -eye]), bounds, relax=True)
  lower, upper = both[:size], -both[size:]
  to_value = lambda b: b.T.reshape(shape)
  return to_value(lower), to_value(upper)

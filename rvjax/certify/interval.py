"""Interval bound propagation (IBP) through a traced `graph.Graph`.

Each bounded value v carries elementwise bounds l <= v <= u. Affine ops map the centre
c = (l + u) / 2 exactly and the radius r = (u - l) / 2 through the op with every exact factor
replaced by its absolute value (|W| r for a dense or conv layer); relu and max pooling are
monotone, so they map l and u separately (Gowal et al. 2018).
"""
import jax
import jax.numpy as jnp
from jax import lax

from rvjax.certify import graph as graph_lib


def _radius(op: graph_lib.Op, radii):
  """The radius of op's output given its bounded operands' radii (all >= 0)."""
  name = op.primitive.name
  if name == "neg":
    return radii[0]
  primitive = lax.add_p if name == "sub" else op.primitive
  it = iter(radii)
  args = []
  for a in op.args:
    if isinstance(a, int):
      args.append(next(it))
    elif name in graph_lib.MULTIPLICATIVE:
      args.append(jnp.abs(a))
    else:
      args.append(jnp.zeros_like(a))
  return primitive.bind(*args, **op.params)


def op_interval(op: graph_lib.Op, inputs):
  """(lower, upper) of op's output from [(lower, upper)] of its bounded operands, in order."""
  if op.kind == "affine":
    centre = op.apply(*[(l + u) / 2 for l, u in inputs])
    radius = _radius(op, [(u - l) / 2 for l, u in inputs])
    return centre - radius, centre + radius
  (l, u), = inputs  # relu and max pooling are monotone in their one bounded operand
  return op.apply(l), op.apply(u)


def propagate(graph: graph_lib.Graph, lower, upper, refine=None) -> dict:
  """Bounds of every value in `graph`: {id: (lower, upper)}, id 0 the input box.

  Args:
    graph: the traced model.
    lower, upper: (N, H, W, C) input box.
    refine: optional `(id, bounds) -> (lower, upper)` called once on the input of each relu or
      max pool before it is used (CROWN tightens pre-activation bounds there).
  """
  bounds = {0: (lower, upper)}
  refined = set()
  for op in graph.ops:
    ids = [op.args[i] for i in op.bounded()]
    if refine is not None and op.kind != "affine" and ids[0] not in refined:
      bounds[ids[0]] = refine(ids[0], bounds)
      refined.add(ids[0])
    bounds[op.out] = op_interval(op, [bounds[i] for i in ids])
  return bounds


def concretize(lam: jax.Array, lower, upper) -> jax.Array:
  """min over l <= v <= u of <lam_s, v_n>: lam (S, N, ...) -> (S, N)."""
  axes = tuple(range(2, lam.ndim))
  return (jnp.sum(jnp.maximum(lam, 0) * lower, axis=axes)
          + jnp.sum(jnp.minimum(lam, 0) * upper, axis=axes))

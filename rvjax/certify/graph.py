"""The computation a flax model performs on its input, as a list of operations to bound.

Flax modules are opaque, and activations (`nn.relu`) and pooling (`nn.max_pool`) are plain
functions, not modules, so a module interceptor would miss them. Instead the model's eval-mode
forward pass is traced to a jaxpr (`jax.make_jaxpr`), nested calls (jit, custom_jvp's relu) are
inlined, and every operation whose operands do not depend on the input image is evaluated at
once ("exact": normalization constants, weights, batch-norm scale and shift). What remains is
the list of `Op`s that carry the input's uncertainty, each of one kind:

  affine     linear in its bounded operands given the exact ones: add, sub, neg, mul/div by an
             exact value, dot_general (dense), conv_general_dilated (conv), reduce_sum and
             reduce_window_sum (average pooling), and the shape ops (reshape/flatten, broadcast,
             transpose, squeeze, expand_dims, slice, pad, concatenate, convert_element_type);
  relu       max(x, c) with c exact (relu: c = 0);
  max_pool   reduce_window_max / reduce_max (flax's max pooling; `models.layers.max_pool`'s
             reshape + max over the window axes; global max pooling).

Anything else on the input's path (a product of two input-dependent values, tanh, softmax, ...)
raises ValueError naming the operation and the flax layer it sits in. Batch norm is bounded in
eval mode (running averages), where it is an affine map.
"""
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from jax.extend import core as jax_core

AFFINE = frozenset({
    "add", "sub", "neg", "mul", "div", "dot_general", "conv_general_dilated", "reduce_sum",
    "reduce_window_sum", "reshape", "broadcast_in_dim", "transpose", "squeeze", "expand_dims",
    "slice", "pad", "concatenate", "convert_element_type", "copy", "copy_p"})
# Affine ops scaling a bounded operand by an exact one (the others only add exact values).
MULTIPLICATIVE = frozenset({"mul", "div", "dot_general", "conv_general_dilated"})
MAX_POOL = frozenset({"reduce_window_max", "reduce_max"})
_CALLS = ("jaxpr", "call_jaxpr", "fun_jaxpr")  # params holding an inlinable sub-jaxpr
SUPPORTED = ("dense, conv, relu, max/avg/global pooling, batch norm in eval mode, flatten and "
             "other reshapes, additions (residuals)")


@dataclasses.dataclass(frozen=True)
class Op:
  """One operation on the input's path.

  Attributes:
    kind: "affine", "relu" or "max_pool".
    primitive: the jax primitive.
    params: its parameters.
    args: per operand, an int (the id of a bounded value) or an exact array.
    out: the id of the bounded result.
    layer: the flax module path it runs in (for error messages).
  """
  kind: str
  primitive: Any
  params: dict
  args: tuple
  out: int
  layer: str

  def bounded(self) -> list[int]:
    """Positions of the bounded operands."""
    return [i for i, a in enumerate(self.args) if isinstance(a, int)]

  def apply(self, *values):
    """The op on `values` substituted, in order, for its bounded operands."""
    it = iter(values)
    args = [next(it) if isinstance(a, int) else a for a in self.args]
    return self.primitive.bind(*args, **self.params)


@dataclasses.dataclass(frozen=True)
class Graph:
  """The ops between the input (id 0, shape (N, H, W, C)) and the logits (id `output`)."""
  ops: tuple[Op, ...]
  shapes: dict  # id -> shape of the bounded value
  output: int


def trace(apply_fn, variables, x: jax.Array) -> Graph:
  """Traces `apply_fn(variables, x, train=False)` into a `Graph` (see the module docstring).

  Args:
    apply_fn: a flax module's `apply`.
    variables: its variables ({"params": ..., "batch_stats": ...}).
    x: (N, H, W, C) images; only their shape and dtype matter here.

  Raises:
    ValueError: an unsupported operation on the input's path (naming it and its layer), or
      logits that do not depend on the input.
  """
  closed = jax.make_jaxpr(lambda v, z: apply_fn(v, z, train=False))(variables, x)
  leaves = jax.tree.leaves(variables)
  ops, shapes, counter = [], {0: x.shape}, [1]
  env = {}
  for var, value in zip(closed.jaxpr.invars[:-1], leaves):
    env[var] = value
  env[closed.jaxpr.invars[-1]] = 0
  _inline(closed.jaxpr, closed.consts, env, ops, shapes, counter, "")
  out = _read(env, closed.jaxpr.outvars[0])
  if not isinstance(out, int):
    raise ValueError("The model's logits do not depend on its input; nothing to bound.")
  return Graph(tuple(ops), shapes, out)


def _read(env, atom):
  return atom.val if isinstance(atom, jax_core.Literal) else env[atom]


def _inline(jaxpr, consts, env, ops, shapes, counter, outer_layer):
  for var, value in zip(jaxpr.constvars, consts):
    env[var] = value
  for eqn in jaxpr.eqns:
    args = [_read(env, a) for a in eqn.invars]
    layer = str(eqn.source_info.name_stack) or outer_layer
    if not any(isinstance(a, int) for a in args):
      outs = eqn.primitive.bind(*args, **eqn.params)
      outs = outs if eqn.primitive.multiple_results else [outs]
      env.update(zip(eqn.outvars, outs))
      continue
    sub = next((eqn.params[p] for p in _CALLS if p in eqn.params), None)
    if sub is not None:
      inner = sub.jaxpr if hasattr(sub, "jaxpr") else sub
      inner_consts = sub.consts if hasattr(sub, "consts") else ()
      inner_env = dict(zip(inner.invars, args))
      _inline(inner, inner_consts, inner_env, ops, shapes, counter, layer)
      env.update(zip(eqn.outvars, [_read(inner_env, v) for v in inner.outvars]))
      continue
    kind = _kind(eqn.primitive.name, args)
    if kind is None:
      raise ValueError(f"Bound propagation does not support operation '{eqn.primitive.name}' "
                       f"on the input's path in layer '{layer or 'top level'}'; supported: "
                       f"{SUPPORTED}.")
    out = counter[0]
    counter[0] += 1
    ops.append(Op(kind, eqn.primitive, dict(eqn.params), tuple(args), out, layer))
    shapes[out] = tuple(eqn.outvars[0].aval.shape)
    env[eqn.outvars[0]] = out


def _kind(name: str, args) -> str | None:
  bounded = [isinstance(a, int) for a in args]
  if name in AFFINE:
    if name in MULTIPLICATIVE and sum(bounded) > 1:
      return None  # product of two input-dependent values
    if name == "div" and bounded[1]:
      return None
    if name == "pad" and bounded[1]:
      return None
    return "affine"
  if name == "max" and sum(bounded) == 1:
    return "relu"
  if name in MAX_POOL and bounded[0]:
    return "max_pool"
  return None


def input_box(x: jax.Array, eps) -> tuple[jax.Array, jax.Array]:
  """The L-inf ball of radius eps around x, intersected with [0, 1]: (lower, upper)."""
  return jnp.clip(x - eps, 0.0, 1.0), jnp.clip(x + eps, 0.0, 1.0)


def check_eps(eps) -> None:
  """Raises ValueError unless eps is a non-negative number (a concrete one is checked)."""
  try:
    value = float(eps)
  except (TypeError, jax.errors.ConcretizationTypeError):
    return  # traced (e.g. a ramped eps inside a train step): checked where it is made
  if not value >= 0.0:
    raise ValueError(f"eps must be >= 0, got {value}.")

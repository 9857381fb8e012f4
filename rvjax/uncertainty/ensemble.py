"""Deep ensembles (Lakshminarayanan et al., 2017) as one stacked TrainState.

K members are one pytree with a leading member axis (K, ...) on every leaf (params, batch stats,
optimizer state, temperature). Member m has its own init key `fold_in(key, m)`, its own train
key `fold_in(train_key, m)` and its own data order (`member_seeds`), and all K train in one
jit-compiled step: the single-member `train_step` mapped over (state, batch, key). With
`shared_batch` (config.ensemble.shared_batch) every member reads the same batches (B, ...) in
the single model's order instead, and members differ by init and keys only (Lakshminarayanan
et al. also train every member on the whole training set, though shuffled per member); the
batch is then broadcast, not mapped. They save and restore as one checkpoint and may be
sharded over the mesh's "member" axis (P("member") on the state, P("member", "data") on the
batch).

The prediction averages member probabilities, never logits: `pooled` returns
log(mean_m softmax(logits_m)), which every evaluator takes as logits unchanged.

Formulations of "map over members", chosen by `config.ensemble.formulation` (ratios: time of
the K-member step / K single steps, measured on a shared 2-core CPU with
benchmarks/ensemble_throughput.py, K = 2..8, batch 64 per member):
  * "vmap": `jax.vmap`; convolutions with per-member kernels become grouped convolutions. The
    usual fast path on GPU/TPU (not measured here: no accelerator) and the only one that shards
    members over devices without gathers. XLA:CPU grouped convolutions are slow: 2.0-2.5x
    (digits CNN), 3.6-3.7x (ResNet-20).
    With `config.model.conv_impl="im2col"` (rvjax.models.layers.Im2colConv) they become batched
    matmuls instead: in CPU time digits CNN 0.9-1.6x, ResNet-20 1.5x (K = 2) to 1.1x (K = 8),
    better than grouped convolutions but not than "unroll". The patches (kh * kw times the
    activations) cost more on XLA:CPU than a convolution: a 3x3 16->16 conv on 64 images of
    32x32 takes 150 ms (forward + gradients) as im2col against 26 ms as a convolution.
  * "unroll": a Python loop over members inside the one jitted step (K independent sub-graphs;
    compile time grows with K). The CPU fast path (sixteenth session, launched as
    `launch.train` runs an ensemble, `host_memory.keep_freed_memory(one_arena=False)`): digits
    CNN 0.80, 0.74, 0.75 at K = 2, 4, 8 (0.89, 0.76, 0.95 with glibc's malloc defaults, under
    which its K = 8 step's 37 MB buffer is faulted in anew every call); ResNet-20 1.01, 0.91,
    0.93. Figures before the fifteenth session were biased low and are withdrawn.
  * "map": `jax.lax.map`, one member at a time (least memory). On XLA:CPU 25-50x: convolution
    gradients inside a loop body run far slower there.
  * "auto": "vmap" on GPU/TPU or when members are sharded over devices, else ("cpu") "unroll".
`shared_batch` brought no saving on CPU ("unroll": digits CNN 0.99, 0.83, 0.77 at K = 2, 4, 8;
ResNet-20 0.98, 0.93, 0.89).

Import direction: train.loop imports this module, so it never imports rvjax.train; the loop
hands it the single-member `init(key) -> state`, `step(state, batch, key)` and
`logits_fn(state, images)`.
"""
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from rvjax import sharding, validate

FORMULATIONS = ("auto", "vmap", "unroll", "map")


def resolve(formulation: str, mesh: Mesh | None = None, backend: str | None = None) -> str:
  """The concrete formulation for "auto" (see module docstring); others are returned as is."""
  validate.check_choice(formulation, "ensemble.formulation", FORMULATIONS)
  if formulation != "auto":
    return formulation
  if mesh is not None and mesh.shape[sharding.MEMBER_AXIS] > 1:
    return "vmap"
  return "unroll" if (backend or jax.default_backend()) == "cpu" else "vmap"


def mesh_members(size: int) -> int:
  """Devices on the mesh's member axis for K=`size` members: gcd(K, device count)."""
  validate.check_positive(size, "ensemble.size")
  return math.gcd(int(size), jax.device_count())


def member_keys(key: jax.Array, size: int) -> jax.Array:
  """(K,) keys, member m's being `fold_in(key, m)`."""
  return jax.vmap(lambda m: jax.random.fold_in(key, m))(jnp.arange(size))


def member_seeds(seed: int, size: int) -> tuple[int, ...]:
  """Data-order seeds of the K members (member 0 reads the single model's order)."""
  return tuple(int(seed) + m for m in range(size))


def member_sharding(mesh: Mesh) -> NamedSharding:
  """Leading member axis on the mesh's "member" axis, the rest replicated."""
  return NamedSharding(mesh, P(sharding.MEMBER_AXIS))


def over_members(fn: Callable, formulation: str, in_axes=0) -> Callable:
  """`fn` mapped over a leading member axis, like `jax.vmap(fn, in_axes)`, by `formulation`.

  Args:
    fn: a pure function of positional pytree args.
    formulation: "vmap", "unroll" or "map" (resolve "auto" first).
    in_axes: 0 (every arg mapped) or a tuple of 0 / None per positional arg.
  """
  if formulation == "vmap":
    return jax.vmap(fn, in_axes=in_axes)
  validate.check_choice(formulation, "ensemble.formulation", FORMULATIONS[1:])

  def mapped(*args):
    axes = in_axes if isinstance(in_axes, (tuple, list)) else (in_axes,) * len(args)
    members = [a for a, ax in zip(args, axes) if ax == 0]

    def one(member_args):
      it = iter(member_args)
      return fn(*(next(it) if ax == 0 else a for a, ax in zip(args, axes)))

    if formulation == "map":
      return jax.lax.map(one, members)
    size = jax.tree.leaves(members)[0].shape[0]
    outs = [one(jax.tree.map(lambda x, m=m: x[m], members)) for m in range(size)]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *outs)

  return mapped


def abstract_state(init: Callable, size: int, mesh: Mesh) -> Any:
  """Shapes, dtypes and member shardings of the stacked state of `init(key) -> state`."""
  abstract = jax.eval_shape(jax.vmap(init), member_keys(jax.random.key(0), size))
  target = member_sharding(mesh)
  return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=target), abstract)


def create(init: Callable, key: jax.Array, size: int, mesh: Mesh) -> Any:
  """The stacked state: `init` vmapped over the K member keys, sharded over "member"."""
  return jax.jit(jax.vmap(init), out_shardings=member_sharding(mesh))(member_keys(key, size))


def reduce_metrics(metrics: dict) -> dict:
  """Per-member (K,) step metrics -> their mean, `finite` = min, plus `loss_members` (K,)."""
  out = {k: (jnp.min(v) if k == "finite" else jnp.mean(v)) for k, v in metrics.items()}
  out["loss_members"] = metrics["loss"]
  return out


def compile_step(member_step: Callable, formulation: str, mesh: Mesh, *,
                 shared_batch: bool = False) -> Callable:
  """Jitted `(stacked state, batch (K, B, ...), keys (K,)) -> (state, reduced metrics)`.

  Args:
    member_step: the single-member `(state, batch, key) -> (state, metrics)`.
    formulation: "vmap", "unroll" or "map".
    mesh: the state stays sharded over its "member" axis; the state is donated.
    shared_batch: every member trains on the same batch (B, ...), which has no member axis;
      members still differ by init and step keys.
  """
  mapped = over_members(member_step, formulation, in_axes=(0, None, 0) if shared_batch else 0)

  def step(state, batch, keys):
    state, metrics = mapped(state, batch, keys)
    return state, reduce_metrics(metrics)

  # Plain jax.jit, unlike the single step's compiler.gradient_jit: on XLA:CPU its options (dots
  # and reductions to YNNPACK) made the K = 8 "unroll" step (shared batch, fresh processes,
  # malloc defaults) slower on ResNet-20 (1355-1386 against 1320 ms) and left the digits CNN
  # where it was (38-40 ms either way); earlier same-process A/Bs had dots alone 5-16% slower,
  # "vmap" with im2col convs 8-10% slower, and only "vmap" with XLA's grouped convs gaining (it
  # stays the slowest).
  return jax.jit(step, donate_argnums=0,
                 out_shardings=(member_sharding(mesh), sharding.replicated(mesh)))


def pool(logits: jax.Array, axis: int = 0) -> jax.Array:
  """log(mean softmax) over `axis`: (M, N, K) logits -> (N, K) log-probabilities.

  Averages probabilities, never logits; softmax of the result is the mean of the M softmaxes.
  """
  return jax.nn.logsumexp(jax.nn.log_softmax(logits, -1), axis=axis) - np.log(logits.shape[axis])


def pooled(logits_fn: Callable, formulation: str) -> Callable:
  """`(stacked state, images (N, ...)) -> (N, K)` log mean member probabilities.

  Args:
    logits_fn: one member's `(state, images) -> (N, K)` logits (or log-probabilities).
    formulation: "vmap", "unroll" or "map"; the images are shared by all members.
  """
  member_logits = over_members(logits_fn, formulation, in_axes=(0, None))
  return lambda state, images: pool(member_logits(state, images))

"""Optimizers, schedules and per-group learning rates, all from config and all from optax.

The optimizer is `clip -> multi_transform({group: inject_hyperparams(opt)(learning_rate=schedule,
lr_scale=1.0)})`. Each parameter group (a regex over "/"-joined parameter paths) carries its own
`lr_scale` in the optimizer state, so a learning-rate policy can change the effective rate
`schedule(step) * lr_scale` of any group between steps without recompiling: use `lr_scales` and
`set_lr_scales`.

Config (`config.optimizer`): name in {"sgd", "adam", "adamw"}, lr (peak, > 0), momentum,
nesterov, b1, b2, weight_decay (coupled L2 for sgd/adam, decoupled for adamw; kernels only),
grad_clip_norm (0 = off), groups (a sequence of (name, regex) pairs, e.g. (("head", "Dense"),
("backbone", ".*")); the first match wins; every parameter must match one). `config.schedule`:
name in {"constant", "cosine", "piecewise", "onecycle"}, warmup_steps, and for piecewise
`boundaries` (fractions of training) and `factors`.
"""
import functools
import re

import jax
import jax.numpy as jnp
import optax

from rvjax import validate

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "piecewise", "onecycle")


def make_schedule(cfg, lr: float, total_steps: int) -> optax.Schedule:
  """The learning-rate schedule (step -> lr) for `total_steps` steps with peak `lr`."""
  validate.check_choice(cfg.name, "schedule", SCHEDULES)
  validate.check_positive(total_steps, "total_steps")
  warmup = int(cfg.get("warmup_steps", 0))
  if not 0 <= warmup < total_steps:
    raise ValueError(f"schedule.warmup_steps={warmup} must be in [0, total_steps={total_steps}).")
  if cfg.name == "onecycle":  # Triangular: 0 -> lr at 2/5 of training -> 0 (Fast-AT's cyclic LR).
    peak = max(1, int(0.4 * total_steps))
    return optax.join_schedules(
        [optax.linear_schedule(0.0, lr, peak), optax.linear_schedule(lr, 0.0, total_steps - peak)],
        [peak])
  decay_steps = total_steps - warmup
  if cfg.name == "constant":
    main = optax.constant_schedule(lr)
  elif cfg.name == "cosine":
    main = optax.cosine_decay_schedule(lr, decay_steps)
  else:
    boundaries = list(cfg.boundaries)
    factors = list(cfg.factors)
    if len(boundaries) != len(factors) or any(not 0 < b < 1 for b in boundaries):
      raise ValueError("schedule.boundaries must be fractions in (0, 1), one per factor; got "
                       f"{boundaries} and {factors}.")
    main = optax.piecewise_constant_schedule(
        lr, {int(b * decay_steps): f for b, f in zip(boundaries, factors)})
  if warmup == 0:
    return main
  return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main], [warmup])


def _base_optimizer(learning_rate, lr_scale, *, name, momentum, nesterov, b1, b2, weight_decay):
  lr = learning_rate * lr_scale
  decay_mask = lambda params: jax.tree.map(lambda p: p.ndim > 1, params)
  if name == "adamw":
    return optax.adamw(lr, b1=b1, b2=b2, weight_decay=weight_decay, mask=decay_mask)
  l2 = optax.add_decayed_weights(weight_decay, mask=decay_mask)
  if name == "adam":
    return optax.chain(l2, optax.adam(lr, b1=b1, b2=b2))
  return optax.chain(l2, optax.sgd(lr, momentum=momentum or None, nesterov=nesterov))


def parse_groups(groups) -> tuple[tuple[str, str], ...]:
  """Validates optimizer.groups: a non-empty sequence of (name, regex) pairs, names unique."""
  pairs = tuple(tuple(g) for g in groups)
  if not pairs or any(len(p) != 2 for p in pairs) or len({n for n, _ in pairs}) != len(pairs):
    raise ValueError("optimizer.groups must be a non-empty sequence of (name, regex) pairs with "
                     f"unique names, e.g. (('all', '.*'),); got {groups!r}.")
  return pairs


def param_groups(params, groups):
  """Labels each leaf of `params` with the first group whose regex matches its "/" path."""
  compiled = [(name, re.compile(rx)) for name, rx in parse_groups(groups)]

  def label(path, _):
    name = "/".join(str(getattr(k, "key", k)) for k in path)
    for group, rx in compiled:
      if rx.search(name):
        return group
    raise ValueError(f"Parameter {name!r} matches no optimizer group in {groups}.")

  return jax.tree_util.tree_map_with_path(label, params)


def make_optimizer(cfg, schedule_cfg, total_steps: int) -> optax.GradientTransformation:
  """Builds the optimizer of `cfg` (config.optimizer) with `schedule_cfg` (config.schedule)."""
  validate.check_choice(cfg.name, "optimizer", OPTIMIZERS)
  validate.check_positive(cfg.lr, "optimizer.lr")
  validate.check_positive(cfg.weight_decay, "optimizer.weight_decay", allow_zero=True)
  schedule = make_schedule(schedule_cfg, cfg.lr, total_steps)
  base = functools.partial(
      _base_optimizer, name=cfg.name, momentum=cfg.momentum, nesterov=cfg.nesterov, b1=cfg.b1,
      b2=cfg.b2, weight_decay=cfg.weight_decay)
  groups = parse_groups(cfg.groups)
  static = ("name", "momentum", "nesterov", "b1", "b2", "weight_decay")
  transforms = {g: optax.inject_hyperparams(base, static_args=static)(
      learning_rate=schedule, lr_scale=1.0) for g, _ in groups}
  tx = optax.multi_transform(transforms, functools.partial(param_groups, groups=groups))
  if cfg.grad_clip_norm:
    tx = optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), tx)
  return tx


def _partition_state(opt_state):
  states = opt_state if isinstance(opt_state, tuple) and not hasattr(opt_state, "inner_states") \
      else (opt_state,)
  for s in states:
    if hasattr(s, "inner_states"):
      return s
  raise ValueError("opt_state was not built by rvjax.train.optim.make_optimizer.")


def lr_scales(opt_state) -> dict[str, jax.Array]:
  """The per-group learning-rate multipliers {group: scalar}."""
  part = _partition_state(opt_state)
  return {g: s.inner_state.hyperparams["lr_scale"] for g, s in part.inner_states.items()}


def learning_rates(opt_state) -> dict[str, jax.Array]:
  """The effective learning rate of each group at the last step: {"lr/<group>": scalar}."""
  part = _partition_state(opt_state)
  return {f"lr/{g}": s.inner_state.hyperparams["learning_rate"] * s.inner_state.hyperparams[
      "lr_scale"] for g, s in part.inner_states.items()}


def set_lr_scales(opt_state, scales: dict[str, float]):
  """Returns `opt_state` with the groups' lr_scale replaced; pure and jit-compatible.

  A value is a scalar, or (K,) per member for a stacked ensemble (scalars broadcast).
  """
  part = _partition_state(opt_state)
  unknown = set(scales) - set(part.inner_states)
  if unknown:
    raise ValueError(f"Unknown optimizer groups {sorted(unknown)}; have {sorted(part.inner_states)}.")
  inner = dict(part.inner_states)
  for g, value in scales.items():
    masked = inner[g]
    hyper = dict(masked.inner_state.hyperparams)
    current = jnp.asarray(hyper["lr_scale"])  # () or (K,) for a stacked ensemble.
    hyper["lr_scale"] = jnp.broadcast_to(jnp.asarray(value, current.dtype), current.shape)
    inner[g] = masked._replace(inner_state=masked.inner_state._replace(hyperparams=hyper))
  new_part = part._replace(inner_states=inner)
  if isinstance(opt_state, tuple) and not hasattr(opt_state, "inner_states"):
    return tuple(new_part if s is part else s for s in opt_state)
  return new_part

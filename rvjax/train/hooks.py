"""Host-side hooks run between train steps: guards, learning-rate policies, rollbacks.

A hook is built from an entry of `config.hooks` (its `type` names a registered class, its other
fields are keyword arguments) and is called every `every_steps` steps, after the update:

    hook(step, state, ctx) -> HookResult(state, stop, metrics)

It may return a changed state (e.g. new per-group `lr_scale`s via `optim.set_lr_scales`, or a
rolled-back copy it kept), ask the loop to stop early, and report scalar metrics, which the loop
writes as "<hook name>/<metric>". `ctx` carries what hooks may use: the jitted `predict_fn`, the
mesh, the config, the train and val datasets and the run's base key. A hook registers itself with
`@register("type")`.
"""
import dataclasses
from typing import Any

from rvjax import validate

_REGISTRY: dict[str, type] = {}


@dataclasses.dataclass(frozen=True)
class HookContext:
  """What the loop hands every hook call."""
  predict_fn: Any  # (state, images) -> logits, eval mode, jitted.
  apply_fn: Any  # the model's apply, for hooks that need train-mode passes or gradients.
  mesh: Any
  config: Any
  train_ds: Any
  val_ds: Any
  # The step's base key, `replicas.train_key(train_key)` (rvjax.train.replicas): the run's train
  # key for one model (and MC dropout over one model); (K,) member keys, member m's
  # fold_in(train_key, m), for a K-member ensemble.
  key: Any


@dataclasses.dataclass(frozen=True)
class HookResult:
  state: Any
  stop: bool = False
  metrics: dict = dataclasses.field(default_factory=dict)


def register(kind: str):
  """Class decorator adding a hook type to the registry."""
  def wrap(cls):
    _REGISTRY[kind] = cls
    return cls
  return wrap


def names() -> list[str]:
  """Registered hook types."""
  return sorted(_REGISTRY)


def create(kind: str, **kwargs):
  """Builds hook `kind` with its config fields; unknown types raise ValueError."""
  validate.check_choice(kind, "hook type", _REGISTRY)
  every = kwargs.pop("every_steps", 1)
  validate.check_positive(every, "hooks.every_steps", integer=True)
  hook = _REGISTRY[kind](**kwargs)
  hook.every_steps = every
  return hook

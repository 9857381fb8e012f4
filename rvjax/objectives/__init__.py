"""Training objectives `(params, model_state, batch, key) -> (loss, (model_state, metrics))`.

Each family lives in its own module exposing `make(apply_fn, **kwargs) -> objective`; `create`
looks one up by the name a config gives.
"""
import inspect

from rvjax import validate
from rvjax.objectives import (adversarial, augmented, augmix, certified, degraded, distill,
                              enhancement, erm, restoration, self_training, syn2real)

_REGISTRY = {"erm": erm.make, "pgd_at": adversarial.make_pgd_at,
             "fast_at": adversarial.make_fast_at, "trades": adversarial.make_trades,
             "augmix": augmix.make, "distill": distill.make,
             "restoration": restoration.make, "zero_dce": enhancement.make_zero_dce,
             "enlightengan": enhancement.make_enlightengan,
             "syn2real": syn2real.make_guided, "csg": syn2real.make_csg,
             "ibp": certified.make_ibp, "crown_ibp": certified.make_crown_ibp,
             "gaussian_noise": certified.make_gaussian_noise,
             "self_training": self_training.make}


def names() -> list[str]:
  """Registered objective names."""
  return sorted(_REGISTRY)


def create(name: str, apply_fn, **kwargs):
  """The objective `name` built around `apply_fn`; unknown names or kwargs raise ValueError."""
  validate.check_choice(name, "objective", _REGISTRY)
  make = _REGISTRY[name]
  params = inspect.signature(make).parameters
  valid = [p for p in params if p != "apply_fn"]
  unknown = sorted(set(kwargs) - set(valid))
  if unknown and all(p.kind != p.VAR_KEYWORD for p in params.values()):
    raise ValueError(f"Objective {name!r} has no argument(s) {', '.join(unknown)}; valid: "
                     f"{', '.join(valid)}.")
  return make(apply_fn, **kwargs)

"""Training objectives `(params, model_state, batch, key) -> (loss, (model_state, metrics))`.

Each family lives in its own module exposing `make(apply_fn, **kwargs) -> objective`; `create`
looks one up by the name a config gives.
"""
from rvjax import validate
from rvjax.objectives import erm

_REGISTRY = {"erm": erm.make}


def names() -> list[str]:
  """Registered objective names."""
  return sorted(_REGISTRY)


def create(name: str, apply_fn, **kwargs):
  """The objective `name` built around `apply_fn`; unknown names raise ValueError."""
  validate.check_choice(name, "objective", _REGISTRY)
  return _REGISTRY[name](apply_fn, **kwargs)

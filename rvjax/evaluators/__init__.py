"""Evaluators: `Evaluator(predict_fn, **cfg).run(state) -> iterator of (name, value)`.

The trainer builds one per entry of `config.evals` (its `type` names the module) and hands it a
jitted `predict_fn(state, images) -> logits`; evaluators never touch the model.
"""
from rvjax import validate
from rvjax.evaluators import classification

_REGISTRY = {"classification": classification.Evaluator}


def names() -> list[str]:
  """Registered evaluator types."""
  return sorted(_REGISTRY)


def create(kind: str, predict_fn, **kwargs):
  """Builds the evaluator of type `kind`; unknown types raise ValueError."""
  validate.check_choice(kind, "evaluator type", _REGISTRY)
  return _REGISTRY[kind](predict_fn, **kwargs)

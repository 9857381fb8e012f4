"""Evaluators: `Evaluator(predict_fn, **cfg).run(state) -> iterator of (name, value)`.

The trainer builds one per entry of `config.evals` (its `type` names the module) and hands it a
jitted `predict_fn(state, images) -> logits`; evaluators never touch the model.
"""
import inspect

from rvjax import validate
from rvjax.evaluators import (adversarial, calibration, certified, classification, corruption,
                              enhance_classify, ood, restoration, smoothing)

_REGISTRY = {"classification": classification.Evaluator, "adversarial": adversarial.Evaluator,
             "calibration": calibration.Evaluator, "corruption": corruption.Evaluator,
             "ood": ood.Evaluator, "smoothing": smoothing.Evaluator,
             "certified": certified.Evaluator, "restoration": restoration.Evaluator,
             "enhance_classify": enhance_classify.Evaluator}


def names() -> list[str]:
  """Registered evaluator types."""
  return sorted(_REGISTRY)


def create(kind: str, predict_fn, *, workdir: str | None = None, member_logits_fn=None,
           apply_fn=None, name: str | None = None, **kwargs):
  """Builds the evaluator of type `kind`; unknown types raise ValueError.

  Optional context goes only to evaluators whose constructor takes it: `workdir` (the run's
  directory, for plots and reports) and `member_logits_fn` (`(state, images) -> (M, B, K)`
  logits of ensemble members or MC-dropout samples, for mutual information; None otherwise)
  and `apply_fn` (the model's flax apply, for bound propagation: `certified`) and `name` (the
  eval's key in config.evals, naming files it keeps in the workdir: `restoration`'s samples).
  """
  validate.check_choice(kind, "evaluator type", _REGISTRY)
  cls = _REGISTRY[kind]
  accepted = inspect.signature(cls).parameters
  context = {"workdir": workdir, "member_logits_fn": member_logits_fn, "apply_fn": apply_fn,
             "name": name}
  kwargs.update({k: v for k, v in context.items() if k in accepted})
  return cls(predict_fn, **kwargs)

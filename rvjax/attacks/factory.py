"""One attack factory: `create(name, **cfg) -> attack(logits_fn, x, y, key, eps) -> x_adv`.

Used alike by the adversarial objectives (PGD-AT, Fast-AT), the adversarial evaluator and the
Fast-AT guard, so a name and its step-size defaults mean the same thing everywhere. eps is a call
argument (the evaluator sweeps it); step sizes are relative to eps unless given absolutely.

Kinds and their settings (defaults in `REL_STEP`, the only place step-size defaults live):
  fgsm        rel_alpha=1 (or alpha): one step of length alpha from x (Goodfellow et al.).
  fgsm_rs     rel_alpha=1.25 (or alpha): FGSM from a uniform random start (Wong et al.'s Fast-AT).
  pgd         steps=10, restarts=1, rel_step_size=2.5/steps (or step_size; Madry et al.),
              loss="ce" ("margin", "dlr"), select="best" or "last" (see `rvjax.attacks.pgd`).
  apgd_ce     steps=100: Auto-PGD on the cross-entropy (step-size free).
  autoattack  steps=100, n_target_classes=9 (capped at K - 1): APGD-CE then APGD-T.
  spatial     max_rotation=30, max_translation=3 (pixels of a 32-px image: scaled by W / 32),
              grid=(5, 5, 31), batch_size=25; ignores eps.
An unknown name or setting raises ValueError listing the valid ones.
"""
import inspect
from typing import Callable

import jax

from rvjax import validate
from rvjax.attacks import geometric, gradient
from rvjax.attacks.auto_pgd import apgd, autoattack

# Step sizes as multiples of eps: fgsm's alpha, Fast-AT's alpha (Wong et al.: 1.25 eps), and
# PGD's step per iteration count (Madry et al.: 2.5 eps / steps; 2/255 at eps 8/255, 10 steps).
REL_STEP = {"fgsm": 1.0, "fgsm_rs": 1.25, "pgd": 2.5}
EPS_FREE = ("spatial",)


def _step(name: str, absolute, relative, default_rel: float):
  """`eps -> step`: the absolute step `name` if given, else relative (rel_`name`, default
  `default_rel`) * eps."""
  if absolute is not None and relative is not None:
    raise ValueError(f"Give either {name} or rel_{name} (relative to eps), not both.")
  if absolute is not None:
    validate.check_positive(absolute, name)
    return lambda eps: absolute
  rel = default_rel if relative is None else relative
  validate.check_positive(rel, f"rel_{name}")
  return lambda eps: rel * eps


def _fgsm(norm, *, alpha=None, rel_alpha=None):
  step = _step("alpha", alpha, rel_alpha, REL_STEP["fgsm"])
  return lambda f, x, y, key, eps: gradient.fgsm(f, x, y, eps=eps, norm=norm, alpha=step(eps))


def _fgsm_rs(norm, *, alpha=None, rel_alpha=None):
  step = _step("alpha", alpha, rel_alpha, REL_STEP["fgsm_rs"])
  return lambda f, x, y, key, eps: gradient.fgsm(f, x, y, eps=eps, norm=norm, key=key,
                                                 alpha=step(eps))


def _pgd(norm, *, steps=10, restarts=1, step_size=None, rel_step_size=None, loss="ce",
         select="best"):
  validate.check_positive(steps, "steps")
  step = _step("step_size", step_size, rel_step_size, REL_STEP["pgd"] / steps)
  return lambda f, x, y, key, eps: gradient.pgd(
      f, x, y, key=key, eps=eps, step_size=step(eps), steps=steps, norm=norm, restarts=restarts,
      loss=loss, select=select)


def _apgd_ce(norm, *, steps=100):
  return lambda f, x, y, key, eps: apgd(f, x, y, key=key, eps=eps, steps=steps, norm=norm,
                                        loss="ce")


def _autoattack(norm, *, steps=100, n_target_classes=9):
  def attack(f, x, y, key, eps):
    num_classes = jax.eval_shape(f, x).shape[-1]
    return autoattack(f, x, y, key=key, eps=eps, norm=norm, steps=steps,
                      n_target_classes=min(n_target_classes, num_classes - 1))
  return attack


def _spatial(norm, *, max_rotation=30.0, max_translation=3.0, grid=(5, 5, 31), batch_size=25):
  return lambda f, x, y, key, eps: geometric.spatial(
      f, x, y, max_rotation=max_rotation, max_translation=max_translation * x.shape[2] / 32,
      grid=tuple(grid), batch_size=batch_size)


BUILDERS = {"fgsm": _fgsm, "fgsm_rs": _fgsm_rs, "pgd": _pgd, "apgd_ce": _apgd_ce,
            "autoattack": _autoattack, "spatial": _spatial}


def create(name: str, *, norm: str = "linf", **cfg) -> Callable:
  """The attack `name` with settings `cfg` (see the module docstring).

  Args:
    name: one of `BUILDERS`.
    norm: "linf" or "l2".
    **cfg: the kind's settings; unknown ones raise ValueError.

  Returns:
    `attack(logits_fn, x (N, H, W, C) in [0, 1], y (N,), key, eps) -> x_adv` of x's shape.
  """
  validate.check_choice(name, "attack type", BUILDERS)
  validate.check_choice(norm, "norm", ("linf", "l2"))
  builder = BUILDERS[name]
  valid = list(inspect.signature(builder).parameters)[1:]
  unknown = sorted(set(cfg) - set(valid))
  if unknown:
    raise ValueError(f"Attack type {name!r} has no argument(s) {', '.join(unknown)}; valid: "
                     f"{', '.join(valid) or 'none'}.")
  return builder(norm, **cfg)

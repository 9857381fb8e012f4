"""Tasks: what a run learns, named by its batch schema.

A task fixes the entries of every batch (checked by `rvjax.validate.check_batch(batch, task)`),
where its data comes from, and the objective and evaluators a config gets unless it names others:

| task           | batch                                                  | data                     |
|----------------|--------------------------------------------------------|--------------------------|
| classification | image (B,H,W,C), label (B,) int32, mask (B,)           | rvjax.data.load + iterator |
| paired         | image (degraded), target (clean), mask                 | rvjax.data.image_folder  |
| unpaired       | image (set A), reference (set B, not aligned), mask    | rvjax.data.image_folder  |

A paired task may carry the clean `target` only and make `image` inside the jitted step with a
degradation `f(key, images) -> images` (rvjax.objectives.degraded), so every step sees fresh noise.
"""
import dataclasses

from rvjax import validate


@dataclasses.dataclass(frozen=True)
class Task:
  """A task's schema and defaults.

  Attributes:
    name: the key of `rvjax.validate.BATCH_SCHEMAS`.
    schema: the batch entries it needs.
    data: the module that yields its batches.
    objective: the default objective (an `rvjax.objectives.create` name).
    evals: the default evaluator types (`rvjax.evaluators.create` names).
  """
  name: str
  schema: tuple[str, ...]
  data: str
  objective: str
  evals: tuple[str, ...]


TASKS = {
    "classification": Task("classification", validate.BATCH_SCHEMAS["classification"],
                           "rvjax.data.iterator", "erm", ("classification", "calibration")),
    "paired": Task("paired", validate.BATCH_SCHEMAS["paired"], "rvjax.data.image_folder",
                   "restoration", ("restoration",)),
    # Zero-DCE needs no reference; EnlightenGAN (three players) also reads set B.
    "unpaired": Task("unpaired", validate.BATCH_SCHEMAS["unpaired"], "rvjax.data.image_folder",
                     "zero_dce", ("restoration",)),
}


def get(name: str) -> Task:
  """The task called `name`; ValueError listing the tasks otherwise."""
  validate.check_choice(name, "task", TASKS)
  return TASKS[name]

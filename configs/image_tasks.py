"""Pieces the image-to-image configs share: a paired/unpaired folder task and its evals.

A folder task reads `data.kwargs.folders[split]` (relative names under
../shared/data/restoration, or `data.data_dir`) as random `patch` x `patch` crops with the 8
dihedral transforms (rvjax.data.image_folder). `degrade` names the on-device degradation that
makes a paired batch's input from its clean target inside the step (rvjax.objectives.degraded);
the "restoration" eval applies the same transform once, with fixed keys, to the test folder.
"""
import ml_collections

from configs import common


def degrade_spec(name: str = "", **kwargs) -> dict:
  """config.degrade / an eval's `degrade`: a transform `f(key, images)` by dotted name."""
  return {"name": name, "kwargs": kwargs}


def restoration_eval(folder: str, degrade: dict, *, channels: int = 1, y_channel: bool = False,
                     crop: int = 0, limit: int = 0, niqe: bool = False) -> dict:
  """An entry of config.evals running rvjax.evaluators.restoration on `folder`."""
  return {"type": "restoration", "folder": folder, "degrade": degrade, "channels": channels,
          "y_channel": y_channel, "crop": crop, "limit": limit, "niqe": niqe, "seed": 0}


def folder_task(task: str, *, train: str, test: str = "", reference: str = "", channels: int,
                patch: int, degrade: dict) -> ml_collections.ConfigDict:
  """common.base() for a paired or unpaired folder task (no evals yet: add them)."""
  c = common.base()
  c.task = task
  c.data = ml_collections.ConfigDict({
      "name": "image_folder", "data_dir": "",
      "kwargs": {"folders": {"train": train, "test": test}, "reference": reference,
                 "channels": channels, "patch": patch}})
  c.degrade = ml_collections.ConfigDict(degrade)
  c.objective = ml_collections.ConfigDict({"name": "restoration", "kwargs": {"loss": "mse"}})
  c.evals = ml_collections.ConfigDict()
  c.optimizer.update(name="adam", lr=1e-3)
  c.schedule.update(name="piecewise", boundaries=(0.6,), factors=(0.1,))
  return c


def shrink(c, *, model: str, batch_size: int = 4, steps: int = 3) -> None:
  """The `:tiny` variant of an image config: a tiny model, a few steps, two eval images."""
  c.model.name = model
  c.batch_size = batch_size
  c.total_steps = steps
  c.log_every_steps = 1
  c.progress = False
  for e in c.evals.values():
    if e.type == "restoration":
      e.limit = 1

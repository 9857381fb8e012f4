"""Metric writers: `workdir/metrics.jsonl` (one flat JSON object per write) and TensorBoard.

Each record is appended with one `write` call of a whole line; rewrites (`truncate_after`) go
through `atomic_write`, so a crash leaves either the old file or the new one, never a mix.
"""
import json
import math
import os

import jax
import numpy as np

from rvjax.report.records import METRICS_FILE, atomic_write, read_metrics  # noqa: F401 (re-exported)


def _to_python(value):
  value = np.asarray(jax.device_get(value))
  return value.item() if value.size == 1 else value.tolist()


class MetricWriter:
  """Appends `{"step": s, "split/metric": value, ...}` lines and TensorBoard scalars.

  Only process 0 writes. `truncate_after(step)` drops lines logged after `step` (used when a run
  resumes from a checkpoint older than its last log lines), so the file never repeats a step.
  """

  def __init__(self, workdir: str, *, tensorboard: bool = True):
    self.path = os.path.join(workdir, METRICS_FILE)
    self._active = jax.process_index() == 0
    self._tb = None
    if self._active and tensorboard:
      from tensorboardX import SummaryWriter
      self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

  def write(self, step: int, metrics: dict) -> dict:
    """Writes scalars (and small lists) for `step`; returns what was written."""
    record = {"step": int(step), **{k: _to_python(v) for k, v in metrics.items()}}
    if not self._active:
      return record
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")
    if self._tb is not None:
      for k, v in record.items():
        if k != "step" and isinstance(v, (int, float)) and math.isfinite(v):
          self._tb.add_scalar(k, v, int(step))
      self._tb.flush()
    return record

  def truncate_after(self, step: int) -> None:
    """Removes records with a step greater than `step`."""
    if not (self._active and os.path.exists(self.path)):
      return
    kept = [line for line in read_metrics(self.path) if line["step"] <= step]
    atomic_write(self.path, "".join(json.dumps(r) + "\n" for r in kept))

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()

"""Calibration evaluator: accuracy, NLL, Brier, ECE variants and a reliability diagram per split."""
import os

import jax

from rvjax import metrics
from rvjax.evaluators import predictions


class Evaluator:
  """Calibration of `predict_fn(state, images) -> logits` on `split`.

  Args:
    predict_fn: `(state, images (B,H,W,C) in [0,1]) -> logits (B, K)` (or log-probabilities, as
      for ensembles and MC dropout; temperature scaling is already inside).
    data: the config's data block (name, data_dir, kwargs).
    mesh: the device mesh; batches are sharded over its data axis.
    split: "train", "val" or "test".
    batch_size: eval batch size (a multiple of the data-axis size).
    num_bins: equal-width (ece, classwise_ece, diagram) and equal-mass (adaptive_ece) bins.
    workdir: when given, the reliability diagram is written (process 0) to
      `workdir/plots/reliability_<split>_<step>.png`; None writes nothing.
  """

  def __init__(self, predict_fn, *, data, mesh, split: str = "test", batch_size: int = 256,
               num_bins: int = 15, workdir: str | None = None):
    self.predict_fn = predict_fn
    self.mesh = mesh
    self.split = split
    self.batch_size = batch_size
    self.num_bins = num_bins
    self.workdir = workdir
    self.dataset = predictions.load_split(data, split)

  def diagram_path(self, step: int) -> str | None:
    """Where `run` writes the reliability diagram of a state at `step` (None: nowhere)."""
    if not self.workdir:
      return None
    return os.path.join(self.workdir, "plots", f"reliability_{self.split}_{step}.png")

  def run(self, state):
    """Yields accuracy, nll (nats), brier (in [0, 2]), ece, adaptive_ece, classwise_ece.

    The calibration errors are fractions in [0, 1], not percent.
    """
    logits = predictions.collect_logits(self.predict_fn, state, self.dataset,
                                        batch_size=self.batch_size, mesh=self.mesh)
    labels = self.dataset.labels
    probs = predictions.softmax(logits)
    bins = {"num_bins": self.num_bins}
    yield "accuracy", float(metrics.accuracy(probs, labels))
    yield "nll", float(metrics.nll(probs, labels))
    yield "brier", float(metrics.brier(probs, labels))
    yield "ece", float(metrics.ece(probs, labels, **bins))
    yield "adaptive_ece", float(metrics.adaptive_ece(probs, labels, **bins))
    yield "classwise_ece", float(metrics.classwise_ece(probs, labels, **bins))
    path = self.diagram_path(int(jax.device_get(state.step).max()))
    if path and jax.process_index() == 0:
      metrics.reliability_diagram(probs, labels, path, num_bins=self.num_bins,
                                  title=f"{self.split} split")

"""Calibration evaluator: accuracy, NLL, Brier, ECE variants, reliability bins, post-hoc T."""
import numpy as np

from rvjax import data as data_lib
from rvjax import metrics, uncertainty
from rvjax.evaluators import predictions


class Evaluator:
  """Calibration of `predict_fn(state, images) -> logits` on `split`; numbers only.

  Args:
    predict_fn: `(state, images (B,H,W,C) in [0,1]) -> logits (B, K)` (or log-probabilities, as
      for ensembles and MC dropout; a temperature trained into the state is already inside).
    data: the config's data block (name, data_dir, kwargs).
    mesh: the device mesh; batches are sharded over its data axis.
    split: "train", "val" or "test".
    batch_size: eval batch size (a multiple of the data-axis size).
    num_bins: equal-width (ece, classwise_ece, reliability bins) and equal-mass (adaptive_ece).
    temperature_split: "" (off) or a held-out split ("val") on which a temperature T is fitted to
      the predict_fn's logits (`rvjax.uncertainty.fit_temperature`, minimum NLL); then `split`'s
      metrics are also given at logits / T, under "ts/". Never fit on the split evaluated.
  """

  def __init__(self, predict_fn, *, data, mesh, split: str = "test", batch_size: int = 256,
               num_bins: int = 15, temperature_split: str = ""):
    if temperature_split and temperature_split == split:
      raise ValueError(f"calibration eval: temperature_split={temperature_split!r} is the "
                       "evaluated split; fit T on held-out data (e.g. 'val').")
    self.predict_fn = predict_fn
    self.mesh = mesh
    self.batch_size = batch_size
    self.num_bins = num_bins
    self.dataset = data_lib.load_split(data, split)
    self.held_out = data_lib.load_split(data, temperature_split) if temperature_split else None

  def _logits(self, state, ds) -> np.ndarray:
    return predictions.collect_logits(self.predict_fn, state, ds, batch_size=self.batch_size,
                                      mesh=self.mesh)

  def _metrics(self, logits: np.ndarray):
    labels = self.dataset.labels
    probs = predictions.softmax(logits)
    bins = {"num_bins": self.num_bins}
    yield "accuracy", float(metrics.accuracy(probs, labels))
    yield "nll", float(metrics.nll(probs, labels))
    yield "brier", float(metrics.brier(probs, labels))
    yield "ece", float(metrics.ece(probs, labels, **bins))
    yield "adaptive_ece", float(metrics.adaptive_ece(probs, labels, **bins))
    yield "classwise_ece", float(metrics.classwise_ece(probs, labels, **bins))
    stats = metrics.calibration_bins(probs, labels, **bins)
    for k in ("confidence", "accuracy", "count"):
      yield f"reliability/{k}", np.asarray(stats[k], np.float64).tolist()

  def run(self, state):
    """Yields accuracy, nll (nats, p clipped at metrics.NLL_EPS), brier (in [0, 2]), ece,
    adaptive_ece, classwise_ece (fractions in [0, 1]), reliability/{confidence, accuracy, count}
    (lists of num_bins); with temperature_split also ts/temperature and ts/<each of those>."""
    logits = self._logits(state, self.dataset)
    yield from self._metrics(logits)
    if self.held_out is not None:
      t = uncertainty.fit_temperature(self._logits(state, self.held_out), self.held_out.labels)
      yield "ts/temperature", float(t)
      for k, v in self._metrics(logits.astype(np.float64) / float(t)):
        yield f"ts/{k}", v

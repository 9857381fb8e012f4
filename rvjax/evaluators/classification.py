"""Clean classification evaluator: accuracy and mean cross-entropy on one split."""
from rvjax import data as data_lib
from rvjax import metrics
from rvjax.evaluators import predictions


class Evaluator:
  """Accuracy and loss (mean NLL) of `predict_fn(state, images) -> logits` on `split`.

  Args:
    predict_fn: `(state, images (B,H,W,C) in [0,1]) -> logits (B, K)`; for ensembles the log of
      the mean member probabilities.
    data: the config's data block (name, data_dir, kwargs).
    mesh: the device mesh; batches are sharded over its data axis.
    split: "train", "val" or "test".
    batch_size: eval batch size (a multiple of the data-axis size).
  """

  def __init__(self, predict_fn, *, data, mesh, split: str = "test", batch_size: int = 256):
    self.predict_fn = predict_fn
    self.mesh = mesh
    self.batch_size = batch_size
    self.dataset = data_lib.load_split(data, split)

  def run(self, state):
    """Yields ("accuracy", value in [0,1]) and ("loss", mean NLL in nats)."""
    logits = predictions.collect_logits(self.predict_fn, state, self.dataset,
                                        batch_size=self.batch_size, mesh=self.mesh)
    labels = self.dataset.labels
    probs = predictions.softmax(logits)
    yield "accuracy", float(metrics.accuracy(probs, labels))
    yield "loss", float(metrics.nll(probs, labels))

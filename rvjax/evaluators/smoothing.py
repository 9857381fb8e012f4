"""Randomized-smoothing evaluator: certified L2 accuracy of the smoothed `predict_fn` vs radius.

Config (an entry of `config.evals` with type "smoothing"; every field but `type` is a kwarg):
  split, num_examples (0: the whole split, else its first n), batch_size (images certified
  together), sample_batch (images per forward pass), sigma, n0, n, alpha (Cohen et al.: 100,
  100,000, 0.001), radii (L2, pixel units), seed.

An example counts as certified at radius r when CERTIFY (`rvjax.certify.smoothing`) predicts
its label with a certified radius >= r; an abstention counts as wrong. Yields
"certified_accuracy/r=<r>" per radius, "abstain_rate" and "mean_radius" (over correct
certified examples, 0 if none), fractions in [0, 1] and radii in pixel L2 units.
"""
import jax
import numpy as np

from rvjax.certify import smoothing
from rvjax import data as data_lib


class Evaluator:
  """Certified accuracy of the Gaussian-smoothed `predict_fn(state, images) -> logits`."""

  def __init__(self, predict_fn, *, data, mesh=None, split: str = "test", sigma: float = 0.25,
               n0: int = 100, n: int = 10_000, alpha: float = 0.001,
               radii=(0.0, 0.25, 0.5, 1.0), num_examples: int = 0, batch_size: int = 50,
               sample_batch: int = 4096, seed: int = 0):
    smoothing.check_args(sigma, n0, n, alpha)
    if not radii or min(radii) < 0:
      raise ValueError(f"radii must be non-empty and >= 0, got {tuple(radii)}.")
    self.predict_fn = predict_fn
    self.cfg = dict(sigma=sigma, n0=n0, n=n, alpha=alpha, batch_size=sample_batch)
    self.radii = tuple(sorted(set(float(r) for r in radii)))
    self.batch_size = batch_size
    self.seed = seed
    ds = data_lib.load_split(data, split)
    count = num_examples or len(ds.labels)
    self.images, self.labels = ds.images[:count], np.asarray(ds.labels[:count])

  def run(self, state):
    """Yields (name, value) pairs as the module docstring lists."""
    logits_fn = lambda images: self.predict_fn(state, images)
    preds, radii = [], []
    for i, start in enumerate(range(0, len(self.labels), self.batch_size)):
      x = self.images[start:start + self.batch_size]
      key = jax.random.fold_in(jax.random.key(self.seed), i)
      pred, radius = smoothing.smooth_certify(logits_fn, x, key, **self.cfg)
      preds.append(pred)
      radii.append(radius)
    pred, radius = np.concatenate(preds), np.concatenate(radii)
    correct = pred == self.labels
    for r in self.radii:
      yield f"certified_accuracy/r={r:g}", float(np.mean(correct & (radius >= r)))
    yield "abstain_rate", float(np.mean(pred == smoothing.ABSTAIN))
    yield "mean_radius", float(np.mean(radius[correct])) if correct.any() else 0.0

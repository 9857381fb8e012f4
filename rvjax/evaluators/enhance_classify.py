"""Task-oriented evaluation (enhance, then classify): a classifier's accuracy on degraded, restored
and clean copies of its test set.

The trainer hands it the classifier's `predict_fn(state, images) -> logits`. Each degradation
(low light, noise, blur, ...: a transform `f(key, images)`) is applied to the test images once,
with keys fixed by (seed, degradation index); each restorer `r(images) -> images` then restores
the degraded set. Restorers are classical ones named by a config, {"fn": "rvjax.restore.tv_denoise",
"kwargs": {...}}, or callables `images -> images` passed from Python (a learned restorer:
`launch.restore.workdir_restorer(workdir)`; this module never loads a model).
"""
import jax
import jax.numpy as jnp
import numpy as np

from rvjax import data as data_lib
from rvjax import metrics, sharding, validate
from rvjax.evaluators import predictions
from rvjax.objectives import degraded


def _restorer(name, spec):
  if callable(spec):
    return spec
  spec = dict(spec)
  if "fn" not in spec:
    raise ValueError(f"restorer {name!r}: give a callable or {{'fn': 'pkg.module.fn', "
                     f"'kwargs': {{...}}}}, got {sorted(spec)}.")
  return degraded.resolve(spec["fn"], **dict(spec.get("kwargs", {})))


class Evaluator:
  """Accuracy of `predict_fn` on clean, degraded and restored test images.

  Args:
    predict_fn: `(state, images (B, H, W, C) in [0, 1]) -> logits (B, K)` of the classifier.
    data: the classifier's data block (name, data_dir, kwargs); its `split` is degraded.
    mesh: the device mesh; batches are sharded over its data axis.
    degradations: {name: {"name": "pkg.module.fn", "kwargs": {...}}} transforms `f(key, images)`.
    restorers: {name: callable or {"fn": "pkg.module.fn", "kwargs": {...}}}, `images -> images`
      (outputs are clipped to [0, 1] before classification).
    split, batch_size: the evaluated split and eval batch size (a multiple of the data axis).
    num_examples: the first `num_examples` of the split (0: all).
    seed: degradation keys are fold_in(key(seed), degradation index).
  """

  def __init__(self, predict_fn, *, data, mesh, degradations, restorers=None,
               split: str = "test", batch_size: int = 256, num_examples: int = 0, seed: int = 0):
    validate.check_positive(num_examples, "num_examples", allow_zero=True)
    if not degradations:
      raise ValueError("enhance_classify eval: name at least one degradation.")
    sharding.check_batch_size(batch_size, mesh)
    self.predict_fn, self.mesh, self.batch_size = predict_fn, mesh, batch_size
    ds = data_lib.load(data.name, split, data_dir=data.get("data_dir") or None,
                       **dict(data.get("kwargs", {})))
    n = num_examples or len(ds.labels)
    self.dataset = data_lib.Dataset(ds.images[:n], ds.labels[:n], ds.num_classes)
    self.degradations = {
        name: degraded.resolve(d["name"], **dict(d.get("kwargs", {})))
        for name, d in dict(degradations).items()}
    self.restorers = {name: _restorer(name, r) for name, r in dict(restorers or {}).items()}
    self.seed = seed

  def _accuracy(self, state, images: np.ndarray) -> float:
    ds = data_lib.Dataset(np.clip(images, 0, 1).astype(np.float32), self.dataset.labels,
                          self.dataset.num_classes)
    logits = predictions.collect_logits(self.predict_fn, state, ds, batch_size=self.batch_size,
                                        mesh=self.mesh)
    return float(metrics.accuracy(logits, self.dataset.labels))

  def _psnr(self, images: np.ndarray) -> float:
    x = jnp.asarray(np.clip(images, 0, 1))
    return float(jnp.mean(metrics.psnr(x, jnp.asarray(self.dataset.images))))

  def run(self, state):
    """Yields clean/accuracy; per degradation d: d/accuracy and d/psnr (of the degraded images
    against the clean ones, dB); per restorer r: d/r/accuracy and d/r/psnr. Accuracies in
    [0, 1]."""
    yield "clean/accuracy", self._accuracy(state, self.dataset.images)
    clean = jnp.asarray(self.dataset.images)
    for i, (d_name, degrade) in enumerate(self.degradations.items()):
      low = np.asarray(degrade(jax.random.fold_in(jax.random.key(self.seed), i), clean))
      yield f"{d_name}/accuracy", self._accuracy(state, low)
      yield f"{d_name}/psnr", self._psnr(low)
      for r_name, restore in self.restorers.items():
        restored = np.asarray(restore(jnp.asarray(low)))
        yield f"{d_name}/{r_name}/accuracy", self._accuracy(state, restored)
        yield f"{d_name}/{r_name}/psnr", self._psnr(restored)

"""Running a `predict_fn` over a whole dataset in fixed-shape, sharded, padded batches."""
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from rvjax import data as data_lib
from rvjax import sharding


def collect(fn, ds: data_lib.Dataset, *, batch_size: int, mesh: Mesh) -> np.ndarray:
  """Applies `fn(images, labels) -> (B, ...)` to every example; returns the (N, ...) results.

  Batches have a fixed shape (the last is padded) so `fn` compiles once; padding is dropped.
  """
  sharding.check_batch_size(batch_size, mesh)
  outputs = []
  for batch in data_lib.to_device(data_lib.eval_batches(ds, batch_size=batch_size), mesh):
    out = fn(batch["image"], batch["label"])
    outputs.append(np.asarray(multihost_utils.process_allgather(out, tiled=True)))
  return np.concatenate(outputs)[:len(ds)]


def collect_logits(predict_fn, state, ds, *, batch_size: int, mesh: Mesh) -> np.ndarray:
  """Eval logits (N, K) of `predict_fn(state, images)` over all of `ds`."""
  return collect(lambda x, _: predict_fn(state, x), ds, batch_size=batch_size, mesh=mesh)


def softmax(logits: np.ndarray) -> np.ndarray:
  """Numerically stable softmax over the last axis, in float64 for exact metrics."""
  z = logits.astype(np.float64) - logits.max(-1, keepdims=True)
  e = np.exp(z)
  return e / e.sum(-1, keepdims=True)


def head(ds: data_lib.Dataset, n: int | None) -> data_lib.Dataset:
  """The first n examples of `ds` (all of it when n is None or 0)."""
  return ds if not n else data_lib.Dataset(ds.images[:n], ds.labels[:n], ds.num_classes)

"""Seeded, fixed-shape batch iterators, sharded over the mesh and prefetched to device.

Training batches are a pure function of (seed, step): epoch e is shuffled by a permutation seeded
with (seed, e), and step s reads rows [(s mod S) * B, (s mod S + 1) * B) of it, S = N // B steps
per epoch (the incomplete tail of each epoch's permutation is dropped, a different tail each
epoch). Restarting at any step therefore replays exactly the same batches.

Eval batches cover every example once, in order; the last one is padded with copies of row 0 and
carries `mask` = 0 on the padding, so every batch has the same shape and nothing recompiles.

Each process keeps only its own contiguous slice of every global batch (multi-host).
"""
import collections
from collections.abc import Iterator

import jax
import numpy as np
from jax.sharding import Mesh

from rvjax import sharding
from rvjax.data.dataset import Dataset


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
  """Full training batches per epoch; raises ValueError if the dataset is smaller than a batch."""
  if batch_size > num_examples:
    raise ValueError(f"batch_size={batch_size} is larger than the dataset ({num_examples} "
                     "examples); lower config.batch_size.")
  return num_examples // batch_size


def epoch_permutation(seed: int, epoch: int, num_examples: int) -> np.ndarray:
  """The shuffled order of epoch `epoch`, a pure function of (seed, epoch)."""
  return np.random.default_rng([seed, epoch]).permutation(num_examples)


def _local_slice(batch: dict, axis: int = 0) -> dict:
  """This process's contiguous share of the global batch along the batch `axis`."""
  per = batch["label"].shape[axis] // jax.process_count()
  lo = jax.process_index() * per
  return {k: np.take(v, np.arange(lo, lo + per), axis=axis) for k, v in batch.items()}


def train_indices(seed: int, step: int, num_examples: int, batch_size: int) -> np.ndarray:
  """Dataset rows of global training batch `step` (shape (batch_size,))."""
  spe = steps_per_epoch(num_examples, batch_size)
  epoch, pos = divmod(step, spe)
  return epoch_permutation(seed, epoch, num_examples)[pos * batch_size:(pos + 1) * batch_size]


def train_batches(ds: Dataset, *, batch_size: int, seed: int, start_step: int = 0,
                  member_seeds: tuple[int, ...] | None = None) -> Iterator[dict]:
  """Yields host batches {"image": (B,H,W,C) f32, "label": (B,) i32, "mask": (B,) f32} forever.

  With `member_seeds` (ensembles), every entry gets a leading member axis (M, B, ...) and member
  m reads the data in its own order, seeded by member_seeds[m].
  """
  steps_per_epoch(len(ds), batch_size)
  step = start_step
  while True:
    if member_seeds is None:
      idx = train_indices(seed, step, len(ds), batch_size)
    else:
      idx = np.stack([train_indices(s, step, len(ds), batch_size) for s in member_seeds])
    batch = {"image": ds.images[idx], "label": ds.labels[idx],
             "mask": np.ones(idx.shape, np.float32)}
    yield _local_slice(batch, axis=idx.ndim - 1)
    step += 1


def eval_batches(ds: Dataset, *, batch_size: int) -> Iterator[dict]:
  """Yields every example once in fixed-shape batches; padding rows have mask 0."""
  n = len(ds)
  for lo in range(0, n, batch_size):
    idx = np.arange(lo, lo + batch_size)
    mask = (idx < n).astype(np.float32)
    idx = np.where(idx < n, idx, 0)
    yield _local_slice({"image": ds.images[idx], "label": ds.labels[idx], "mask": mask})


def to_device(batches: Iterator[dict], mesh: Mesh, *, size: int = 2,
              member_axis: bool = False) -> Iterator[dict]:
  """Shards host batches over the mesh's data axis, keeping `size` batches in flight."""
  target = sharding.batch_sharding(mesh, member_axis=member_axis)
  queue = collections.deque()
  for batch in batches:
    queue.append(sharding.put_batch(batch, target))
    if len(queue) > size:
      yield queue.popleft()
  while queue:
    yield queue.popleft()

"""Training-set filtering defences against poisons, in the victim's feature space.

`knn_label_filter` is the deep k-NN defence (Peri et al. 2020): a training point whose label is
not a plurality label among its k nearest neighbours (Euclidean, in feature space, itself
excluded) is removed. Feature-collision poisons sit among the target class's features while
keeping the base label, so their neighbours out-vote them.
"""
import jax
import jax.numpy as jnp
import numpy as np


def knn_label_filter(features, labels, *, k: int, num_classes: int) -> np.ndarray:
  """The points to keep: (N, D) features, (N,) int labels -> (N,) bool.

  A point is kept when its label has the largest count (ties included) among the labels of its
  k nearest other points. Distances are computed on the default device in blocks of 1024 rows.

  Raises:
    ValueError: k < 1 or k >= N, or mismatched shapes.
  """
  features = jnp.asarray(features, jnp.float32)
  labels = np.asarray(labels)
  n = features.shape[0]
  if features.ndim != 2 or labels.shape != (n,):
    raise ValueError(f"features must be (N, D) and labels (N,); got {features.shape} and "
                     f"{labels.shape}.")
  if not 1 <= k < n:
    raise ValueError(f"k must lie in [1, N) = [1, {n}), got {k}.")

  @jax.jit
  def neighbours(rows, start):
    d = (jnp.sum(rows ** 2, -1)[:, None] - 2 * rows @ features.T
         + jnp.sum(features ** 2, -1)[None])
    self_mask = jnp.arange(n)[None] == (start + jnp.arange(rows.shape[0]))[:, None]
    return jax.lax.top_k(-jnp.where(self_mask, jnp.inf, d), k)[1]

  idx = np.concatenate([np.asarray(neighbours(features[s:s + 1024], s))
                        for s in range(0, n, 1024)])
  counts = np.zeros((n, num_classes), np.int64)
  np.add.at(counts, (np.repeat(np.arange(n), k), labels[idx].ravel()), 1)
  return counts[np.arange(n), labels] == counts.max(-1)

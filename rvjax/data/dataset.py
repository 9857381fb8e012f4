"""The in-memory `Dataset` every loader returns, and the helpers loaders share."""
from typing import NamedTuple

import numpy as np

from rvjax import validate


class Dataset(NamedTuple):
  """A split held in host memory.

  Attributes:
    images: float32 (N, H, W, C) in [0, 1].
    labels: int32 (N,) in [0, num_classes).
    num_classes: number of classes K.
  """
  images: np.ndarray
  labels: np.ndarray
  num_classes: int

  def __len__(self) -> int:
    return len(self.labels)


SPLITS = ("train", "val", "test")


def make_dataset(images, labels, num_classes: int, *, name: str) -> Dataset:
  """Validates and packs arrays into a `Dataset` (float32 images in [0,1], int32 labels)."""
  images = np.asarray(images, np.float32)
  labels = np.asarray(labels, np.int32)
  validate.check_images(images, name=f"{name} images")
  validate.check_labels(labels, num_classes, name=f"{name} labels", batch=images.shape[0])
  return Dataset(images, labels, int(num_classes))


def resize(images: np.ndarray, size: int) -> np.ndarray:
  """Bilinearly (antialiased) resizes (N, H, W, C) images to (N, size, size, C) in [0, 1]."""
  import jax  # Local: resizing runs once at load time, on the default device.
  n, _, _, c = images.shape
  out = jax.image.resize(images, (n, size, size, c), method="linear", antialias=True)
  return np.clip(np.asarray(out, np.float32), 0.0, 1.0)


def drop_classes(ds: Dataset, classes) -> Dataset:
  """The examples of `ds` whose label is not in `classes`; num_classes is kept (open-set use)."""
  classes = np.asarray(tuple(classes), np.int64)
  if classes.size and (classes.min() < 0 or classes.max() >= ds.num_classes):
    raise ValueError(f"exclude_classes must lie in [0, {ds.num_classes}), got {classes.tolist()}.")
  keep = ~np.isin(ds.labels, classes)
  return Dataset(ds.images[keep], ds.labels[keep], ds.num_classes)

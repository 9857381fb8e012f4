"""The in-memory `Dataset` every loader returns, and the `load` entry point."""
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


def load(name: str, split: str, *, data_dir: str | None = None, exclude_classes=(),
         **kwargs) -> Dataset:
  """Loads split `split` ("train", "val" or "test") of dataset `name` into host memory.

  Names: "digits" (scikit-learn's bundled handwritten digits, the offline default; kwargs
  `image_size` in {8, 16, 32}), "syndigits" (rendered synthetic digits, see
  `rvjax.data.synthetic.load` for its kwargs preset, size, num, channels, seed, knobs), the
  tfds sets in `rvjax.data.tfds_sets.NAMES`, and CIFAR-10-C
  as "cifar10_corrupted/<corruption>_<severity>" (test split only), read from `data_dir` without
  TensorFlow. Unknown names or splits raise ValueError listing valid ones. `exclude_classes`
  drops every example of those classes from every split (held-out classes for open-set OOD
  evaluation, see rvjax.evaluators.ood); labels and num_classes are unchanged.
  """
  from rvjax.data import digits, synthetic, tfds_sets  # Local: no import cycles.
  loaders = {"digits": digits.load, "syndigits": synthetic.load,
             **{n: tfds_sets.loader(n) for n in tfds_sets.NAMES}}
  if name.startswith(tfds_sets.CORRUPTED + "/"):
    tfds_sets.check_corrupted(name)
    loaders[name] = tfds_sets.loader(name)
  validate.check_choice(name, "dataset", loaders)
  validate.check_choice(split, "split", SPLITS)
  if kwargs and (name in tfds_sets.NAMES or name.startswith(tfds_sets.CORRUPTED + "/")):
    raise ValueError(f"tfds dataset {name!r} takes no options (data.kwargs), got "
                     f"{sorted(kwargs)}; image_size and the like apply to digits only.")
  if name in ("digits", "syndigits"):
    if data_dir is not None:
      raise ValueError(f"{name} needs no files; data_dir must be None for it.")
    ds = loaders[name](split, **kwargs)
  else:
    ds = loaders[name](split, data_dir=data_dir, **kwargs)
  return drop_classes(ds, exclude_classes) if len(exclude_classes) else ds

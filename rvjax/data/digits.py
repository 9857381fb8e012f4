"""scikit-learn's bundled 8x8 handwritten digits: the offline default dataset.

1797 real images of 10 classes with integer intensities 0..16, scaled here to [0, 1]. The split is
fixed and stratified by class with seed 0: 20% test, 10% val (for temperature fitting and model
selection), 70% train.
"""
import functools

import numpy as np

from rvjax.data import dataset as dataset_lib

TEST_FRACTION = 0.2
VAL_FRACTION = 0.1
SPLIT_SEED = 0
IMAGE_SIZES = (8, 16, 32)


@functools.lru_cache(maxsize=1)
def _split_indices() -> dict[str, np.ndarray]:
  from sklearn import datasets, model_selection
  labels = datasets.load_digits().target
  idx = np.arange(len(labels))
  rest, test = model_selection.train_test_split(
      idx, test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED)
  train, val = model_selection.train_test_split(
      rest, test_size=VAL_FRACTION / (1 - TEST_FRACTION), stratify=labels[rest],
      random_state=SPLIT_SEED)
  return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def load(split: str, *, image_size: int = 8) -> dataset_lib.Dataset:
  """Returns the digits `split` as (N, image_size, image_size, 1) float32 in [0, 1]."""
  from sklearn import datasets
  if image_size not in IMAGE_SIZES:
    raise ValueError(f"digits image_size must be one of {IMAGE_SIZES}, got {image_size}.")
  raw = datasets.load_digits()
  idx = _split_indices()[split]
  images = (raw.images[idx] / 16.0).astype(np.float32)[..., None]
  if image_size != 8:
    images = dataset_lib.resize(images, image_size)
  return dataset_lib.make_dataset(images, raw.target[idx], 10, name=f"digits/{split}")

"""tfds image-classification sets read with `tfds.data_source` (array_record; no TensorFlow).

Splits: "train" is the first 90% of the tfds train split, "val" the last 10% (for temperature
fitting and model selection), "test" the tfds test split. Datasets are never downloaded at run
time: prepare them with `python -m launch.prepare_data --dataset=NAME --data_dir=DIR` on a
machine with internet.
"""
import functools

import numpy as np

from rvjax.data import dataset as dataset_lib

NAMES = ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn_cropped")
NUM_CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "cifar100": 100,
               "svhn_cropped": 10}
TFDS_SPLITS = {"train": "train[:90%]", "val": "train[90%:]", "test": "test"}


class DatasetNotPreparedError(FileNotFoundError):
  """Raised when a tfds dataset is not prepared in `data_dir`."""


def prepare_command(name: str, data_dir: str | None) -> str:
  """The command that prepares `name` under `data_dir` on a machine with internet."""
  target = data_dir or "~/tensorflow_datasets"
  return f"python -m launch.prepare_data --dataset={name} --data_dir={target}"


def _source(name: str, split: str, data_dir: str | None):
  import tensorflow_datasets as tfds
  try:
    return tfds.data_source(name, split=TFDS_SPLITS[split], data_dir=data_dir, download=False)
  except Exception as e:  # tfds raises several types for a missing or TFRecord-only dataset.
    searched = data_dir or "the default ~/tensorflow_datasets"
    raise DatasetNotPreparedError(
        f"Dataset {name!r} is not prepared as array_record in {searched} ({type(e).__name__}: "
        f"{str(e).splitlines()[0]}). On a machine with internet run:\n  "
        f"{prepare_command(name, data_dir)}\nthen copy that directory here.") from e


def _load(split: str, *, name: str, data_dir: str | None = None) -> dataset_lib.Dataset:
  source = _source(name, split, data_dir)
  if len(source) == 0:
    raise ValueError(f"Split {split!r} of {name!r} in {data_dir} is empty.")
  records = [source[i] for i in range(len(source))]
  images = np.stack([r["image"] for r in records])
  labels = np.asarray([r["label"] for r in records])
  if images.dtype != np.uint8:
    raise ValueError(f"{name} images are {images.dtype}; expected uint8 from tfds.")
  num_classes = NUM_CLASSES[name]
  return dataset_lib.make_dataset(images / np.float32(255.0), labels, num_classes,
                                  name=f"{name}/{split}")



def loader(name: str):
  """The loader `(split, *, data_dir) -> Dataset` for tfds set `name`."""
  return functools.partial(_load, name=name)

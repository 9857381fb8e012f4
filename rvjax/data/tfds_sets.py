"""tfds image-classification sets read with `tfds.data_source` (array_record; no TensorFlow).

Splits: "train" is the first 90% of the tfds train split, "val" the last 10% (for temperature
fitting and model selection), "test" the tfds test split. Datasets are never downloaded at run
time: prepare them with `python -m launch.prepare_data --dataset=NAME --data_dir=DIR` on a
machine with internet.

CIFAR-10-C is read as "cifar10_corrupted/<tfds corruption>_<severity>" (test split only; 10000
images, same labels as the cifar10 test split); `corrupted_name` spells it from an
`rvjax.corruptions` name, which differs for glass_blur ("frosted_glass_blur") and
elastic_transform ("elastic").
"""
import functools

import numpy as np

from rvjax.data import dataset as dataset_lib

NAMES = ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn_cropped")
NUM_CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "cifar100": 100,
               "svhn_cropped": 10, "cifar10_corrupted": 10}
TFDS_SPLITS = {"train": "train[:90%]", "val": "train[90%:]", "test": "test"}
CORRUPTED = "cifar10_corrupted"
# rvjax.corruptions.NAMES spelling -> tfds cifar10_corrupted spelling, where they differ.
CORRUPTED_RENAMES = {"glass_blur": "frosted_glass_blur", "elastic_transform": "elastic"}
CORRUPTED_CONFIGS = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "frosted_glass_blur",
    "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic",
    "pixelate", "jpeg_compression", "speckle_noise", "gaussian_blur", "spatter", "saturate")


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
        f"{str(e).splitlines()[0]}). On a machine with internet run "
        f"`{prepare_command(name, data_dir)}`, then copy that directory here.") from e


def corrupted_name(corruption: str, severity: int) -> str:
  """tfds name of CIFAR-10-C `corruption` (rvjax spelling) at severity 1..5, e.g. "..._3"."""
  return f"{CORRUPTED}/{CORRUPTED_RENAMES.get(corruption, corruption)}_{severity}"


def check_corrupted(name: str) -> None:
  """Raises ValueError unless `name` is "cifar10_corrupted/<config>_<1..5>"."""
  config, _, severity = name.partition("/")[2].rpartition("_")
  if config not in CORRUPTED_CONFIGS or severity not in tuple("12345"):
    raise ValueError(f"Unknown CIFAR-10-C set {name!r}: expected {CORRUPTED}/<corruption>_<1..5> "
                     f"with corruption one of {', '.join(CORRUPTED_CONFIGS)}.")


def _load(split: str, *, name: str, data_dir: str | None = None) -> dataset_lib.Dataset:
  base = name.split("/")[0]
  if base == CORRUPTED and split != "test":
    raise ValueError(f"{name} (CIFAR-10-C) has only a test split, got split {split!r}.")
  source = _source(name, split, data_dir)
  if len(source) == 0:
    raise ValueError(f"Split {split!r} of {name!r} in {data_dir} is empty.")
  records = [source[i] for i in range(len(source))]
  images = np.stack([r["image"] for r in records])
  labels = np.asarray([r["label"] for r in records])
  if images.dtype != np.uint8:
    raise ValueError(f"{name} images are {images.dtype}; expected uint8 from tfds.")
  num_classes = NUM_CLASSES[base]
  return dataset_lib.make_dataset(images / np.float32(255.0), labels, num_classes,
                                  name=f"{name}/{split}")



def loader(name: str):
  """The loader `(split, *, data_dir) -> Dataset` for tfds set `name`."""
  return functools.partial(_load, name=name)

"""Datasets as in-memory arrays, and seeded, sharded batch iterators."""
from rvjax.data.dataset import Dataset, SPLITS
from rvjax.data.iterator import eval_batches, steps_per_epoch, to_device, train_batches
from rvjax.data.loading import load, load_split
from rvjax.data.tfds_sets import NAMES as TFDS_NAMES, DatasetNotPreparedError

NAMES = ("digits", "syndigits") + TFDS_NAMES

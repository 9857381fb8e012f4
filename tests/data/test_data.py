"""Datasets and batch iterators: splits, shapes, determinism, padding, tfds path."""
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from rvjax import data, validate


@pytest.fixture(scope="module")
def splits():
  return {s: data.load("digits", s) for s in data.SPLITS}


def test_digits_split_is_disjoint_stratified_and_complete(splits):
  from sklearn import datasets
  raw = datasets.load_digits()
  sizes = {s: len(d) for s, d in splits.items()}
  assert sum(sizes.values()) == len(raw.target) == 1797
  assert sizes == {"train": 1257, "val": 180, "test": 360}
  for s, d in splits.items():
    assert d.images.shape[1:] == (8, 8, 1) and d.images.dtype == np.float32
    assert d.images.min() >= 0 and d.images.max() <= 1 and d.labels.dtype == np.int32
    counts = np.bincount(d.labels, minlength=10) / len(d)
    np.testing.assert_allclose(counts, np.bincount(raw.target) / len(raw.target), atol=0.02)
  # Every original image appears exactly once across the splits.
  flat = np.concatenate([d.images.reshape(len(d), -1) for d in splits.values()])
  np.testing.assert_array_equal(np.sort((flat * 16).round().astype(int), axis=0),
                                np.sort(raw.data.astype(int), axis=0))


def test_digits_resize():
  d = data.load("digits", "val", image_size=32)
  assert d.images.shape == (180, 32, 32, 1) and 0 <= d.images.min() and d.images.max() <= 1
  with pytest.raises(ValueError, match="image_size"):
    data.load("digits", "val", image_size=12)


def test_unknown_names():
  with pytest.raises(ValueError, match="digits.*mnist"):
    data.load("imagenet", "train")
  with pytest.raises(ValueError, match="train, val"):
    data.load("digits", "training")


def test_train_batches_are_a_pure_function_of_seed_and_step(splits):
  ds = splits["train"]
  first = [b["label"] for _, b in zip(range(50), data.train_batches(ds, batch_size=64, seed=3))]
  resumed = [b["label"] for _, b in zip(range(30), data.train_batches(
      ds, batch_size=64, seed=3, start_step=20))]
  for a, b in zip(first[20:], resumed):
    np.testing.assert_array_equal(a, b)
  spe = data.steps_per_epoch(len(ds), 64)
  epoch0 = np.concatenate(first[:spe])
  assert len(set(epoch0.tolist())) <= 10 and len(epoch0) == spe * 64
  # A new epoch is reshuffled.
  assert not np.array_equal(first[0], first[spe])


def test_member_seeds_give_members_their_own_order(splits):
  b = next(data.train_batches(splits["train"], batch_size=16, seed=0, member_seeds=(1, 2)))
  assert b["image"].shape == (2, 16, 8, 8, 1)
  assert not np.array_equal(b["label"][0], b["label"][1])


def test_eval_batches_pad_and_mask(splits):
  ds = splits["val"]  # 180 examples
  batches = list(data.eval_batches(ds, batch_size=64))
  assert [b["image"].shape[0] for b in batches] == [64, 64, 64]
  assert sum(b["mask"].sum() for b in batches) == 180
  labels = np.concatenate([b["label"][b["mask"] > 0] for b in batches])
  np.testing.assert_array_equal(labels, ds.labels)


def test_batch_larger_than_dataset(splits):
  with pytest.raises(ValueError, match="larger than the dataset"):
    next(data.train_batches(splits["val"], batch_size=1000, seed=0))


def test_bad_images_rejected():
  from rvjax.data import dataset
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    dataset.make_dataset(np.full((2, 4, 4, 1), 255.0), np.zeros(2), 10, name="x")
  with pytest.raises(ValueError, match="rank-4"):
    dataset.make_dataset(np.zeros((2, 4, 4)), np.zeros(2), 10, name="x")
  with pytest.raises(ValueError, match="divide uint8 images by 255"):
    validate.check_images(np.zeros((2, 4, 4, 1), np.uint8))
  with pytest.raises(ValueError, match="labels"):
    dataset.make_dataset(np.zeros((2, 4, 4, 1)), np.array([0, 10]), 10, name="x")


@pytest.mark.parametrize("name, shape", [("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3)),
                                         ("svhn_cropped", (32, 32, 3))])
def test_tfds_path_with_mock_data(tmp_path, name, shape):
  with tfds.testing.mock_data(num_examples=20):
    train = data.load(name, "train", data_dir=str(tmp_path))
    test = data.load(name, "test", data_dir=str(tmp_path))
  assert train.images.shape[1:] == shape and train.images.dtype == np.float32
  assert 0 <= train.images.min() and train.images.max() <= 1
  assert train.num_classes == 10 and len(test) > 0
  assert train.labels.max() < 10


def test_unprepared_tfds_dataset_names_dir_and_command(tmp_path):
  with pytest.raises(data.DatasetNotPreparedError) as err:
    data.load("cifar10", "train", data_dir=str(tmp_path))
  message = str(err.value)
  assert "'cifar10'" in message and str(tmp_path) in message
  assert f"python -m launch.prepare_data --dataset=cifar10 --data_dir={tmp_path}" in message


def test_data_imports_run_one_way():
  """dataset.py is the floor: the loaders import it, loading.py imports them, never back."""
  import ast
  import rvjax.data
  here = os.path.dirname(rvjax.data.__file__)

  def siblings(name):
    tree = ast.parse(open(os.path.join(here, f"{name}.py")).read())
    found = set()
    for node in ast.walk(tree):
      if isinstance(node, ast.ImportFrom) and node.module == "rvjax.data":
        found |= {a.name for a in node.names}
      elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rvjax.data."):
        found.add(node.module.split(".")[2])
    return found

  assert siblings("dataset") == set()
  assert siblings("digits") <= {"dataset"} and siblings("tfds_sets") <= {"dataset"}
  assert siblings("loading") == {"dataset", "digits", "synthetic", "tfds_sets"}
  assert "loading" not in siblings("synthetic")

"""Image folders: reading with clear errors, seeded dihedral patches, padded eval batches."""
import os

import numpy as np
import pytest
from PIL import Image

from rvjax.data import image_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  """A 20x30 grayscale PNG and a 24x16 RGB PNG (lossless, so values are exact)."""
  d = tmp_path_factory.mktemp("imgs")
  rng = np.random.default_rng(0)
  gray = rng.integers(0, 256, (20, 30), np.uint8)
  rgb = rng.integers(0, 256, (24, 16, 3), np.uint8)
  Image.fromarray(gray).save(d / "a.png")
  Image.fromarray(rgb).save(d / "b.png")
  return str(d), gray, rgb


def test_read_folder_values_and_channels(folder):
  d, gray, rgb = folder
  with pytest.raises(ValueError, match="mixes grayscale and RGB"):
    image_folder.read_folder(d)
  images = image_folder.read_folder(d, channels=3)
  assert [im.shape for im in images] == [(20, 30, 3), (24, 16, 3)]
  np.testing.assert_array_equal(images[1], rgb / np.float32(255))
  np.testing.assert_array_equal(images[0][..., 1], gray / np.float32(255))
  gray_only = image_folder.read_image(os.path.join(d, "a.png"))
  assert gray_only.shape == (20, 30, 1) and gray_only.dtype == np.float32


def test_unreadable_or_non_image_files_are_named(tmp_path):
  Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "ok.png")
  (tmp_path / "broken.png").write_bytes(b"not a png")
  with pytest.raises(ValueError, match="broken.png is not a readable image"):
    image_folder.read_folder(str(tmp_path))
  (tmp_path / "notes.txt").write_text("hello")
  with pytest.raises(ValueError, match="notes.txt is not an image file"):
    image_folder.read_folder(str(tmp_path))
  with pytest.raises(ValueError, match="does not exist"):
    image_folder.read_folder(str(tmp_path / "missing"))


def test_the_8_dihedral_transforms_are_distinct_and_complete():
  x = np.arange(12, dtype=np.float32).reshape(3, 4, 1)
  outs = [image_folder.dihedral(x[:3, :3], k) for k in range(8)]
  assert len({o.tobytes() for o in outs}) == 8
  # The group is closed: rotating any of them by 90 degrees gives another one.
  assert {np.rot90(o, 1, (0, 1)).tobytes() for o in outs} == {o.tobytes() for o in outs}


def test_patches_are_a_pure_function_of_seed_and_step(folder):
  d, _, _ = folder
  images = image_folder.read_folder(d, channels=1)
  a = image_folder.patch_batch(images, 3, 5, patch=8, batch_size=64)
  np.testing.assert_array_equal(a, image_folder.patch_batch(images, 3, 5, patch=8, batch_size=64))
  assert not np.array_equal(a, image_folder.patch_batch(images, 3, 6, patch=8, batch_size=64))
  assert a.shape == (64, 8, 8, 1)
  # Every patch is one of the 8 dihedral transforms of some 8x8 crop of some image, and all 8
  # transforms occur.
  seen = set()
  for p in a:
    found = [(k, i) for i, im in enumerate(images) for k in range(8)
             for t in range(im.shape[0] - 7) for s in range(im.shape[1] - 7)
             if np.array_equal(image_folder.dihedral(im[t:t + 8, s:s + 8], k), p)]
    assert found
    seen.update(k for k, _ in found)
  assert seen == set(range(8))
  it = image_folder.paired_batches(images, patch=8, batch_size=4, seed=3, start_step=5)
  first = next(it)
  np.testing.assert_array_equal(
      first["target"], image_folder.patch_batch(images, 3, 5, patch=8, batch_size=4))
  np.testing.assert_array_equal(first["image"], first["target"])
  with pytest.raises(ValueError, match="patch=32 is larger"):
    image_folder.patch_batch(images, 0, 0, patch=32, batch_size=1)


def test_eval_batches_pad_and_mask_whole_images(folder):
  d, _, rgb = folder
  images = image_folder.read_folder(d, channels=3)
  batches = list(image_folder.eval_batches(images, batch_size=3))
  assert len(batches) == 1
  b = batches[0]
  assert b["target"].shape == (3, 24, 30, 3)
  np.testing.assert_array_equal(b["mask"], [1, 1, 0])
  np.testing.assert_array_equal(b["target"][1, :24, :16], rgb / np.float32(255))
  assert b["target"][1, :, 16:].sum() == 0 and b["pixel_mask"][1].sum() == 24 * 16
  assert b["pixel_mask"][0].sum() == 20 * 30


def test_shared_restoration_sets_read():
  bsd = image_folder.restoration_dir("Set5")
  if not os.path.isdir(bsd):
    pytest.skip("../shared/data/restoration is not here")
  images = image_folder.read_folder(bsd, channels=3)
  assert len(images) == 5 and all(im.shape[-1] == 3 and im.max() <= 1 for im in images)


def test_load_split_reads_the_folders_a_config_names(folder):
  import ml_collections
  path, gray, _ = folder
  root, name = os.path.split(path)
  data = ml_collections.ConfigDict({"name": "image_folder", "data_dir": root, "kwargs": {
      "folders": {"train": name, "test": path}, "reference": name, "channels": 1, "patch": 8}})
  train = image_folder.load_split(data, "train")  # Relative to data_dir, with set B.
  assert len(train) == 2 and train.channels == 1 and train.num_classes is None
  np.testing.assert_array_equal(train.images[0][..., 0], gray / np.float32(255))
  assert len(train.references) == 2
  test = image_folder.load_split(data, "test")  # Absolute; set B belongs to train only.
  assert len(test) == 2 and test.references is None
  assert image_folder.load_split(data, "val") is None

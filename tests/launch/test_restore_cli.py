"""launch.restore: restored PNGs, quality.csv and grid, and every bad-input rule."""
import csv
import hashlib
import json
import os

import numpy as np
import pytest
from PIL import Image
from skimage import data

import rvjax.restore
from launch import restore as cli
from rvjax import metrics

pytestmark = pytest.mark.usefixtures("fast_compile")


def _digest(folder):
  return {n: hashlib.sha256(open(os.path.join(folder, n), "rb").read()).hexdigest()
          for n in sorted(os.listdir(folder))}


@pytest.fixture
def folders(tmp_path):
  clean, noisy = tmp_path / "clean", tmp_path / "noisy"
  clean.mkdir()
  noisy.mkdir()
  rng = np.random.default_rng(0)
  gray = data.camera()[200:232, 200:240]
  rgb = data.astronaut()[100:124, 200:224]
  Image.fromarray(gray).save(clean / "a.png")
  Image.fromarray(rgb).save(clean / "b.png")
  noisy_gray = np.clip(gray + rng.normal(0, 20, gray.shape), 0, 255).astype(np.uint8)
  noisy_rgb = np.clip(rgb + rng.normal(0, 20, rgb.shape), 0, 255).astype(np.uint8)
  Image.fromarray(noisy_gray).save(noisy / "a.png")
  Image.fromarray(noisy_rgb).save(noisy / "b.bmp")  # another format, same stem rule
  return str(noisy), str(clean), str(tmp_path / "out")


def test_restores_folder_with_quality_and_grid(folders):
  noisy, clean, out = folders
  before = _digest(noisy)
  restore = cli.classical_restorer("wavelet", {"sigma": 20.0})
  summary = cli.run(noisy, out, restore, clean)
  assert _digest(noisy) == before  # the input folder is never written
  assert sorted(os.listdir(out)) == ["a.png", "b.png", "before_after.png", "quality.csv"]
  x = np.asarray(Image.open(os.path.join(noisy, "a.png")), np.float32)[None, :, :, None] / 255
  want = np.round(np.clip(np.asarray(rvjax.restore.wavelet_denoise(x, sigma=20.0)), 0, 1) * 255)
  np.testing.assert_array_equal(np.asarray(Image.open(os.path.join(out, "a.png"))), want[0, ..., 0])
  assert np.asarray(Image.open(os.path.join(out, "b.png"))).shape == (24, 24, 3)
  rows = list(csv.DictReader(open(os.path.join(out, "quality.csv"))))
  assert [r["image"] for r in rows] == ["a.png", "b.bmp", "mean"]
  ref = np.asarray(Image.open(os.path.join(clean, "a.png")), np.float32)[None, :, :, None] / 255
  np.testing.assert_allclose(float(rows[0]["psnr_input"]), metrics.psnr(x, ref)[0], atol=1e-3)
  np.testing.assert_allclose(float(rows[2]["psnr"]), np.mean([float(r["psnr"]) for r in rows[:2]]),
                             atol=2e-4)
  assert summary["psnr"] > summary["psnr_input"] + 1  # denoising helped
  grid = np.asarray(Image.open(os.path.join(out, "before_after.png")))
  assert grid.shape[0] == 2 * cli.GRID_HEIGHT and grid.shape[2] == 3
  with pytest.raises(ValueError, match="exists; pass --overwrite"):
    cli.run(noisy, out, restore, clean)
  cli.run(noisy, out, restore, clean, overwrite=True)


def test_unreadable_file_is_named_and_nothing_is_written(folders):
  noisy, _, out = folders
  with open(os.path.join(noisy, "notes.txt"), "w") as f:
    f.write("not an image")
  with pytest.raises(ValueError, match="notes.txt is not a readable image"):
    cli.run(noisy, out, cli.classical_restorer("tv", {"weight": 0.1}))
  assert not os.path.exists(out)


def test_output_inside_input_is_refused(folders):
  noisy, _, _ = folders
  restore = cli.classical_restorer("tv", {"weight": 0.1})
  for bad in (noisy, os.path.join(noisy, "sub"), noisy + "/./"):
    with pytest.raises(ValueError, match="inside it"):
      cli.run(noisy, bad, restore)
  assert sorted(os.listdir(noisy)) == ["a.png", "b.bmp"]


def test_missing_reference_and_bad_flags(folders, tmp_path):
  noisy, clean, out = folders
  os.remove(os.path.join(clean, "b.png"))
  with pytest.raises(ValueError, match="no reference for b.bmp"):
    cli.run(noisy, out, cli.classical_restorer("tv", {"weight": 0.1}), clean)
  with pytest.raises(ValueError, match="Unknown --method 'bm3d'"):
    cli.classical_restorer("bm3d", {})
  with pytest.raises(ValueError, match="--sigma does not apply to --method=tv"):
    cli.classical_restorer("tv", {"weight": 0.1, "sigma": 25.0})
  with pytest.raises(ValueError, match="--method=wiener needs --kernel"):
    cli.classical_restorer("wiener", {"balance": 0.1})
  with pytest.raises(ValueError, match="not gaussian:SIZE"):
    cli.parse_kernel("disk:5")
  np.save(tmp_path / "k.npy", np.ones((3, 3)))
  restore = cli.classical_restorer("wiener", {"kernel": str(tmp_path / "k.npy"), "balance": 0.1})
  with pytest.raises(ValueError, match="normalized"):
    cli.run(noisy, out, restore)
  np.testing.assert_allclose(cli.parse_kernel("line:3"),
                             np.array([[0, 0, 0], [1, 1, 1], [0, 0, 0]]) / 3, atol=1e-7)


def test_workdir_of_a_classifier_is_refused(tmp_path):
  (tmp_path / "config.json").write_text(json.dumps({"model": {"name": "cnn_tiny"}}))
  with pytest.raises(ValueError, match="not an image-to-image restorer"):
    cli.workdir_restorer(str(tmp_path))

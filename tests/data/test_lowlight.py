"""The offline unpaired low-light set: darkened A, untouched B of other scenes, held-out test."""
import os

import numpy as np
import pytest

from rvjax.data import image_folder, lowlight


def test_prepare_writes_dark_a_normal_b_and_refuses_to_overwrite(tmp_path, monkeypatch):
  monkeypatch.setattr(lowlight, "PHOTOS_A", ("coffee.png",))  # One photo each keeps it fast.
  monkeypatch.setattr(lowlight, "PHOTOS_B", ("chelsea.png",))
  out = str(tmp_path / "ll")
  counts = lowlight.prepare(out, seed=0, limit=4)
  assert counts == {"A": 2 + 1, "B": 2 + 1, "test": 5}
  a = {n: image_folder.read_image(os.path.join(out, "A", n), 3)
       for n in sorted(os.listdir(os.path.join(out, "A")))}
  b = sorted(os.listdir(os.path.join(out, "B")))
  assert "train400_000.png" in a and "train400_001.png" in b and not set(a) & set(b)
  source = image_folder.read_folder(image_folder.restoration_dir("Train400"))[0]
  dark = a["train400_000.png"]
  # exposure <= 0.3 and gamma >= 1.5 on the source crop (gray replicated to RGB), plus noise.
  assert dark.mean() < 0.3 * np.mean(source ** 1.5) + 0.02
  assert a["coffee.png"].mean() < 0.3 * 0.5
  set5 = image_folder.read_folder(image_folder.restoration_dir("Set5"), channels=3)
  test = image_folder.read_folder(os.path.join(out, "test"), channels=3)
  np.testing.assert_allclose(test[0], set5[0], atol=0.5 / 255)
  with pytest.raises(ValueError, match="not empty"):
    lowlight.prepare(out, limit=4)

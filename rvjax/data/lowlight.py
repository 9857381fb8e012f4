"""An unpaired low-light set built from photos that ship offline (EnlightenGAN / Zero-DCE data).

When the user has no LOL-style data, `prepare(output)` writes three folders of RGB PNGs:
  A/     low light: the even Train400 crops and three scikit-image photos (astronaut, coffee,
         rocket), each darkened once by `rvjax.degrade.low_light` with its own exposure in
         [0.05, 0.3], gamma in [1.5, 2.5] and light shot/read noise (seeded);
  B/     normal light: the odd Train400 crops and three other photos (chelsea, motorcycle_left,
         motorcycle_right), untouched, so A and B show different scenes;
  test/  clean Set5 images, held out: an evaluation darkens them with fixed keys and scores the
         enhanced result against them (rvjax.evaluators.restoration).
Grayscale Train400 crops are replicated to three channels in both A and B, so gray versus
color does not tell the sets apart.
"""
import os

import jax
import jax.numpy as jnp
import numpy as np

from rvjax.data import image_folder

PHOTOS_A = ("astronaut.png", "coffee.png", "rocket.jpg")  # files of skimage's data folder
PHOTOS_B = ("chelsea.png", "motorcycle_left.png", "motorcycle_right.png")
EXPOSURE, GAMMA = (0.05, 0.3), (1.5, 2.5)
SHOT_GAIN, READ_SIGMA = 0.002, 1.0


def _photo(file: str) -> tuple[str, np.ndarray]:
  import skimage  # Local: only this set needs scikit-image (its bundled files, no download).
  path = os.path.join(os.path.dirname(skimage.__file__), "data", file)
  return os.path.splitext(file)[0], image_folder.read_image(path, channels=3)


def darken(key: jax.Array, image: np.ndarray) -> np.ndarray:
  """One (H, W, 3) image in [0, 1] darkened with exposure, gamma and noise drawn from `key`."""
  k_e, k_g, k_n = jax.random.split(key, 3)
  exposure = jax.random.uniform(k_e, (), minval=EXPOSURE[0], maxval=EXPOSURE[1])
  gamma = jax.random.uniform(k_g, (), minval=GAMMA[0], maxval=GAMMA[1])
  from rvjax import degrade
  return np.asarray(degrade.low_light(k_n, jnp.asarray(image)[None], exposure=exposure,
                                      gamma=gamma, gain=SHOT_GAIN, sigma=READ_SIGMA))[0]


def _rgb(image: np.ndarray) -> np.ndarray:
  return np.repeat(image, 3, -1) if image.shape[-1] == 1 else image


def _write(folder: str, name: str, image: np.ndarray) -> None:
  from PIL import Image
  arr = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
  Image.fromarray(arr).save(os.path.join(folder, name + ".png"))


def prepare(output: str, *, seed: int = 0, limit: int = 0) -> dict:
  """Writes output/A, output/B and output/test (see the module docstring); returns the counts.

  `limit` > 0 uses only the first `limit` Train400 crops (tests).

  Raises ValueError if `output` exists and is not empty (nothing is overwritten).
  """
  if os.path.exists(output) and os.listdir(output):
    raise ValueError(f"{output} exists and is not empty; choose a new folder.")
  train400 = image_folder.read_folder(image_folder.restoration_dir("Train400"))
  train400 = train400[:limit] if limit else train400
  set5 = image_folder.read_folder(image_folder.restoration_dir("Set5"), channels=3)
  sets = {"A": [(f"train400_{i:03d}", _rgb(im)) for i, im in enumerate(train400) if i % 2 == 0]
          + [_photo(n) for n in PHOTOS_A],
          "B": [(f"train400_{i:03d}", _rgb(im)) for i, im in enumerate(train400) if i % 2 == 1]
          + [_photo(n) for n in PHOTOS_B],
          "test": [(f"set5_{i}", im) for i, im in enumerate(set5)]}
  key = jax.random.key(seed)
  for split, items in sets.items():
    folder = os.path.join(output, split)
    os.makedirs(folder)
    for i, (name, image) in enumerate(items):
      _write(folder, name, darken(jax.random.fold_in(key, i), image) if split == "A" else image)
  return {split: len(items) for split, items in sets.items()}

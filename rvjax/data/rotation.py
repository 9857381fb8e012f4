"""Rotation prediction (Gidaris et al. 2018): the self-supervised task of the syn2real source models.

Sources of unlabeled images: grey patches of scikit-image's sample photos (no digits at all, so
no leakage of the target domain), or held-out real images whose labels are never read.
"""
import numpy as np

from rvjax.data import dataset as dataset_lib

PHOTOS = ("camera", "astronaut", "coffee", "chelsea", "rocket", "brick", "grass", "gravel",
          "moon", "text")
NUM_ROTATIONS = 4


def photo_patches(num: int, *, size: int = 8, crop: int = 32, seed: int = 0) -> np.ndarray:
  """(num, size, size, 1) float32 grey patches in [0, 1]: random crop x crop squares of the
  sample photos, area-downsampled to size x size (crop a multiple of size)."""
  from skimage import color, data
  if crop % size:
    raise ValueError(f"crop={crop} must be a multiple of size={size}.")
  rng = np.random.default_rng(seed)
  photos = []
  for name in PHOTOS:
    img = np.asarray(getattr(data, name)(), np.float32)
    img = color.rgb2gray(img[..., :3]) if img.ndim == 3 else img
    photos.append(img / max(float(img.max()), 1e-6))
  out = np.empty((num, size, size, 1), np.float32)
  f = crop // size
  for i in range(num):
    img = photos[rng.integers(len(photos))]
    y, x = rng.integers(img.shape[0] - crop), rng.integers(img.shape[1] - crop)
    patch = img[y:y + crop, x:x + crop].reshape(size, f, size, f).mean((1, 3))
    out[i, ..., 0] = patch
  return np.clip(out, 0.0, 1.0)


def rotation_task(images: np.ndarray) -> dataset_lib.Dataset:
  """Each (H, W, C) image (H == W) in all four rotations by k * 90 degrees, labelled k."""
  rotated = np.concatenate([np.rot90(images, k, axes=(1, 2)) for k in range(NUM_ROTATIONS)])
  labels = np.repeat(np.arange(NUM_ROTATIONS), len(images))
  return dataset_lib.make_dataset(rotated, labels, NUM_ROTATIONS, name="rotation")

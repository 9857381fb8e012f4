"""Image-folder datasets for image-to-image tasks: seeded patch batches and padded eval batches.

`read_folder` loads every image file of a folder (PNG, JPEG, BMP, TIFF; grayscale or RGB) as
float32 (H, W, C) in [0, 1]; the images may have different sizes. The restoration benchmarks
(Train400, BSD68, Set5) sit under `../shared/data/restoration` next to the repository:
`read_folder(restoration_dir("BSD68"))`.

Training batches are random square patches, each under one of the 8 dihedral transforms (4
rotations by 90 degrees, each optionally mirrored), and a pure function of (seed, step): batch
`step` is drawn from `np.random.default_rng([seed, step])`, so a restarted run replays it exactly,
like the classification iterator (rvjax.data.iterator).

A paired batch carries the clean patch as "target" and as "image": the degradation runs on device
inside the step (rvjax.objectives.degraded). Eval batches hold whole images zero-padded at the
bottom and right to the largest size of the set (one shape, no recompilation), with "mask" (B,)
0 on padding rows and "pixel_mask" (B, H, W, 1) 1 on the real pixels.
"""
import dataclasses
import os
from collections.abc import Iterator

import numpy as np

from rvjax import validate

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_MODES = {1: "L", 3: "RGB"}


def restoration_dir(name: str = "") -> str:
  """`../shared/data/restoration/<name>` seen from the repository root."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  return os.path.join(root, "..", "shared", "data", "restoration", name)


def read_image(path: str, channels: int | None = None) -> np.ndarray:
  """One image file as float32 (H, W, C) in [0, 1]; C as stored (1 or 3) unless `channels`.

  Raises ValueError naming the file when it is not a readable image.
  """
  from PIL import Image, UnidentifiedImageError  # Local: only image folders need Pillow.
  if channels is not None:
    validate.check_choice(channels, "channels", _MODES)
  try:
    with Image.open(path) as im:
      if im.mode.startswith("I;16") and channels in (None, 1):  # 16-bit gray: no 8-bit clip.
        array = np.asarray(im, np.float32) / 65535.0
      else:
        mode = _MODES[channels] if channels else ("L" if im.mode in ("L", "LA", "1", "P")
                                                  and _is_gray(im) else "RGB")
        array = np.asarray(im.convert(mode), np.float32) / 255.0
  except (UnidentifiedImageError, OSError, ValueError) as e:
    raise ValueError(f"{path} is not a readable image ({type(e).__name__}: {e}).") from None
  return array[..., None] if array.ndim == 2 else array


def _is_gray(im) -> bool:
  if im.mode != "P":
    return True
  palette = np.asarray(im.convert("RGB"))
  return bool(np.all(palette[..., 0] == palette[..., 1]) and np.all(palette[..., 1] ==
                                                                    palette[..., 2]))


def read_folder(folder: str, *, channels: int | None = None) -> list[np.ndarray]:
  """Every image of `folder` in file-name order, each float32 (H, W, C) in [0, 1].

  Args:
    folder: a directory holding only image files (EXTENSIONS; hidden files are skipped).
    channels: 1 (luminance) or 3 (RGB) to convert every image; None keeps them as stored, and
      then they must all have the same number of channels.
  Raises ValueError for a missing or empty folder, a file without an image extension, an
  unreadable image, or mixed channel counts, naming the file.
  """
  if not os.path.isdir(folder):
    raise ValueError(f"Image folder {folder!r} does not exist.")
  names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
  for n in names:
    if not n.lower().endswith(EXTENSIONS):
      raise ValueError(f"{os.path.join(folder, n)} is not an image file (extensions: "
                       f"{', '.join(EXTENSIONS)}).")
  if not names:
    raise ValueError(f"Image folder {folder!r} holds no images.")
  images = [read_image(os.path.join(folder, n), channels) for n in names]
  counts = {im.shape[-1] for im in images}
  if len(counts) > 1:
    raise ValueError(f"{folder} mixes grayscale and RGB images; pass channels=1 or 3.")
  return images


@dataclasses.dataclass(frozen=True)
class Folder:
  """A split of an image-to-image task held in host memory.

  Attributes:
    images: the (H, W, C) float32 images in [0, 1] (set A of an unpaired task).
    references: set B of an unpaired task, or None.
    channels: C, the same for every image.
  """
  images: list
  references: list | None = None
  num_classes = None  # Image-to-image tasks have no classes.

  @property
  def channels(self) -> int:
    return self.images[0].shape[-1]

  def __len__(self) -> int:
    return len(self.images)


def _resolve(folder: str, data_dir: str) -> str:
  if os.path.isabs(folder):
    return folder
  return os.path.join(data_dir, folder) if data_dir else restoration_dir(folder)


def load_split(data_cfg, split: str) -> Folder | None:
  """Split `split` of an image-folder `config.data`; None when it names no folder for `split`.

  `data_cfg.kwargs`: `folders` {split: folder}, optional `reference` (set B of the train split,
  unpaired tasks), `channels` (1, 3 or 0 for as stored) and `patch`; a relative folder is read
  under `data_cfg.data_dir`, else under `restoration_dir()`.
  """
  kwargs = data_cfg.kwargs
  folder = dict(kwargs.get("folders", {})).get(split)
  if not folder:
    return None
  channels = kwargs.get("channels", 0) or None
  data_dir = data_cfg.get("data_dir", "")
  reference = kwargs.get("reference", "") if split == "train" else ""
  return Folder(read_folder(_resolve(folder, data_dir), channels=channels),
                read_folder(_resolve(reference, data_dir), channels=channels) if reference
                else None)


DIHEDRAL = 8


def dihedral(image: np.ndarray, k: int) -> np.ndarray:
  """The k-th of the 8 dihedral transforms of (H, W, C): rot90 by k mod 4, mirrored if k >= 4."""
  out = np.rot90(image, k % 4, axes=(0, 1))
  return np.ascontiguousarray(out[:, ::-1] if k >= 4 else out)


def patch_batch(images: list[np.ndarray], seed: int, step: int, *, patch: int,
                batch_size: int) -> np.ndarray:
  """(batch_size, patch, patch, C) random patches: a pure function of (seed, step).

  Each patch picks an image uniformly, a uniform top-left corner, then one of the 8 dihedral
  transforms uniformly. Raises ValueError if an image is smaller than `patch`.
  """
  validate.check_positive(patch, "patch", integer=True)
  validate.check_positive(batch_size, "batch_size", integer=True)
  small = [i for i, im in enumerate(images) if min(im.shape[:2]) < patch]
  if small:
    raise ValueError(f"patch={patch} is larger than image {small[0]} of shape "
                     f"{images[small[0]].shape}.")
  rng = np.random.default_rng([seed, step])
  out = []
  for _ in range(batch_size):
    im = images[rng.integers(len(images))]
    top = rng.integers(im.shape[0] - patch + 1)
    left = rng.integers(im.shape[1] - patch + 1)
    out.append(dihedral(im[top:top + patch, left:left + patch], int(rng.integers(DIHEDRAL))))
  return np.stack(out)


def paired_batches(images: list[np.ndarray], *, patch: int, batch_size: int, seed: int,
                   start_step: int = 0) -> Iterator[dict]:
  """Paired-task batches {"image", "target": (B, p, p, C) clean patches, "mask": (B,) ones}.

  "image" equals "target": the degradation runs on device (rvjax.objectives.degraded.wrap).
  """
  step = start_step
  while True:
    clean = patch_batch(images, seed, step, patch=patch, batch_size=batch_size)
    yield {"image": clean, "target": clean, "mask": np.ones(batch_size, np.float32)}
    step += 1


def unpaired_batches(images: list[np.ndarray], references: list[np.ndarray], *, patch: int,
                     batch_size: int, seed: int, start_step: int = 0) -> Iterator[dict]:
  """Unpaired-task batches {"image": set A patches, "reference": set B patches, "mask"}.

  The two sets are sampled independently: set B with seed `seed + 1`.
  """
  step = start_step
  while True:
    yield {"image": patch_batch(images, seed, step, patch=patch, batch_size=batch_size),
           "reference": patch_batch(references, seed + 1, step, patch=patch,
                                    batch_size=batch_size),
           "mask": np.ones(batch_size, np.float32)}
    step += 1


def eval_batches(images: list[np.ndarray], *, batch_size: int) -> Iterator[dict]:
  """Every image once, in order, zero-padded to the set's largest (H, W).

  Yields {"image", "target": (B, H, W, C) the padded clean images, "mask": (B,) 0 on padding
  rows, "pixel_mask": (B, H, W, 1) 1 on real pixels}; the last batch is filled with copies of
  image 0 under mask 0.
  """
  validate.check_positive(batch_size, "batch_size", integer=True)
  h = max(im.shape[0] for im in images)
  w = max(im.shape[1] for im in images)
  c = images[0].shape[-1]
  for lo in range(0, len(images), batch_size):
    target = np.zeros((batch_size, h, w, c), np.float32)
    pixel_mask = np.zeros((batch_size, h, w, 1), np.float32)
    mask = np.zeros(batch_size, np.float32)
    for row in range(batch_size):
      i = lo + row if lo + row < len(images) else 0
      im = images[i]
      target[row, :im.shape[0], :im.shape[1]] = im
      pixel_mask[row, :im.shape[0], :im.shape[1]] = 1.0
      mask[row] = float(lo + row < len(images))
    yield {"image": target, "target": target, "mask": mask, "pixel_mask": pixel_mask}

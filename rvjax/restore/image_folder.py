"""Folders of images for restoration runs: strict reading, safe atomic PNG writing.

Host-side (numpy/PIL), not jit-able. Images are read by `rvjax.data.image_folder.read_image` as
float32 (H, W, C) in [0, 1], C = 1 for grayscale files (8- or 16-bit) and 3 for everything else.
"""
import os
import tempfile

import numpy as np
from PIL import Image

from rvjax.data import image_folder as data_folders


def list_images(folder: str) -> list[str]:
  """Sorted file names (not hidden, not folders) in `folder`; ValueError if none or missing."""
  if not os.path.isdir(folder):
    raise ValueError(f"{folder}: not a folder.")
  names = sorted(n for n in os.listdir(folder)
                 if not n.startswith(".") and os.path.isfile(os.path.join(folder, n)))
  if not names:
    raise ValueError(f"{folder}: no files to read.")
  return names


def read_folder(folder: str) -> dict[str, np.ndarray]:
  """{file name: (H, W, C) float32 image} for every file; the first unreadable one raises."""
  return {n: data_folders.read_image(os.path.join(folder, n)) for n in list_images(folder)}


def check_output_folder(input_folder: str, output_folder: str) -> None:
  """ValueError if the output folder is the input folder or lies inside it (after symlinks)."""
  src = os.path.realpath(input_folder)
  dst = os.path.realpath(output_folder)
  if dst == src or os.path.commonpath([src, dst]) == src:
    raise ValueError(f"output folder {output_folder} is the input folder or inside it; choose a "
                     "folder outside the input, which is never written.")


def output_name(name: str) -> str:
  """The PNG name a restored `name` is written under: the same stem, extension .png."""
  return os.path.splitext(name)[0] + ".png"


def write_png(path: str, image: np.ndarray) -> None:
  """Writes (H, W, C) [0, 1] floats (clipped, rounded to 8 bits) atomically as a PNG."""
  arr = np.round(np.clip(np.asarray(image, np.float32), 0, 1) * 255).astype(np.uint8)
  arr = arr[..., 0] if arr.shape[-1] == 1 else arr
  write_atomic(path, lambda f: Image.fromarray(arr).save(f, format="PNG"), binary=True)


def write_atomic(path: str, write, *, binary: bool = False) -> None:
  """Calls `write(file)` on a temporary file next to `path`, then renames it onto `path`."""
  folder = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp_", suffix=os.path.basename(path))
  try:
    with os.fdopen(fd, "wb" if binary else "w") as f:
      write(f)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise

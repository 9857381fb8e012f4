r"""Throughput of rvjax.corruptions next to the imagecorruptions package, in one run.

  python benchmarks/corruption_throughput.py [--quick]

For every corruption at severity 3: images/s of `rvjax.corruptions.corrupt` (jitted, compile
excluded by a warm-up call, block_until_ready, median of repeats) on a batch of 32x32 images with
the CIFAR-10-C table and of 224x224 images with the ImageNet-C table, and images/s of
`imagecorruptions.corrupt` (numpy / OpenCV / Pillow, one image at a time) on the same images;
ratio = rvjax / imagecorruptions. The package only knows the ImageNet-C table, so at 32 px it does
different work from rvjax's CIFAR table (e.g. glass blur iterations); at 224 px both use the
ImageNet-C parameters. Images are scikit-image sample photos, center-cropped and resized.

The installed imagecorruptions predates numpy 2 / scikit-image 0.19; this script adapts two calls
in its module (`multichannel=True` -> `channel_axis=-1`, `np.float_` -> `np.float64`) so that all
19 corruptions run. --quick times fewer package images and one repeat (about a minute on a CPU
once compiled; compile time is excluded from the numbers but not from the wall time).
"""
import argparse
import os
import sys
import time
import warnings

import jax
import numpy as np
from skimage import data, transform

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from rvjax import corruptions  # noqa: E402

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "cat", "immunohistochemistry")


def photos(size, n):
  """(n, size, size, 3) uint8: center square crops of the sample photos, resized, cycled."""
  out = []
  for name in PHOTOS:
    img = getattr(data, name)()
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    img = transform.resize(img, (size, size), anti_aliasing=True)
    out.append(np.round(img * 255).astype(np.uint8))
  return np.stack([out[i % len(out)] for i in range(n)])


def reference_package():
  """imagecorruptions.corrupt with its two outdated calls adapted, or None if not installed."""
  try:
    import imagecorruptions
    import imagecorruptions.corruptions as icc
  except ImportError:
    return None
  from skimage import filters

  def gaussian(*args, multichannel=None, **kwargs):
    if multichannel:
      kwargs["channel_axis"] = -1
    return filters.gaussian(*args, **kwargs)

  icc.gaussian = gaussian
  if not hasattr(np, "float_"):
    np.float_ = np.float64  # used by the package's plasma_fractal (fog)
  return imagecorruptions.corrupt


def rvjax_rate(images_u8, name, table, repeats):
  x = jax.device_put(images_u8.astype(np.float32) / 255)
  fn = jax.jit(lambda x, k: corruptions.corrupt(x, name, 3, key=k, table=table))
  seconds = common.time_fn(fn, x, jax.random.key(0), repeats=repeats)
  return len(images_u8) / seconds


def package_rate(ic_corrupt, images_u8, name):
  if ic_corrupt is None:
    return float("nan")
  ic_corrupt(images_u8[0], severity=3, corruption_name=name)  # warm-up (imports, file reads)
  t = time.perf_counter()
  for img in images_u8:
    ic_corrupt(img, severity=3, corruption_name=name)
  return len(images_u8) / (time.perf_counter() - t)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--quick", action="store_true",
                      help="One repeat, fewer images for the package (about a minute).")
  args = parser.parse_args()
  warnings.filterwarnings("ignore")
  repeats = 1 if args.quick else 5
  ic_corrupt = reference_package()
  cases = (  # (size, table, rvjax batch, package images)
      (32, "cifar10", 64, 16 if args.quick else 64),
      (224, "imagenet", 16, 2 if args.quick else 16),
  )
  device = jax.devices()[0]
  print(f"device: {device.platform} ({device.device_kind}), severity 3, images/s "
        f"(compile excluded); ratio = rvjax / imagecorruptions")
  rows = {name: [] for name in corruptions.NAMES}
  start = time.perf_counter()
  for size, table, batch, n_ref in cases:
    images = photos(size, batch)
    for name in corruptions.NAMES:
      ours = rvjax_rate(images, name, table, repeats)
      try:
        ref = package_rate(ic_corrupt, images[:n_ref], name)
      except Exception as e:  # pylint: disable=broad-except
        print(f"  imagecorruptions {name} failed: {type(e).__name__}: {e}")
        ref = float("nan")
      rows[name].append((ours, ref))
  header = (f"{'corruption':18s} | {'32px rvjax':>10s} {'ic':>8s} {'ratio':>7s} | "
            f"{'224px rvjax':>11s} {'ic':>8s} {'ratio':>7s}")
  print(f"batches: 32 px x{cases[0][2]} (cifar10 table; ic on {cases[0][3]}), "
        f"224 px x{cases[1][2]} (imagenet table; ic on {cases[1][3]})")
  print(header)
  print("-" * len(header))
  for name, ((o32, r32), (o224, r224)) in rows.items():
    print(f"{name:18s} | {o32:10.0f} {r32:8.0f} {o32 / r32:7.1f} | "
          f"{o224:11.1f} {r224:8.1f} {o224 / r224:7.1f}")
  print(f"wall time {time.perf_counter() - start:.0f} s (compiles included)")


if __name__ == "__main__":
  main()

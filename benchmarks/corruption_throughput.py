r"""The 19 corruptions of rvjax next to the imagecorruptions package, side by side in one run.

  python benchmarks/corruption_throughput.py [--quick]

For every corruption at severity 3 and two image sizes: images/s of `rvjax.corruptions.corrupt`
(jitted, compile excluded by a warm-up call, block_until_ready) on a batch of 256 images of 32x32
px with the CIFAR-10-C table and of 16 images of 224x224 px with the ImageNet-C table, and
images/s of `imagecorruptions.corrupt` (numpy / OpenCV / Pillow, one uint8 image at a time, as the
package works) on the same images; ratio = rvjax / imagecorruptions. The two are timed in
alternation, repeat after repeat, and each rate is the median over the repeats, so that a change
of load on a shared machine hits both alike. Both run for about `budget` seconds per repeat: the
package as many images as fit (at least one), rvjax as many batches, back to back, each awaited
(at least one), so both rates are steady-state throughput (before, rvjax's rate came from one
batch timed right after the package's turn, a colder and noisier measure). "suite" is the time
to apply all 19 corruptions to one image, package over rvjax. "cpu" is the ratio in process CPU
seconds per image instead (all threads of both, XLA's pool included): the work done, which other
jobs on a shared machine disturb far less than wall time (under load, XLA's multi-threaded ops
lose most).

The package only knows the ImageNet-C table, so at 32 px it does different work from rvjax's
CIFAR table (e.g. glass blur iterations); at 224 px both use the ImageNet-C parameters, and the
table also gives their agreement on the timed images: "strength" is rvjax's mean |x_c - x| over
the package's, and for the corruptions that draw no random numbers, "diff" is the mean
|rvjax - package| in 8-bit levels. Images are scikit-image sample photos, center-cropped and
resized.

The installed imagecorruptions predates numpy 2 / scikit-image 0.19 / setuptools 81; this script
adapts three names in its module (`multichannel=True` -> `channel_axis=-1`, `np.float_` ->
`np.float64`, and `pkg_resources.resource_filename` for its frost photos) so that all 19
corruptions run. `run(quick)` is what `benchmarks/peers.py` calls; --quick takes 3 repeats and a
shorter package budget (a few minutes on a 2-core CPU, most of it compiling).
"""
import argparse
import importlib.util
import os
import sys
import time
import types
import warnings

import jax
import numpy as np
from skimage import data, transform

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from rvjax import corruptions  # noqa: E402

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "cat", "immunohistochemistry")
SEVERITY = 3
CASES = ((32, "cifar10", 256), (224, "imagenet", 16))  # (size, rvjax table, rvjax batch)


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
  """imagecorruptions.corrupt with its outdated calls adapted, or None if not installed."""
  if "pkg_resources" not in sys.modules and importlib.util.find_spec("pkg_resources") is None:
    shim = types.ModuleType("pkg_resources")
    shim.resource_filename = lambda package, path: os.path.join(
        os.path.dirname(sys.modules[package].__file__), path)
    sys.modules["pkg_resources"] = shim
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


def _measure(name, images_u8, table, ic_corrupt, repeats, budget):
  """One row: rvjax and package rates timed in alternation, and their agreement."""
  x = jax.device_put(images_u8.astype(np.float32) / 255)
  key = jax.random.key(0)
  ours = jax.jit(lambda x, k: corruptions.corrupt(x, name, SEVERITY, key=k, table=table))
  out = np.asarray(jax.block_until_ready(ours(x, key)))  # compiles
  t = time.perf_counter()
  jax.block_until_ready(ours(x, key))
  calls = int(np.clip(budget / max(time.perf_counter() - t, 1e-6), 1, 1000))

  def run_ours():
    for _ in range(calls):
      jax.block_until_ready(ours(x, key))
  theirs, n_ic, ic_out = None, 0, None
  if ic_corrupt is not None:
    def theirs(n):
      return [ic_corrupt(img, severity=SEVERITY, corruption_name=name) for img in images_u8[:n]]
    t = time.perf_counter()
    ic_out = np.stack(theirs(1))  # warm-up (imports, file reads)
    n_ic = int(np.clip(budget / max(time.perf_counter() - t, 1e-6), 1, len(images_u8)))
    ic_out = np.stack(theirs(n_ic))
  t_ours, t_theirs, cpu_ours, cpu_theirs = [], [], [], []
  for _ in range(repeats):
    t, c = time.perf_counter(), time.process_time()
    run_ours()
    t_ours.append((time.perf_counter() - t) / calls)
    cpu_ours.append((time.process_time() - c) / calls)
    if theirs is not None:
      t, c = time.perf_counter(), time.process_time()
      theirs(n_ic)
      t_theirs.append(time.perf_counter() - t)
      cpu_theirs.append(time.process_time() - c)
  row = dict(name=name, size=images_u8.shape[1], table=table, batch=len(images_u8),
             rvjax=len(images_u8) / float(np.median(t_ours)),
             imagecorruptions=n_ic / float(np.median(t_theirs)) if theirs else float("nan"),
             cpu_ratio=(float(np.median(cpu_theirs)) / n_ic) / (float(np.median(cpu_ours))
                                                                 / len(images_u8))
             if theirs else float("nan"),
             strength=float("nan"), diff=float("nan"))
  row["ratio"] = row["rvjax"] / row["imagecorruptions"]
  if ic_out is not None and table == "imagenet":
    src = images_u8[:n_ic].astype(np.float32) / 255
    ref = ic_out.astype(np.float32) / 255
    row["strength"] = float(np.abs(out[:n_ic] - src).mean() / np.abs(ref - src).mean())
    if name not in corruptions.RANDOM:
      row["diff"] = float(np.abs(out[:n_ic] - ref).mean() * 255)
  return row


def _suite_ratio(rows):
  """Package seconds over rvjax seconds to apply every corruption in `rows` to one image."""
  return (sum(1 / r["imagecorruptions"] for r in rows) / sum(1 / r["rvjax"] for r in rows))


def run(quick: bool = False) -> list[dict]:
  """Times the 19 corruptions against imagecorruptions at 32 and 224 px and prints the table.

  Returns one dict per corruption and size: name, size, table, batch, rvjax and imagecorruptions
  (images/s; NaN if the package is missing), ratio, cpu_ratio (the same ratio in process CPU
  seconds), strength and diff (224 px; NaN otherwise).
  """
  warnings.filterwarnings("ignore")
  repeats, budget = (3, 0.1) if quick else (7, 0.3)
  ic_corrupt = reference_package()
  device = jax.devices()[0]
  print(f"corruptions: device {device.platform} ({device.device_kind}), severity {SEVERITY}, "
        f"images/s (compile excluded), median of {repeats} alternated repeats; "
        f"ratio = rvjax / imagecorruptions")
  if ic_corrupt is None:
    print("  imagecorruptions is not installed (pip install imagecorruptions): rvjax only")
  rows = []
  start = time.perf_counter()
  for size, table, batch in CASES:
    images = photos(size, batch)
    for name in corruptions.NAMES:
      rows.append(_measure(name, images, table, ic_corrupt, repeats, budget))
  by_size = {size: [r for r in rows if r["size"] == size] for size, _, _ in CASES}
  (s1, t1, b1), (s2, t2, b2) = CASES
  header = (f"{'corruption':18s} | {f'{s1}px rvjax':>10s} {'ic':>8s} {'ratio':>6s} {'cpu':>6s} | "
            f"{f'{s2}px rvjax':>11s} {'ic':>8s} {'ratio':>6s} {'cpu':>6s} {'strength':>8s} "
            f"{'diff':>5s}")
  print(f"batches: {s1} px x{b1} ({t1} table), {s2} px x{b2} ({t2} table); cpu = the ratio in "
        f"process CPU seconds per image (all threads; the work, less sensitive to other jobs); "
        f"strength = mean|x_c - x| rvjax / ic, diff = mean|rvjax - ic| in 1/255 (deterministic)")
  print(header)
  print("-" * len(header))
  for a, b in zip(by_size[s1], by_size[s2]):
    diff = "-" if np.isnan(b["diff"]) else f"{b['diff']:.2f}"
    print(f"{a['name']:18s} | {a['rvjax']:10.0f} {a['imagecorruptions']:8.0f} {a['ratio']:6.2f} "
          f"{a['cpu_ratio']:6.2f} | {b['rvjax']:11.1f} {b['imagecorruptions']:8.1f} "
          f"{b['ratio']:6.2f} {b['cpu_ratio']:6.2f} {b['strength']:8.2f} {diff:>5s}")
  suites = {size: _suite_ratio(r) for size, r in by_size.items()}
  print(f"{'suite (all 19)':18s} | {'':19s} {suites[s1]:6.2f} {'':6s} | {'':20s} {suites[s2]:6.2f}")
  slower = [f"{r['name']}@{r['size']}" for r in rows if r["ratio"] < 1]
  print(f"slower than imagecorruptions: {', '.join(slower) or 'none'}; "
        f"wall time {time.perf_counter() - start:.0f} s (compiles included)")
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true",
                      help="3 repeats and a 0.1 s package budget per repeat.")
  run(parser.parse_args().quick)


if __name__ == "__main__":
  main()

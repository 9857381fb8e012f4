"""Denoising throughput in megapixels/s: DnCNN inference, rvjax TV/NLM/wavelet, scikit-image, BM3D.

  python -m benchmarks.restoration_throughput [--size=256] [--batch=4] [--repeats=3]

All on grayscale size x size crops of BSD68 with sigma = 25 noise, in one run. rvjax functions
are jitted and timed after compilation (median of --repeats); scikit-image and bm3d run on one
image at a time. DnCNN (17 layers, 64 channels) has untrained weights: speed does not depend on
them. Prints each rate and the DnCNN / BM3D ratio (the issue's goal: >= 50x).

Result (quiet 2-core x86-64 CPU, jax 0.10.2): dncnn 0.333 MP/s, tv 5.182, nlm 0.882, wavelet
437.3; skimage tv 5.409, nlm (fast) 1.007; bm3d 0.052; DnCNN / BM3D 6.4x. DnCNN runs at ~78% of
this CPU's float32 matmul peak, so 50x is out of reach here (docs/results_details.md).
"""
import argparse
import glob
import time

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
from skimage import restoration

import rvjax.degrade as D
import rvjax.restore as R
from benchmarks.common import time_fn
from rvjax import models


def host_time(fn, images, repeats):
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    for im in images:
      fn(im)
    times.append(time.perf_counter() - start)
  return sorted(times)[len(times) // 2]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data", default="../shared/data/restoration/BSD68")
  parser.add_argument("--size", type=int, default=256)
  parser.add_argument("--batch", type=int, default=4)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  files = sorted(glob.glob(f"{args.data}/*.png"))[:args.batch]
  s = args.size
  x = np.stack([np.asarray(Image.open(f).convert("L"), np.float32)[:s, :s, None] / 255
                for f in files])
  y = D.gaussian_noise(jax.random.key(0), jnp.asarray(x), sigma=25.0)
  mpix = y.shape[0] * s * s / 1e6
  print(f"{y.shape[0]} x {s}x{s} grayscale, sigma 25; jax {jax.__version__} on "
        f"{jax.devices()[0].platform}; shared machine, wall times")
  model = models.create("dncnn")
  variables = jax.jit(lambda z: model.init(jax.random.key(0), z, train=False))(y)
  rates = {}
  jitted = {
      "dncnn (rvjax, jit)": jax.jit(lambda z: model.apply(variables, z, train=False)),
      "tv (rvjax, jit)": jax.jit(lambda z: R.tv_denoise(z, weight=0.0875)),
      "nlm 7x7/15x15 (rvjax, jit)": jax.jit(lambda z: R.nlm_denoise(z, sigma=25.0, h=15.0,
                                                                    patch_distance=7)),
      "wavelet (rvjax, jit)": jax.jit(lambda z: R.wavelet_denoise(z, sigma=25.0)),
  }
  for name, fn in jitted.items():
    rates[name] = mpix / time_fn(fn, y, repeats=args.repeats)
    print(f"{name:34s} {rates[name]:8.3f} MP/s", flush=True)
  planes = [np.asarray(im[..., 0], np.float64) for im in y]
  host = {
      "tv (skimage)": lambda im: restoration.denoise_tv_chambolle(im, weight=0.0875),
      "nlm 7x7/15x15 (skimage, fast)": lambda im: restoration.denoise_nl_means(
          im, h=15 / 255, sigma=25 / 255, patch_size=7, patch_distance=7),
  }
  try:
    import bm3d
    host["bm3d (bm3d package)"] = lambda im: bm3d.bm3d(im, sigma_psd=25 / 255)
  except ImportError:
    print("bm3d not installed (pip install -e .[bench]); skipping it")
  for name, fn in host.items():
    reps = 1 if "bm3d" in name else args.repeats
    rates[name] = mpix / host_time(fn, planes, reps)
    print(f"{name:34s} {rates[name]:8.3f} MP/s", flush=True)
  if "bm3d (bm3d package)" in rates:
    ratio = rates["dncnn (rvjax, jit)"] / rates["bm3d (bm3d package)"]
    print(f"DnCNN / BM3D speed ratio: {ratio:.1f}x (goal >= 50x)")


if __name__ == "__main__":
  main()

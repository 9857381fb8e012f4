"""Set5 super-resolution PSNR (Y channel, border crop = scale) at x2, x3, x4.

  python -m benchmarks.set5_sr [--scales=2,3,4] [--methods=bicubic] [--workdir=[NAME=]W ...]
  python -m benchmarks.set5_sr --scales=3 --methods=bicubic,srcnn,vdsr \
      --workdir=srcnn=/tmp/srcnn3 --workdir=vdsr=/tmp/vdsr3

Protocol of the SRCNN/VDSR papers: the ground truth is cropped to a multiple of the scale
(modcrop), converted to Y (MATLAB rgb2ycbcr, rounded to 8 bits as MATLAB does for uint8 input),
down-sampled and up-sampled with MATLAB-style anti-aliased bicubic (rvjax.degrade.imresize),
and compared on Y in [0, 1] with a border of `scale` pixels removed. Method "workdir" runs a
trained SR model (SRCNN/VDSR, bicubic-upsampled Y input) from --workdir.
"""
import argparse
import glob
import os

import jax.numpy as jnp
import numpy as np
from PIL import Image

import rvjax.degrade as D
from benchmarks import bsd68_denoise
from rvjax import metrics

PUBLISHED = {"bicubic": {2: 33.66, 3: 30.39, 4: 28.42}, "srcnn": {2: 36.66, 3: 32.75, 4: 30.48},
             "vdsr": {2: 37.53, 3: 33.66, 4: 31.35}}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data", default="../shared/data/restoration/Set5")
  parser.add_argument("--scales", default="2,3,4")
  parser.add_argument("--methods", default="bicubic")
  parser.add_argument("--workdir", action="append", default=[], help="[NAME=]DIR (repeat)")
  args = parser.parse_args()
  files = sorted(glob.glob(os.path.join(args.data, "*")))
  if not files:
    raise SystemExit(f"No images in {args.data}.")
  methods = args.methods.split(",")
  workdirs = bsd68_denoise.parse_workdirs(args.workdir, ("bicubic",))
  unknown = [m for m in methods if m != "bicubic" and m not in workdirs]
  if unknown:
    raise SystemExit(f"Unknown methods {unknown}: bicubic or a --workdir name "
                     f"({', '.join(workdirs) or 'none given'}).")
  if workdirs:
    from launch.restore import workdir_restorer
  models = {m: workdir_restorer(workdirs[m]) for m in methods if m in workdirs}
  print(f"Set5: {len(files)} images")
  print(f"{'scale':>5} {'method':>8} " + " ".join(f"{os.path.basename(f)[:8]:>8}" for f in files)
        + f" {'mean':>7} {'published':>9}")
  for scale in map(int, args.scales.split(",")):
    for method in methods:
      values = []
      for f in files:
        rgb = np.asarray(Image.open(f).convert("RGB"), np.float32)[None] / 255
        h, w = rgb.shape[1:3]
        rgb = rgb[:, :h - h % scale, :w - w % scale]
        y = jnp.round(metrics.rgb_to_y(rgb) * 255) / 255
        up = D.imresize(D.downsample(None, y, factor=scale), scale)
        out = up if method == "bicubic" else models[method](up)
        values.append(float(metrics.psnr(jnp.clip(out, 0, 1), y, crop=scale)[0]))
      pub = PUBLISHED.get(method, {}).get(scale, "")
      print(f"{scale:5d} {method:>8} " + " ".join(f"{v:8.2f}" for v in values) +
            f" {np.mean(values):7.2f} {pub:>9}", flush=True)


if __name__ == "__main__":
  main()

"""Fits rvjax's own NIQE pristine model on Train400 and writes rvjax/metrics/niqe_train400.npz.

  python -m benchmarks.fit_niqe [--data=../shared/data/restoration/Train400] [--patch_size=64]

The sharper half of the blocks (by mean local std) is kept: the original NIQE keeps blocks
above 0.75 of the sharpest one, which on 180x180 crops leaves too few. Prints the number of
blocks used and the feature means.
"""
import argparse
import glob
import os

import numpy as np
from PIL import Image

from rvjax.metrics import no_reference

def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data", default="../shared/data/restoration/Train400")
  parser.add_argument("--patch_size", type=int, default=64)
  parser.add_argument("--output", default=no_reference.MODEL_PATH)
  args = parser.parse_args()
  files = sorted(glob.glob(os.path.join(args.data, "*.png")))
  if not files:
    raise SystemExit(f"No PNG images in {args.data}.")
  images = np.stack([np.asarray(Image.open(f).convert("L"), np.float32) / 255 for f in files])
  feats, sharp = [], []
  for i in range(0, len(images), 50):
    f, s = no_reference.block_features(images[i:i + 50, :, :, None], args.patch_size)
    feats.append(np.asarray(f).reshape(-1, f.shape[-1]))
    sharp.append(np.asarray(s).ravel())
  feats, sharp = np.concatenate(feats), np.concatenate(sharp)
  keep = sharp >= np.median(sharp)
  chosen = feats[keep].astype(np.float64)
  mean, cov = chosen.mean(0), np.cov(chosen, rowvar=False)
  source = (f"rvjax's own NIQE-style fit: {len(files)} Train400 images, {int(keep.sum())} of "
            f"{len(sharp)} {args.patch_size}px blocks (the sharper half), benchmarks/fit_niqe.py")
  tmp = args.output + ".tmp.npz"
  np.savez(tmp, mean=mean.astype(np.float32), cov=cov.astype(np.float32),
           patch_size=np.int64(args.patch_size), source=np.str_(source))
  os.replace(tmp, args.output)
  print(source)
  print("feature means:", np.round(mean, 3).tolist())


if __name__ == "__main__":
  main()

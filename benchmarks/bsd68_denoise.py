"""BSD68 grayscale AWGN denoising table: PSNR/SSIM of the noisy input and each method.

  python -m benchmarks.bsd68_denoise [--sigmas=15,25,50] [--methods=noisy,tv,nlm,wavelet,bm3d]
      [--limit=68] [--bm3d_limit=68] [--workdir=W]   # method "workdir": a trained restorer

Protocol (../shared/data/README.md): [0, 1] pixels, AWGN of std sigma/255 (seeded per image and
sigma), noisy input not clipped or quantized, PSNR with data range 1 averaged over images; SSIM
is Wang et al.'s (rvjax.metrics.ssim). Outputs are clipped to [0, 1] before scoring. Classical
parameters were chosen on Train400 images, not BSD68 (see PARAMS); NLM uses 7x7 patches and a
15x15 search window. BM3D (bm3d package, the
reference implementation's profile "np") runs on the first --bm3d_limit images; every method is
also reported on that subset so the comparison is like for like.
"""
import argparse
import glob
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

import rvjax.degrade as D
import rvjax.restore as R
from rvjax import metrics

PUBLISHED = {"bm3d": {15: 31.07, 25: 28.57, 50: 25.62}, "dncnn": {15: 31.73, 25: 29.23, 50: 26.23}}
# Chosen on 4 Train400 crops (every 100th; grid TV weight/sigma in {.0025, .0035, .0045}, NLM
# h/sigma in {.5, .6, .8}), interpolated linearly in sigma between 15, 25 and 50.
_TV_WEIGHT = ((15, 25, 50), (0.0375, 0.0875, 0.175))
_NLM_H = ((15, 25, 50), (0.8, 0.6, 0.6))
PARAMS = {
    "tv": lambda s: {"weight": float(np.interp(s, *_TV_WEIGHT))},
    "nlm": lambda s: {"sigma": s, "h": float(np.interp(s, *_NLM_H)) * s, "patch_size": 7,
                      "patch_distance": 7},
    "wavelet": lambda s: {"sigma": s},
}


def load(folder, limit):
  files = sorted(glob.glob(os.path.join(folder, "*.png")))[:limit]
  if not files:
    raise SystemExit(f"No PNG images in {folder}.")
  return files, [np.asarray(Image.open(f).convert("L"), np.float32)[..., None] / 255 for f in files]


def restorer(method, sigma, workdir):
  if method == "noisy":
    return lambda y: y
  if method == "bm3d":
    import bm3d
    return lambda y: np.stack([bm3d.bm3d(im[..., 0], sigma_psd=sigma / 255)[..., None] for im in y])
  if method == "workdir":
    from launch.restore import workdir_restorer
    return workdir_restorer(workdir)
  fn = {"tv": R.tv_denoise, "nlm": R.nlm_denoise, "wavelet": R.wavelet_denoise}[method]
  return lambda y: fn(y, **PARAMS[method](sigma))


def score(method, sigma, cleans, noisies, workdir):
  """Per-image PSNR and SSIM and the wall seconds, images batched by shape."""
  fn = restorer(method, sigma, workdir)
  psnrs, ssims = np.zeros(len(cleans)), np.zeros(len(cleans))
  groups = {}
  for i, c in enumerate(cleans):
    groups.setdefault(c.shape, []).append(i)
  start = time.perf_counter()
  for idx in groups.values():
    x = jnp.asarray(np.stack([cleans[i] for i in idx]))
    out = jnp.clip(jnp.asarray(np.asarray(fn(jnp.stack([noisies[i] for i in idx])))), 0, 1) \
        if method != "noisy" else jnp.stack([noisies[i] for i in idx])
    psnrs[idx] = np.asarray(metrics.psnr(out, x))
    ssims[idx] = np.asarray(metrics.ssim(jnp.clip(out, 0, 1), x))
  return psnrs, ssims, time.perf_counter() - start


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data", default="../shared/data/restoration/BSD68")
  parser.add_argument("--sigmas", default="15,25,50")
  parser.add_argument("--methods", default="noisy,tv,nlm,wavelet,bm3d")
  parser.add_argument("--limit", type=int, default=68)
  parser.add_argument("--bm3d_limit", type=int, default=68)
  parser.add_argument("--workdir", default=None)
  args = parser.parse_args()
  methods = args.methods.split(",")
  if "workdir" in methods and not args.workdir:
    raise SystemExit("--methods=...,workdir needs --workdir.")
  files, cleans = load(args.data, args.limit)
  n_sub = min(args.bm3d_limit, len(files))
  print(f"BSD68: {len(files)} images; BM3D subset: first {n_sub}; jax {jax.__version__} on "
        f"{jax.devices()[0].platform}")
  print(f"{'sigma':>5} {'method':>8} {'PSNR':>7} {'SSIM':>6} {'PSNR@sub':>9} {'SSIM@sub':>9} "
        f"{'published':>9} {'seconds':>8}")
  for sigma in map(float, args.sigmas.split(",")):
    noisies = [np.asarray(D.gaussian_noise(jax.random.fold_in(jax.random.key(int(sigma)), i),
                                           c[None], sigma=sigma))[0] for i, c in enumerate(cleans)]
    for method in methods:
      count = n_sub if method == "bm3d" else len(files)
      p, s, secs = score(method, sigma, cleans[:count], noisies[:count], args.workdir)
      full = (f"{p.mean():7.2f} {s.mean():6.4f}" if count == len(files) else f"{'-':>7} {'-':>6}")
      pub = PUBLISHED.get(method, {}).get(int(sigma))
      print(f"{sigma:5.0f} {method:>8} {full} {p[:n_sub].mean():9.2f} {s[:n_sub].mean():9.4f} "
            f"{pub if pub else '':>9} {secs:8.1f}", flush=True)


if __name__ == "__main__":
  main()

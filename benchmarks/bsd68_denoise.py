"""BSD68 grayscale AWGN denoising (or non-blind deblurring) table: PSNR/SSIM of each method.

  python -m benchmarks.bsd68_denoise [--sigmas=15,25,50] [--methods=noisy,tv,nlm,wavelet,bm3d]
      [--limit=68] [--bm3d_limit=68] [--workdir=[NAME=]W ...]  # method NAME: a trained restorer
  python -m benchmarks.bsd68_denoise --blur=9,1.6 --sigmas=2 --methods=noisy,wiener,tikhonov,NAME \
      --workdir=NAME=W   # y = k (x) x + n: Gaussian kernel (size, std), AWGN of std sigma

Each --workdir (repeatable; "NAME=DIR", or "DIR" for the method name "workdir") adds a method
running a launch.train restorer from its latest checkpoint.

Protocol (../shared/data/README.md): [0, 1] pixels, AWGN of std sigma/255 (seeded per image and
sigma), noisy input not clipped or quantized, PSNR with data range 1 averaged over images; SSIM
is Wang et al.'s (rvjax.metrics.ssim). Outputs are clipped to [0, 1] before scoring. Classical
parameters were chosen on Train400 images, not BSD68 (see PARAMS); NLM uses 7x7 patches and a
15x15 search window. With --blur, the input is rvjax.degrade.blur_noise (symmetric boundaries)
and Wiener/Tikhonov get the true kernel, their balance chosen as DECONV_BALANCE says. BM3D (bm3d
package, the reference implementation's profile "np") runs on the first --bm3d_limit images;
every method is also reported on that subset so the comparison is like for like.
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
from rvjax.degrade import kernels
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
# Chosen on 4 Train400 images (every 100th) for the 9x9 std-1.6 Gaussian at sigma 2, as the best
# of {1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.06, 0.1, 0.2, 0.3} per method (PSNR 27.54 / 26.91 dB
# there, blurred input 26.78).
DECONV_BALANCE = {"wiener": 0.03, "tikhonov": 0.03}


def load(folder, limit):
  files = sorted(glob.glob(os.path.join(folder, "*.png")))[:limit]
  if not files:
    raise SystemExit(f"No PNG images in {folder}.")
  return files, [np.asarray(Image.open(f).convert("L"), np.float32)[..., None] / 255 for f in files]


def parse_workdirs(items, reserved=()):
  """["NAME=DIR" or "DIR", ...] -> {name: dir} ("workdir" for a bare DIR); names must differ
  from each other and from the `reserved` (built-in) method names."""
  out = {}
  for item in items:
    name, sep, path = item.partition("=")
    if not sep:
      name, path = "workdir", item
    if name in out or name in reserved:
      raise SystemExit(f"--workdir name {name!r} is used twice or names a classical method.")
    out[name] = path
  return out


CLASSICAL = ("noisy", "bm3d", "tv", "nlm", "wavelet", "wiener", "tikhonov")


def restorer(method, sigma, workdirs, kernel):
  """`y -> restored` for a method name (a classical one or a --workdir name)."""
  if method == "noisy":
    return lambda y: y
  if method == "bm3d":
    import bm3d
    return lambda y: np.stack([bm3d.bm3d(im[..., 0], sigma_psd=sigma / 255)[..., None] for im in y])
  if method in ("wiener", "tikhonov"):
    if kernel is None:
      raise SystemExit(f"Method {method} needs --blur.")
    fn = {"wiener": R.wiener, "tikhonov": R.tikhonov}[method]
    return lambda y: fn(y, kernel=kernel, balance=DECONV_BALANCE[method])
  if method in workdirs:
    from launch.restore import workdir_restorer
    return workdir_restorer(workdirs[method])
  fn = {"tv": R.tv_denoise, "nlm": R.nlm_denoise, "wavelet": R.wavelet_denoise}[method]
  return lambda y: fn(y, **PARAMS[method](sigma))


def degrade(key, clean, sigma, kernel):
  """The test input of one (H, W, 1) image: AWGN, or blur then AWGN when `kernel` is given."""
  if kernel is None:
    return np.asarray(D.gaussian_noise(key, clean[None], sigma=sigma))[0]
  return np.asarray(D.blur_noise(key, clean[None], kernel=kernel, sigma=sigma))[0]


def score(method, sigma, cleans, noisies, workdirs, kernel=None):
  """Per-image PSNR and SSIM and the wall seconds, images batched by shape."""
  fn = restorer(method, sigma, workdirs, kernel)
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
  parser.add_argument("--workdir", action="append", default=[], help="[NAME=]DIR (repeat)")
  parser.add_argument("--blur", default="", help="SIZE,STD: deblur a Gaussian blur instead")
  args = parser.parse_args()
  methods = args.methods.split(",")
  workdirs = parse_workdirs(args.workdir, CLASSICAL)
  for method in methods:
    if method not in CLASSICAL and method not in workdirs:
      raise SystemExit(f"Unknown method {method!r}: one of {', '.join(CLASSICAL)} or a --workdir "
                       f"name ({', '.join(workdirs) or 'none given'}).")
  kernel = None
  if args.blur:
    size, std = args.blur.split(",")
    kernel = np.asarray(kernels.gaussian(int(size), float(std)))
  files, cleans = load(args.data, args.limit)
  n_sub = min(args.bm3d_limit, len(files))
  task = f"blur {args.blur} (size,std) + AWGN" if args.blur else "AWGN"
  print(f"BSD68 {task}: {len(files)} images; BM3D subset: first {n_sub}; jax {jax.__version__} "
        f"on {jax.devices()[0].platform}")
  print(f"{'sigma':>5} {'method':>8} {'PSNR':>7} {'SSIM':>6} {'PSNR@sub':>9} {'SSIM@sub':>9} "
        f"{'published':>9} {'seconds':>8}")
  for sigma in map(float, args.sigmas.split(",")):
    noisies = [degrade(jax.random.fold_in(jax.random.key(int(sigma)), i), c, sigma, kernel)
               for i, c in enumerate(cleans)]
    for method in methods:
      count = n_sub if method == "bm3d" else len(files)
      p, s, secs = score(method, sigma, cleans[:count], noisies[:count], workdirs, kernel)
      full = (f"{p.mean():7.2f} {s.mean():6.4f}" if count == len(files) else f"{'-':>7} {'-':>6}")
      pub = None if kernel is not None else PUBLISHED.get(method, {}).get(int(sigma))
      print(f"{sigma:5.0f} {method:>8} {full} {p[:n_sub].mean():9.2f} {s[:n_sub].mean():9.4f} "
            f"{pub if pub else '':>9} {secs:8.1f}", flush=True)


if __name__ == "__main__":
  main()

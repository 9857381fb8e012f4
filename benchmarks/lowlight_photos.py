"""Low-light photos: PSNR/SSIM against the clean photos and NIQE, dark input vs enhancers.

  python -m benchmarks.lowlight_photos --data=/tmp/lowlight [--workdir=zero_dce=W ...] [--quick]

The held-out photos of a `launch.prepare_lowlight` folder (DATA/test: Set5, RGB) are darkened
with the low-light configs' fixed degradation (exposure 0.15, gamma 2, keys fixed per image)
and enhanced by adaptive gamma (rvjax.restore.gamma_brighten, target mean 0.45) and by every
trained restorer given as NAME=WORKDIR. Scores come from the "restoration" evaluator; NIQE is
this project's own Train400 fit (rvjax.metrics.niqe), lower is closer to pristine statistics.
Each trained restorer's run is named (steps, wall time, and for EnlightenGAN its feature network).
`--quick` scores the first photo only.
"""
import argparse

import jax

from benchmarks import common
from configs import lowlight_zerodce
from rvjax import evaluators
from rvjax.restore import gamma_brighten


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data", required=True, help="a launch.prepare_lowlight folder")
  parser.add_argument("--workdir", action="append", default=[], help="NAME=WORKDIR (repeat)")
  parser.add_argument("--quick", action="store_true", help="score the first photo only")
  args = parser.parse_args()
  limit = 1 if args.quick else 0
  methods = {"gamma": jax.jit(lambda s, x: gamma_brighten(x, target_mean=0.45))}
  if args.workdir:
    from launch.restore import workdir_restorer
    for item in args.workdir:
      name, _, workdir = item.partition("=")
      restore = workdir_restorer(workdir)
      methods[name] = lambda s, x, r=restore: r(x)
      print(f"{name}: {common.describe_run(workdir)}")
  print(f"{'method':<10} {'PSNR dB':>8} {'SSIM':>6} {'NIQE':>6}")
  for i, (name, fn) in enumerate(methods.items()):
    ev = evaluators.create("restoration", fn, folder=f"{args.data}/test", channels=3, niqe=True,
                           degrade=lowlight_zerodce.DARK, limit=limit)
    r = dict(ev.run(None))
    if i == 0:
      print(f"{'dark':<10} {r['psnr_input']:>8.2f} {r['ssim_input']:>6.3f} {r['niqe_input']:>6.2f}")
    print(f"{name:<10} {r['psnr']:>8.2f} {r['ssim']:>6.3f} {r['niqe']:>6.2f}")
  ev = evaluators.create("restoration", lambda s, x: x, folder=f"{args.data}/test", channels=3,
                         niqe=True, limit=limit)
  print(f"{'clean':<10} {'-':>8} {'-':>6} {dict(ev.run(None))['niqe']:>6.2f}")


if __name__ == "__main__":
  main()

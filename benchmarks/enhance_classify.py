"""Enhance, then classify: a trained classifier's accuracy on degraded, restored and clean images.

  python -m benchmarks.enhance_classify --classifier=/tmp/digits [--restorer=zero_dce=/tmp/zdce]
      [--restorer=enlightengan=/tmp/eg] [--quick]

The classifier's test split (digits by default: 8x8 grayscale) is darkened (low light), noised
(AWGN sigma 50 on the 0-255 scale) and blurred (3x3 Gaussian, std 1), once with fixed keys; each
classical restorer (adaptive gamma, TV, Wiener with the true kernel) and each learned one
(`--restorer=NAME=WORKDIR`, a launch.train restorer; an RGB model runs on the gray image copied to
three channels, averaged back) restores every degraded set, and the classifier scores them all
(rvjax.evaluators.enhance_classify). Prints one row per (degradation, restorer): accuracy (%)
and PSNR (dB) against the clean images.
"""
import argparse

import jax.numpy as jnp
import numpy as np

from benchmarks import bsd68_denoise, common
from rvjax import evaluators
from rvjax.degrade import kernels

BLUR = np.asarray(kernels.gaussian(3, 1.0)).tolist()
DEGRADATIONS = {
    "low_light": {"name": "rvjax.degrade.low_light", "kwargs": {"exposure": 0.15, "gamma": 2.0}},
    "noise": {"name": "rvjax.degrade.gaussian_noise", "kwargs": {"sigma": 50.0}},
    "blur": {"name": "rvjax.degrade.blur", "kwargs": {"kernel": BLUR}},
}
CLASSICAL = {
    "gamma": {"fn": "rvjax.restore.gamma_brighten", "kwargs": {"target_mean": 0.3}},
    "tv": {"fn": "rvjax.restore.tv_denoise", "kwargs": bsd68_denoise.PARAMS["tv"](50.0)},
    "wiener": {"fn": "rvjax.restore.wiener", "kwargs": {"kernel": BLUR, "balance": 0.01}},
}


def learned(workdir):
  """`images -> images` of a trained restorer; an RGB one is run on gray images as 3 copies."""
  from launch.restore import workdir_restorer
  from rvjax.train import workdir as workdir_lib
  restore = workdir_restorer(workdir)
  rgb = workdir_lib.load_config(workdir).data.kwargs.get("channels", 1) == 3
  if not rgb:
    return restore
  return lambda x: jnp.mean(restore(jnp.repeat(x, 3, -1)), -1, keepdims=True)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--classifier", required=True, help="launch.train workdir of a classifier")
  parser.add_argument("--restorer", action="append", default=[], help="NAME=WORKDIR (repeat)")
  parser.add_argument("--num_examples", type=int, default=0)
  parser.add_argument("--quick", action="store_true", help="the first 64 test images only")
  args = parser.parse_args()
  num_examples = args.num_examples or (64 if args.quick else 0)
  from rvjax.train import loop
  config, model, state, mesh = loop.restore_workdir(args.classifier)
  predict_fn = loop.make_predict_fn(config, model, mesh)
  restorers = dict(CLASSICAL)
  for item in args.restorer:
    name, _, workdir = item.partition("=")
    restorers[name] = learned(workdir)
    print(f"{name}: {common.describe_run(workdir)}")
  ev = evaluators.create("enhance_classify", predict_fn, data=config.data, mesh=mesh,
                         degradations=DEGRADATIONS, restorers=restorers, batch_size=128,
                         num_examples=num_examples)
  results = dict(ev.run(state))
  print(f"classifier {args.classifier} ({config.model.name}, {config.data.name} test): clean "
        f"accuracy {100 * results['clean/accuracy']:.2f}%")
  print(f"{'degradation':<12} {'restorer':<12} {'accuracy %':>10} {'PSNR dB':>8}")
  for d in DEGRADATIONS:
    print(f"{d:<12} {'(none)':<12} {100 * results[f'{d}/accuracy']:>10.2f} "
          f"{results[f'{d}/psnr']:>8.2f}")
    for r in restorers:
      print(f"{d:<12} {r:<12} {100 * results[f'{d}/{r}/accuracy']:>10.2f} "
            f"{results[f'{d}/{r}/psnr']:>8.2f}")


if __name__ == "__main__":
  main()

r"""Bound propagation time against one forward pass (goal: IBP <= 3x).

  python benchmarks/certify_throughput.py [--batch=256] [--models=ibp_small,cnn]

For each model (random weights, 8x8x1 inputs, eval mode) times, jitted, median of 5 after a
warm-up: the forward pass; IBP logit bounds; IBP margin bounds (elided, K-1 specs); CROWN-IBP
margin bounds (IBP pre-activations, one backward pass); full CROWN margin bounds (CROWN
pre-activation bounds layer by layer), and prints each as a ratio to the forward pass.
Measured in one run, so the ratios hold on a loaded machine better than the absolute times.
"""
import argparse
import os
import sys

import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from rvjax import certify, models  # noqa: E402


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--batch", type=int, default=256)
  parser.add_argument("--crown_batch", type=int, default=16)
  parser.add_argument("--models", default="ibp_small,cnn")
  args = parser.parse_args()
  print(f"backend {jax.default_backend()}, batch {args.batch} (full CROWN: {args.crown_batch})")
  print("| model | forward ms | IBP | IBP margins | CROWN-IBP margins | CROWN margins (per ex.) |")
  print("|---|---|---|---|---|---|")
  for name in args.models.split(","):
    model = models.create(name)
    x = jax.random.uniform(jax.random.key(0), (args.batch, 8, 8, 1))
    y = jax.random.randint(jax.random.key(1), (args.batch,), 0, 10)
    variables = model.init(jax.random.key(2), x, train=False)
    forward = jax.jit(lambda v, z: model.apply(v, z, train=False))
    ibp = jax.jit(lambda v, z: certify.interval_bounds(model.apply, v, z, 0.1))
    margin = {m: jax.jit(lambda v, z, t, m=m: certify.margin_lower_bounds(
        model.apply, v, z, t, 0.1, method=m)) for m in certify.bounds.METHODS}
    t_fwd = common.time_fn(forward, variables, x)
    ratios = [common.time_fn(ibp, variables, x) / t_fwd,
              common.time_fn(margin["ibp"], variables, x, y) / t_fwd,
              common.time_fn(margin["crown_ibp"], variables, x, y) / t_fwd]
    xs, ys = x[:args.crown_batch], y[:args.crown_batch]
    t_fwd_small = common.time_fn(forward, variables, xs)
    crown = common.time_fn(margin["crown"], variables, xs, ys, repeats=3) / t_fwd_small
    print(f"| {name} | {1e3 * t_fwd:.2f} | " + " | ".join(f"{r:.1f}x" for r in ratios)
          + f" | {crown:.0f}x |", flush=True)


if __name__ == "__main__":
  main()

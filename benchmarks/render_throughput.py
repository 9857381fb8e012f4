r"""Throughput of the synthetic digit renderer (rvjax.data.synthetic.render), in one run.

  python benchmarks/render_throughput.py [--batch=4096]   # 32x32 uses batch / 8

Images/s of the jitted renderer (compile excluded by a warm-up call, block_until_ready, median of
5 repeats) at 8x8 grey and 32x32 RGB, for the canonical ("none") and "full_dr" knobs. The goal
(issue 10) is >= 20,000 images/s at 8x8 on a CPU.
"""
import argparse
import os
import sys

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from rvjax.data import knobs, synthetic  # noqa: E402

GOAL_8X8 = 20_000


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=4096)
  args = parser.parse_args()
  print(f"device: {jax.devices()[0].device_kind}, batch {args.batch} (8x8), "
        f"{args.batch // 8} (32x32)")
  for size, channels in ((8, 1), (32, 3)):
    batch = args.batch if size == 8 else args.batch // 8
    labels = jnp.arange(batch, dtype=jnp.int32) % 10
    for preset in ("none", "full_dr"):
      fn = jax.jit(lambda key, k, s=size, c=channels, y=labels: synthetic.render(
          key, y, k, s, channels=c))
      secs = common.time_fn(fn, jax.random.key(0), knobs.make(preset))
      rate = batch / secs
      goal = f"  (goal {GOAL_8X8}: {'met' if rate >= GOAL_8X8 else 'NOT met'})" if size == 8 else ""
      print(f"{size}x{size}x{channels} {preset:8s} {rate:10.0f} images/s{goal}")


if __name__ == "__main__":
  main()

r"""Train steps with and without `rvjax.models.fast_conv.stored` on the convolutions' kernel gradients.

  python benchmarks/stored_conv_input.py [--models cnn,resnet20,preact_resnet18] [--repeats 9]
      [--no-keep_freed_memory]

`layers.conv_general_dilated` (every zoo convolution) computes its kernel gradient from its input
passed through `stored`, so that XLA:CPU reads that input instead of recomputing its producers
inside the transposing copy the kernel gradient needs. For each model (the digits CNN of
benchmarks/peers.py, batch 256 at 32x32; ResNet-20, batch 64 at 32x32x3; PreAct ResNet-18,
batch 128 at 32x32x3) it builds the ERM SGD train step (compiled as the launch scripts compile
it) twice: as shipped, and with `stored` replaced by the identity. It prints each step's median
milliseconds, the median over repeats of the ratio (with / without, each pair timed back to
back, so both share the machine's load) and the largest difference of the updated parameters
relative to their largest change. Below 1 the stored input is faster.
"""
import argparse
import os
import sys
import time
from unittest import mock

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import peers  # noqa: E402
from rvjax import compiler, host_memory, models  # noqa: E402
from rvjax.models import fast_conv  # noqa: E402

CASES = {"cnn": (peers.DigitsCNN, (256, peers.SIZE, peers.SIZE, 1)),
         "resnet20": (lambda: models.create("resnet20", num_classes=10), (64, 32, 32, 3)),
         "preact_resnet18": (lambda: models.create("preact_resnet18", num_classes=10),
                             (128, 32, 32, 3))}


def _step(name, store):
  """(jitted train step, its arguments) with `stored` as shipped or replaced by the identity."""
  make, shape = CASES[name]
  with mock.patch.object(fast_conv, "stored", fast_conv.stored if store else (lambda x: x)):
    step, args = peers._erm_step(make(), shape, compiler.gradient_jit)
    step = step.lower(*args).compile()  # traced and compiled inside the patch
  return step, args


def _timed(step, args):
  t = time.perf_counter()
  out = jax.block_until_ready(step(*args))
  return out, time.perf_counter() - t


def compare(name: str, repeats: int) -> tuple[float, float, float, float]:
  """(median ratio with / without, ms with, ms without, parameter difference) for `name`."""
  steps = {store: _step(name, store) for store in (True, False)}
  outs = {store: _timed(*steps[store])[0] for store in steps}  # warm-up
  start = steps[True][1][0].params
  change = max(float(np.abs(a - b).max()) for a, b in zip(
      jax.tree.leaves(outs[False][0].params), jax.tree.leaves(start)))
  diff = max(float(np.abs(a - b).max()) for a, b in zip(
      jax.tree.leaves(outs[True][0].params), jax.tree.leaves(outs[False][0].params)))
  times = {True: [], False: []}
  for _ in range(repeats):
    for store in (True, False):
      times[store].append(_timed(*steps[store])[1])
  ratio = float(np.median(np.divide(times[True], times[False])))
  return ratio, 1e3 * np.median(times[True]), 1e3 * np.median(times[False]), diff / change


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--models", default="cnn,resnet20,preact_resnet18",
                      help=f"Comma-separated, of {', '.join(CASES)}.")
  parser.add_argument("--repeats", type=int, default=9)
  parser.add_argument("--keep_freed_memory", action=argparse.BooleanOptionalAction, default=True,
                      help="rvjax.host_memory.keep_freed_memory() first, as the launch scripts do.")
  args = parser.parse_args()
  names = args.models.split(",")
  unknown = sorted(set(names) - set(CASES))
  if unknown:
    parser.error(f"unknown --models {', '.join(unknown)}; choose from {', '.join(CASES)}")
  if args.keep_freed_memory:
    host_memory.keep_freed_memory()
  print(f"backend={jax.default_backend()} repeats={args.repeats} "
        f"keep_freed_memory={args.keep_freed_memory}")
  print(f"{'model':16s} {'ratio':>6s} {'with ms':>8s} {'without ms':>10s} {'param diff':>10s}")
  for name in names:
    ratio, with_ms, without_ms, diff = compare(name, args.repeats)
    print(f"{name:16s} {ratio:6.3f} {with_ms:8.1f} {without_ms:10.1f} {diff:10.1e}", flush=True)


if __name__ == "__main__":
  main()

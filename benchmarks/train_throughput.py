r"""Training throughput of the jit-compiled train step, and its FLOP efficiency.

  python benchmarks/train_throughput.py [--quick] [--no-keep_freed_memory]

For each model: images/s of the ERM train step as launch.train compiles it
(`replicas.Single().compile_step`: `rvjax.compiler.gradient_jit`, the state donated; compile
excluded), the FLOPs XLA counts for one step, the achieved GFLOP/s and their ratio to a float32
jnp matmul measured in the same run: the matmul and the steps timed interleaved, once per round,
each figure the fastest of the rounds (`common.fastest_interleaved`, as benchmarks/peers.py).
The process first calls `rvjax.host_memory.keep_freed_memory()`, as the launch scripts do.
"""
import argparse
import functools
import os
import sys

import jax
import ml_collections
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from rvjax import host_memory, models, objectives, sharding  # noqa: E402
from rvjax.train import optim, replicas, state as state_lib, step as step_lib  # noqa: E402

CASES = (("cnn", (8, 8, 1), 128), ("preact_resnet18", (32, 32, 3), 128))


def step_call(name, image_shape, batch_size):
  """(a no-argument call of one train step, carrying its donated state; the step's FLOPs)."""
  mesh = sharding.make_mesh()
  model = models.create(name, num_classes=10)
  opt = ml_collections.ConfigDict(dict(name="sgd", lr=0.1, momentum=0.9, nesterov=True, b1=0.9,
                                       b2=0.999, weight_decay=5e-4, grad_clip_norm=0.0,
                                       groups=(("all", ".*"),)))
  tx = optim.make_optimizer(opt, ml_collections.ConfigDict({"name": "constant"}), 1000)
  shape = (batch_size,) + image_shape
  state = replicas.Single().create_state(state_lib.init_fn(model, tx, shape), jax.random.key(0), mesh)
  rng = np.random.default_rng(0)
  batch = sharding.put_batch({"image": rng.random(shape, np.float32),
                              "label": rng.integers(0, 10, batch_size).astype(np.int32),
                              "mask": np.ones(batch_size, np.float32)},
                             sharding.batch_sharding(mesh))
  step = replicas.Single().compile_step(functools.partial(
      step_lib.train_step, objective=objectives.create("erm", model.apply), tx=tx), mesh)
  key = jax.random.key(1)
  flops = common.compiled_flops(step, state, batch, key)
  carried = [state]

  def call():
    carried[0], metrics = step(carried[0], batch, key)
    return carried[0], metrics

  return call, flops


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--quick", action="store_true", help="Fewer repeats.")
  parser.add_argument("--keep_freed_memory", action=argparse.BooleanOptionalAction, default=True,
                      help="rvjax.host_memory.keep_freed_memory() first, as the launch scripts do.")
  args = parser.parse_args()
  if args.keep_freed_memory:
    host_memory.keep_freed_memory()
  repeats = 3 if args.quick else 10
  matmul, a, matmul_flops = common.matmul_peak_case()
  steps = [step_call(*case) for case in CASES]
  times = common.fastest_interleaved([(matmul, (a,))] + [(call, ()) for call, _ in steps], repeats)
  peak = matmul_flops / times[0] / 1e9
  print(f"backend={jax.default_backend()} devices={jax.device_count()} "
        f"matmul_peak={peak:.1f} GFLOP/s (float32 2048^2; fastest of {repeats} rounds)")
  print(f"{'model':18s} {'input':12s} {'batch':>5s} {'img/s':>9s} {'GFLOP/s':>9s} {'of peak':>8s}")
  for (name, image_shape, batch_size), (_, flops), seconds in zip(CASES, steps, times[1:]):
    gflops = flops / seconds / 1e9
    print(f"{name:18s} {str(image_shape):12s} {batch_size:5d} {batch_size / seconds:9.1f} "
          f"{gflops:9.1f} {gflops / peak:8.1%}")


if __name__ == "__main__":
  main()

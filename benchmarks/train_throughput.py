r"""Training throughput of the jit-compiled train step, and its FLOP efficiency.

  python benchmarks/train_throughput.py [--quick]

For each model: images/s of the ERM train step (compile excluded), the FLOPs XLA counts for one
step, the achieved GFLOP/s and their ratio to a float32 jnp matmul measured in the same run.
"""
import argparse
import os
import sys

import jax
import ml_collections
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from rvjax import models, objectives, sharding  # noqa: E402
from rvjax.train import optim, replicas, state as state_lib, step as step_lib  # noqa: E402

CASES = (("cnn", (8, 8, 1), 128), ("preact_resnet18", (32, 32, 3), 128))


def step_throughput(name, image_shape, batch_size, repeats):
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
  step = jax.jit(lambda s, b, k: step_lib.train_step(
      s, b, k, objective=objectives.create("erm", model.apply), tx=tx))
  key = jax.random.key(1)
  flops = common.compiled_flops(step, state, batch, key)
  seconds = common.time_fn(step, state, batch, key, repeats=repeats)
  return batch_size / seconds, flops / seconds / 1e9


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--quick", action="store_true", help="Fewer repeats.")
  args = parser.parse_args()
  repeats = 3 if args.quick else 10
  peak = common.matmul_peak_gflops()
  print(f"backend={jax.default_backend()} devices={jax.device_count()} "
        f"matmul_peak={peak:.1f} GFLOP/s (float32 2048^2)")
  print(f"{'model':18s} {'input':12s} {'batch':>5s} {'img/s':>9s} {'GFLOP/s':>9s} {'of peak':>8s}")
  for name, image_shape, batch_size in CASES:
    ips, gflops = step_throughput(name, image_shape, batch_size, repeats)
    print(f"{name:18s} {str(image_shape):12s} {batch_size:5d} {ips:9.1f} {gflops:9.1f} "
          f"{gflops / peak:8.1%}")


if __name__ == "__main__":
  main()

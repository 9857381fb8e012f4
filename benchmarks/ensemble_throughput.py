r"""Cost of a K-member ensemble train step relative to K single-member steps, per formulation.

  python benchmarks/ensemble_throughput.py [--quick] [--models cnn,resnet20] [--sizes 2,4,8]

For K in 1, 2, 4, 8 (--quick: 1, 2, 4; or --sizes), each model (the digits CNN on 8x8x1, ResNet-20 on
32x32x3; batch 64 per member, SGD) and each formulation of rvjax.uncertainty.ensemble, prints
ratio = time(K-member step) / (K * time(single step)): below 1 the stacked step is cheaper than
training the members one after another, above 1 it costs more. Steps are timed interleaved with
the single-member step (which shares the machine's load) and the fastest of `repeats` calls is
kept for both; compile time (including the first call) is printed separately. A formulation
whose step exceeds --budget seconds is timed once and skipped for larger K. The K-member step is
built as the training loop builds it, through `rvjax.train.replicas.Members(K, formulation)`. A last
table gives, per model and K, the best formulation and its ratio.
"""
import argparse
import functools
import os
import sys
import time

import jax
import ml_collections
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from rvjax import models, objectives, sharding  # noqa: E402
from rvjax.train import optim, replicas, state as state_lib, step as step_lib  # noqa: E402
from rvjax.uncertainty import ensemble  # noqa: E402

CASES = {"cnn": (8, 8, 1), "resnet20": (32, 32, 3)}
FORMULATIONS = ("vmap", "unroll", "map")


def _timed(fn, state, *args):
  t = time.perf_counter()
  state, metrics = fn(state, *args)
  jax.block_until_ready((state, metrics))
  return state, time.perf_counter() - t


def _batch(shape, batch_size, members=None):
  rng = np.random.default_rng(0)
  lead = (batch_size,) if members is None else (members, batch_size)
  return {"image": rng.random(lead + shape, np.float32),
          "label": rng.integers(0, 10, lead).astype(np.int32),
          "mask": np.ones(lead, np.float32)}


class Case:
  """One model's single-member step, and K-member steps built from it."""

  def __init__(self, name, batch_size):
    self.mesh = sharding.make_mesh()
    self.shape = CASES[name]
    self.batch_size = batch_size
    model = models.create(name, num_classes=10)
    opt = ml_collections.ConfigDict(dict(
        name="sgd", lr=0.01, momentum=0.9, nesterov=True, b1=0.9, b2=0.999, weight_decay=5e-4,
        grad_clip_norm=0.0, groups=(("all", ".*"),)))
    tx = optim.make_optimizer(opt, ml_collections.ConfigDict({"name": "constant"}), 10 ** 6)
    self.init = state_lib.init_fn(model, tx, (batch_size,) + self.shape)
    self.member_step = functools.partial(step_lib.train_step, tx=tx,
                                         objective=objectives.create("erm", model.apply))
    self.single = step_lib.compile_train_step(self.member_step.keywords["objective"], tx)
    self.single_state = replicas.Single().create_state(
        state_lib.init_fn(model, tx, (batch_size,) + self.shape), jax.random.key(0), self.mesh)
    self.single_batch = sharding.put_batch(_batch(self.shape, batch_size),
                                           sharding.batch_sharding(self.mesh))
    self.key = jax.random.key(1)
    self.single_state, _ = _timed(self.single, self.single_state, self.single_batch, self.key)

  def ratio(self, formulation, members, repeats, budget):
    """(ratio, K-member step seconds, single step seconds, compile seconds)."""
    rep = replicas.Members(members, formulation) if members > 1 else replicas.Single()
    step = rep.compile_step(self.member_step, self.mesh)
    state = rep.create_state(self.init, jax.random.key(0), self.mesh)
    batch = sharding.put_batch(_batch(self.shape, self.batch_size, members if members > 1 else None),
                               sharding.batch_sharding(self.mesh, member_axis=rep.member_axis))
    keys = rep.train_key(self.key)
    state, compile_s = _timed(step, state, batch, keys)
    times, single_times = [], []
    for _ in range(1 if compile_s > budget else repeats):
      self.single_state, t1 = _timed(self.single, self.single_state, self.single_batch, self.key)
      state, t = _timed(step, state, batch, keys)
      single_times.append(t1)
      times.append(t)
    t, t1 = min(times), min(single_times)
    return t / (members * t1), t, t1, compile_s


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--quick", action="store_true", help="K up to 4, fewer repeats.")
  parser.add_argument("--models", default="cnn,resnet20")
  parser.add_argument("--formulations", default=",".join(FORMULATIONS))
  parser.add_argument("--sizes", default="", help="Comma-separated K (default 1,2,4,8).")
  parser.add_argument("--batch_size", type=int, default=64)
  parser.add_argument("--budget", type=float, default=10.0,
                      help="Seconds per step above which larger K are skipped.")
  args = parser.parse_args()
  sizes = (1, 2, 4) if args.quick else (1, 2, 4, 8)
  if args.sizes:
    sizes = tuple(int(k) for k in args.sizes.split(","))
  print(f"backend={jax.default_backend()} devices={jax.device_count()} "
        f"auto={ensemble.resolve('auto')} batch={args.batch_size}/member")
  print(f"{'model':9s} {'formulation':11s} {'K':>2s} {'ratio':>6s} {'K-step ms':>10s} "
        f"{'1-step ms':>10s} {'compile s':>9s}")
  best = {}
  for name in args.models.split(","):
    case = Case(name, args.batch_size)
    for formulation in args.formulations.split(","):
      over_budget = False
      for members in sizes:
        if over_budget:
          print(f"{name:9s} {formulation:11s} {members:2d}  skipped (> {args.budget:g} s/step)")
          continue
        repeats = 3 if args.quick else 5
        ratio, t, t1, compile_s = case.ratio(formulation, members, repeats, args.budget)
        over_budget = t > args.budget
        print(f"{name:9s} {formulation:11s} {members:2d} {ratio:6.2f} {1e3 * t:10.1f} "
              f"{1e3 * t1:10.1f} {compile_s:9.1f}", flush=True)
        if members > 1 and ratio < best.get((name, members), (None, float("inf")))[1]:
          best[name, members] = (formulation, ratio)
  print("best formulation per model and K (ratio = K-member step / K single steps):")
  for (name, members), (formulation, ratio) in best.items():
    print(f"{name:9s} K={members:2d} {formulation:11s} {ratio:6.2f}")


if __name__ == "__main__":
  main()

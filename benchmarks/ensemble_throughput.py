r"""Cost of a K-member ensemble train step relative to K single-model steps, per variant.

  python benchmarks/ensemble_throughput.py [--quick] [--models cnn,resnet20] [--sizes 2,4,8]
      [--variants unroll,vmap,vmap+im2col,unroll+shared,vmap+im2col+shared]
      [--no-keep_freed_memory]

A variant is `formulation[+im2col][+shared]`: how the step maps over members
(rvjax.uncertainty.ensemble: vmap, unroll, map), `+im2col` builds the model with
conv_impl="im2col" (convolutions as im2col + matmul, a batched matmul under vmap), `+shared`
trains every member on the same batch (config.ensemble.shared_batch). The K-member step is built
as the training loop builds it, through `rvjax.train.replicas.Members(K, formulation,
shared_batch)`.

For each model (the digits CNN on 8x8x1, ResNet-20 on 32x32x3; batch 64 per member, SGD), variant
and K in 2, 4, 8 (--quick: 2 and 8, the CNN, fewer variants and repeats) it prints
  ratio = time(K-member step) / (K * time(single step)),
the single step being one model with XLA's convolutions (what K separate runs would use). Below 1
the stacked step is cheaper than training the members one after another. `cpu ratio` is the same
ratio of process CPU time (user + system over all threads): the work done, which other programs
on a shared machine disturb less than wall time. Steps are timed interleaved with the single step
(which then shares the machine's load), each after one untimed call (the first call after the
other program runs on caches that program filled): the ratios are medians over the repeats of
each K-member step against the single step just before it; the step times printed are the
fastest. Compile time (the first call) is printed separately. Per model the single step is also
timed before any K-member step has run (`fresh 1-step ms`); the interleaved single steps should
match it. A variant whose step exceeds --budget seconds is timed once and skipped for larger K. A
last table gives, per model and K, the best variant.

The process first calls `rvjax.host_memory.keep_freed_memory(one_arena=False)`, as
`launch.train` does for an ensemble (`--no-keep_freed_memory` leaves glibc's defaults): the 8x8
CNN's K = 8 step needs a 37 MB buffer per call, which glibc would otherwise map and fault in anew
on every call (39.3-42.2 against 31.9-35.7 ms, fresh processes). Up to the fifteenth session it
was applied with one arena, under which a process that has run a K-member step runs the single
step 25-100% slower from then on, biasing the interleaved ratios low; the printed `fresh 1-step
ms` against the interleaved single steps shows any such drift.
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
from rvjax import host_memory, models, objectives, sharding  # noqa: E402
from rvjax.train import optim, replicas, state as state_lib, step as step_lib  # noqa: E402
from rvjax.uncertainty import ensemble  # noqa: E402

CASES = {"cnn": (8, 8, 1), "resnet20": (32, 32, 3)}
VARIANTS = ("unroll", "vmap", "vmap+im2col", "unroll+shared", "vmap+im2col+shared")
QUICK_VARIANTS = ("unroll", "vmap", "vmap+im2col+shared")


def parse_variant(variant: str) -> tuple[str, str, bool]:
  """"vmap+im2col+shared" -> ("vmap", "im2col", True): formulation, conv_impl, shared_batch."""
  formulation, *options = variant.split("+")
  unknown = set(options) - {"im2col", "shared"}
  if formulation not in ensemble.FORMULATIONS or unknown:
    raise ValueError(f"Bad variant {variant!r}: formulation[+im2col][+shared] with formulation "
                     f"in {', '.join(ensemble.FORMULATIONS)}.")
  return formulation, "im2col" if "im2col" in options else "xla", "shared" in options


def _timed(fn, state, *args):
  t, c = time.perf_counter(), time.process_time()
  state, metrics = fn(state, *args)
  jax.block_until_ready((state, metrics))
  return state, time.perf_counter() - t, time.process_time() - c


def _batch(shape, batch_size, members=None):
  rng = np.random.default_rng(0)
  lead = (batch_size,) if members is None else (members, batch_size)
  return {"image": rng.random(lead + shape, np.float32),
          "label": rng.integers(0, 10, lead).astype(np.int32),
          "mask": np.ones(lead, np.float32)}


class Case:
  """One model's single step (XLA convolutions), and K-member steps of any variant."""

  def __init__(self, name, batch_size):
    self.name = name
    self.mesh = sharding.make_mesh()
    self.shape = CASES[name]
    self.batch_size = batch_size
    opt = ml_collections.ConfigDict(dict(
        name="sgd", lr=0.01, momentum=0.9, nesterov=True, b1=0.9, b2=0.999, weight_decay=5e-4,
        grad_clip_norm=0.0, groups=(("all", ".*"),)))
    self.tx = optim.make_optimizer(opt, ml_collections.ConfigDict({"name": "constant"}), 10 ** 6)
    init, member_step = self._parts("xla")
    rep = replicas.Single()
    self.single = rep.compile_step(member_step, self.mesh)
    self.single_state = rep.create_state(init, jax.random.key(0), self.mesh)
    self.single_batch = sharding.put_batch(_batch(self.shape, batch_size),
                                           sharding.batch_sharding(self.mesh))
    self.key = jax.random.key(1)
    self.single_state, *_ = _timed(self.single, self.single_state, self.single_batch, self.key)
    self.fresh_single_s = self.time_single(5)

  def time_single(self, repeats):
    """Median wall seconds of `repeats` single steps in a row."""
    times = []
    for _ in range(repeats):
      self.single_state, t, _ = _timed(self.single, self.single_state, self.single_batch, self.key)
      times.append(t)
    return float(np.median(times))

  def _parts(self, conv_impl):
    model = models.create(self.name, num_classes=10, conv_impl=conv_impl)
    init = state_lib.init_fn(model, self.tx, (self.batch_size,) + self.shape)
    return init, functools.partial(step_lib.train_step, tx=self.tx,
                                   objective=objectives.create("erm", model.apply))

  def ratio(self, variant, members, repeats, budget):
    """(ratio, cpu ratio, K-member step s, single step s, compile s) of `variant`."""
    formulation, conv_impl, shared = parse_variant(variant)
    init, member_step = self._parts(conv_impl)
    rep = replicas.Members(members, formulation, shared_batch=shared)
    step = rep.compile_step(member_step, self.mesh)
    state = rep.create_state(init, jax.random.key(0), self.mesh)
    batch = sharding.put_batch(
        _batch(self.shape, self.batch_size, None if shared else members),
        sharding.batch_sharding(self.mesh, member_axis=rep.member_axis))
    keys = rep.train_key(self.key)
    state, compile_s, _ = _timed(step, state, batch, keys)
    times, single_times = [], []
    for _ in range(repeats):
      # Each step runs once untimed first: the first call after the other program runs on
      # caches that program filled (the single step 10% slower right after a K-member step).
      for _ in range(2):
        self.single_state, *t1 = _timed(self.single, self.single_state, self.single_batch,
                                        self.key)
      state, *t = _timed(step, state, batch, keys)
      if t[0] <= budget:
        state, *t = _timed(step, state, batch, keys)
      single_times.append(t1)
      times.append(t)
      if t[0] > budget:  # one repeat of a step over budget (not of one that compiles long)
        break
    # Each K-member step against the single step timed just before it (same load), median
    # over the repeats; the step times printed are the fastest.
    ratio, cpu_ratio = np.median(np.divide(times, single_times), axis=0) / members
    t, t1 = min(times)[0], min(single_times)[0]
    return ratio, cpu_ratio, t, t1, compile_s


def run(quick: bool = False, *, model_names=None, variants=None, sizes=None, batch_size=64,
        budget=10.0) -> dict:
  """Prints the table; returns {(model, K): (best variant, its ratio)}.

  quick: the CNN only, K = 2 and 8, QUICK_VARIANTS, 2 repeats (for benchmarks/peers.py).
  """
  model_names = model_names or (("cnn",) if quick else tuple(CASES))
  variants = variants or (QUICK_VARIANTS if quick else VARIANTS)
  sizes = sizes or ((2, 8) if quick else (2, 4, 8))
  for variant in variants:
    parse_variant(variant)
  repeats = 2 if quick else 5
  print(f"ensemble step / K single steps: backend={jax.default_backend()} "
        f"devices={jax.device_count()} auto={ensemble.resolve('auto')} batch={batch_size}/member")
  print(f"{'model':9s} {'variant':19s} {'K':>2s} {'ratio':>6s} {'cpu ratio':>9s} "
        f"{'K-step ms':>10s} {'1-step ms':>10s} {'compile s':>9s}")
  best = {}
  for name in model_names:
    case = Case(name, batch_size)
    print(f"{name:9s} fresh 1-step ms (before any K-member step): "
          f"{1e3 * case.fresh_single_s:.1f}", flush=True)
    for variant in variants:
      over_budget = False
      for members in sizes:
        if over_budget:
          print(f"{name:9s} {variant:19s} {members:2d}  skipped (> {budget:g} s/step)")
          continue
        ratio, cpu_ratio, t, t1, compile_s = case.ratio(variant, members, repeats, budget)
        over_budget = t > budget
        print(f"{name:9s} {variant:19s} {members:2d} {ratio:6.2f} {cpu_ratio:9.2f} "
              f"{1e3 * t:10.1f} {1e3 * t1:10.1f} {compile_s:9.1f}", flush=True)
        if ratio < best.get((name, members), (None, float("inf")))[1]:
          best[name, members] = (variant, ratio)
  print("best variant per model and K (ratio = K-member step / K single steps):")
  for (name, members), (variant, ratio) in best.items():
    print(f"{name:9s} K={members:2d} {variant:19s} {ratio:6.2f}")
  return best


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--quick", action="store_true",
                      help="CNN only, K = 2 and 8, fewer variants and repeats.")
  parser.add_argument("--models", default="", help=f"Comma-separated, of {', '.join(CASES)}.")
  parser.add_argument("--variants", default="",
                      help="Comma-separated formulation[+im2col][+shared].")
  parser.add_argument("--sizes", default="", help="Comma-separated K (default 2,4,8).")
  parser.add_argument("--batch_size", type=int, default=64)
  parser.add_argument("--budget", type=float, default=10.0,
                      help="Seconds per step above which larger K are skipped.")
  parser.add_argument("--keep_freed_memory", action=argparse.BooleanOptionalAction, default=True,
                      help="rvjax.host_memory.keep_freed_memory(one_arena=False) first, as "
                           "launch.train does for an ensemble.")
  args = parser.parse_args()
  split = lambda text, kind=str: tuple(kind(v) for v in text.split(",")) if text else None
  try:  # bad values get one line (argparse's usage error), before anything compiles
    sizes, variants, names = split(args.sizes, int), split(args.variants), split(args.models)
    for variant in variants or ():
      parse_variant(variant)
  except ValueError as e:
    parser.error(str(e))
  if set(names or ()) - set(CASES) or min(sizes or (1,)) < 1:
    parser.error(f"--models must be of {', '.join(CASES)} and --sizes positive, got "
                 f"{args.models!r} and {args.sizes!r}.")
  if args.keep_freed_memory:
    host_memory.keep_freed_memory(one_arena=False)
  run(args.quick, model_names=names, variants=variants, sizes=sizes, batch_size=args.batch_size,
      budget=args.budget)


if __name__ == "__main__":
  main()

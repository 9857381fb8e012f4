r"""N inner training runs as one program (train_for vmapped) against N sequential runs.

  python benchmarks/inner_runs.py [--runs 8] [--steps 50] [--batch_size 32] [--repeats 3]

Each inner run trains the digits CNN from the same initial state for `steps` SGD steps with
`rvjax.train.inner.train_for`, on batches its sampler draws on device from the digits train
split, with its own key and its own learning-rate multiplier (run i: lr_scale = 0.5 + i / N).
Timed, compile excluded, fastest of `repeats` (each repeat interleaves the three):
  * sequential: one jitted train_for called N times (one compilation);
  * vmap: `jax.vmap(train_for)` over (keys, lr multipliers) in one jitted call;
  * unroll: the N runs as N independent sub-graphs of one jitted call
    (rvjax.uncertainty.ensemble.over_members "unroll", the CPU formulation of ensembles).
ratio = time(N runs in one program) / time(N sequential runs); below 1 the program is faster.
"""
import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from rvjax import data, models, objectives  # noqa: E402
from rvjax.train import inner, optim, state as state_lib  # noqa: E402
from rvjax.uncertainty import ensemble  # noqa: E402


def _timed(fn, *args):
  t = time.perf_counter()
  jax.block_until_ready(fn(*args))
  return time.perf_counter() - t


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--runs", type=int, default=8)
  parser.add_argument("--steps", type=int, default=50)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  ds = data.load("digits", "train")
  images, labels = jnp.asarray(ds.images), jnp.asarray(ds.labels)
  model = models.create("cnn", num_classes=10)
  opt = ml_collections.ConfigDict(dict(name="sgd", lr=0.05, momentum=0.9, nesterov=False, b1=0.9,
                                       b2=0.999, weight_decay=0.0, grad_clip_norm=0.0,
                                       groups=(("all", ".*"),)))
  tx = optim.make_optimizer(opt, ml_collections.ConfigDict({"name": "constant"}), args.steps)
  b = args.batch_size
  state = state_lib.init_fn(model, tx, (b,) + ds.images.shape[1:])(jax.random.key(0))

  def sampler(key, step, _):
    idx = jax.random.randint(key, (b,), 0, images.shape[0])
    return {"image": images[idx], "label": labels[idx], "mask": jnp.ones(b)}

  def one_run(key, scale):
    out, metrics = inner.train_for(state, sampler, key, args.steps, {"lr_scale": {"all": scale}},
                                   objective=objectives.create("erm", model.apply), tx=tx)
    return metrics["loss"][-1]

  n = args.runs
  keys = jax.random.split(jax.random.key(1), n)
  scales = 0.5 + jnp.arange(n) / n
  single = jax.jit(one_run)
  programs = {"vmap": jax.jit(jax.vmap(one_run)),
              "unroll": jax.jit(ensemble.over_members(one_run, "unroll"))}

  def sequential():
    return [single(keys[i], scales[i]) for i in range(n)]

  compile_s = {"sequential": _timed(sequential)}
  compile_s.update({name: _timed(fn, keys, scales) for name, fn in programs.items()})
  times = {name: [] for name in compile_s}
  for _ in range(args.repeats):
    times["sequential"].append(_timed(sequential))
    for name, fn in programs.items():
      times[name].append(_timed(fn, keys, scales))
  # The programs compute the same runs as the sequential calls.
  last = jnp.stack(sequential())
  for name, fn in programs.items():
    err = float(jnp.max(jnp.abs(fn(keys, scales) - last)))
    print(f"{name}: max |final loss - sequential| = {err:.2e}")
  best = {name: min(t) for name, t in times.items()}
  print(f"backend={jax.default_backend()} devices={jax.device_count()} runs={n} "
        f"steps={args.steps} batch={b} model=cnn (digits 8x8x1)")
  print(f"{'formulation':11s} {'seconds':>8s} {'ratio':>6s} {'compile s':>9s}")
  for name, t in best.items():
    print(f"{name:11s} {t:8.3f} {t / best['sequential']:6.2f} {compile_s[name]:9.1f}")


if __name__ == "__main__":
  main()

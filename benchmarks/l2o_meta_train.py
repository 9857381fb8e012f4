r"""Meta-trains the RL-L2O learning-rate policy (ASG) and times one meta-iteration.

  python benchmarks/l2o_meta_train.py --out=/tmp/rvjax_l2o_policy.msgpack [--iterations=20]
  python benchmarks/l2o_meta_train.py --cost_only --num=8 [--conv_impl=xla]

Trains the LSTM controller of rvjax.l2o.policy by REINFORCE over `--num` truncated optimizees of
configs/syn2real_digits.py:row=asg_pg (`--windows` windows of `--window` steps, one vmapped
program per meta-iteration; reward: the CE drop on the synthetic val split) and saves it to
`--out` (refused if it exists); deploy it with `row=asg_l2o,policy=PATH`. Then prints the wall
time of one meta-iteration (rollout) over N vmapped optimizees against N sequential ones (the
same program for one optimizee called N times), compile time excluded.

--conv_impl=im2col (the default) runs the optimizees' convolutions as im2col + matmul
(rvjax.models.layers.Im2colConv, same parameters and outputs): on XLA:CPU the gradient
convolutions inside the rollout's loop take a slow generic path, and vmapped optimizees become
grouped convolutions; batched matmuls avoid both. `--conv_impl=xla` keeps lax convolutions (the
better choice on GPU/TPU, not measured here).

Cost (`--cost_only --num=N --windows=6 --window=10`, quiet 2-core CPU, fifth session):
  conv_impl xla,    8 vmapped optimizees 20.87 s, 8 sequential 9.78 s, ratio 0.47x
  conv_impl im2col, 8 vmapped optimizees  0.79 s, 8 sequential 0.63 s, ratio 0.79x
  conv_impl im2col, 16 vmapped optimizees 1.95 s, 16 sequential 2.27 s, ratio 1.16x
  (the same line after a 300-iteration meta-training: 1.87 s against 1.32 s, 0.71x)
so im2col makes a meta-iteration 26x cheaper; whether vmapping 16 optimizees beats running them
one after another is within the run-to-run noise of these one-shot timings (0.71-1.16x).
Meta-training with it (`--num=16 --windows=6 --window=10 --iterations=60`, 115 s): the mean
return over the first 10 meta-iterations 0.247, over the last 10 0.347, and every group's mean
multiplier 0.5 -> 0.65-0.75: the first run here in which the policy visibly learns (12
iterations with xla convolutions took 229 s and did not).
"""
import argparse
import os
import sys
import time

import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import syn2real_digits  # noqa: E402
from rvjax.l2o import lr_meta, policy as policy_lib  # noqa: E402
from rvjax.train import syn2real  # noqa: E402


def _time(fn, repeats=1):
  jax.block_until_ready(fn())  # compile
  t = time.perf_counter()
  for _ in range(repeats):
    jax.block_until_ready(fn())
  return (time.perf_counter() - t) / repeats


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default="")
  parser.add_argument("--cost_only", action="store_true")
  parser.add_argument("--num", type=int, default=8, help="optimizees per meta-iteration")
  parser.add_argument("--windows", type=int, default=6)
  parser.add_argument("--window", type=int, default=10)
  parser.add_argument("--iterations", type=int, default=20)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--source_dir", default="/tmp/rvjax_syn2real_sources")
  parser.add_argument("--conv_impl", default="im2col", choices=("xla", "im2col"),
                      help="how the optimizees' convolutions run (config.model.conv_impl)")
  args = parser.parse_args()
  config = syn2real_digits.get_config(f"row=asg_pg,source_dir={args.source_dir}")
  config.model.conv_impl = args.conv_impl
  path = syn2real_digits.source_path(args.source_dir, "photo")
  if not os.path.exists(path):
    os.makedirs(args.source_dir, exist_ok=True)
    syn2real.pretrain_source(path, "photo_rotation", config.model.name,
                             model_kwargs=dict(config.model.kwargs))
  if not args.cost_only:
    if not args.out or os.path.exists(args.out):
      raise SystemExit(f"--out must name a new file; got {args.out!r}.")
    t = time.time()
    policy, _ = lr_meta.meta_train(config, num_optimizees=args.num, windows=args.windows,
                                   window=args.window, iterations=args.iterations,
                                   seed=args.seed)
    policy_lib.save(args.out, policy)
    print(f"meta-training: {time.time() - t:.0f} s -> {args.out}")
  policy = policy_lib.init(jax.random.key(0), syn2real.setup(config).groups)
  program = lr_meta.Program(config, policy, windows=args.windows, window=args.window)
  key = jax.random.key(1)
  many, one = program.initial_states(args.num, 0), program.initial_states(1, 0)
  t_vmap = _time(lambda: program.rollout(policy["params"], many, key))
  t_seq = _time(lambda: [program.rollout(policy["params"], one, jax.random.fold_in(key, i))
                         for i in range(args.num)])
  print(f"one meta-iteration ({args.windows} x {args.window} steps, batch {config.batch_size}): "
        f"conv_impl {args.conv_impl}, {args.num} vmapped optimizees {t_vmap:.2f} s, "
        f"{args.num} sequential {t_seq:.2f} s, "
        f"ratio sequential / vmapped {t_seq / t_vmap:.2f}x")


if __name__ == "__main__":
  main()

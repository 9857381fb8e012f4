r"""Self-training on unlabeled real digits (CBST, CRST, DRST) from the plain and the ASG model.

  python benchmarks/self_training_table.py --seeds=3

For each start row (scratch: plain synthetic training; asg_pg: ASG proxy guidance, photo source)
and seed, trains the row once (configs/syn2real_digits.py, checkpoint selected on synthetic val),
then self-trains a copy with each method (rvjax.train.self_training: 3 rounds of 100 steps,
pseudo-label portion 0.2 -> 0.4 -> 0.6; labels of the real train split never read). Prints the
real-test accuracy (mean +- std over seeds) of the start model and after each method, the
pseudo-label accuracy of the last round and the seconds per self-training run. The source model
files are expected in --source_dir (benchmarks/syn2real_table.py creates them).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import syn2real_digits  # noqa: E402
from rvjax.train import self_training, syn2real  # noqa: E402


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--seeds", type=int, default=3)
  parser.add_argument("--starts", default="scratch,asg_pg")
  parser.add_argument("--source_dir", default="/tmp/rvjax_syn2real_sources")
  args = parser.parse_args()
  print(f"{'start -> method':24s} {'real test acc':>15s} {'pseudo acc':>11s} {'s/run':>6s}",
        flush=True)
  for start in args.starts.split(","):
    results = {"(start)": []} | {m: [] for m in syn2real_digits.SELF_TRAINING}
    pseudo = {m: [] for m in syn2real_digits.SELF_TRAINING}
    times = {m: [] for m in syn2real_digits.SELF_TRAINING}
    for seed in range(args.seeds):
      config = syn2real_digits.get_config(f"row={start},seed={seed},source_dir={args.source_dir}")
      best, out, row = syn2real.train_row(config)
      results["(start)"].append(out["real_test/accuracy"])
      for method in syn2real_digits.SELF_TRAINING:
        res = self_training.self_train(config, method, best, row)
        results[method].append(res["real_test/accuracy"])
        pseudo[method].append(res["rounds"][-1]["pseudo_acc"])
        times[method].append(res["wall_time_s"])
    for method, accs in results.items():
      acc = 100 * np.array(accs)
      extra = (f"{100 * np.mean(pseudo[method]):11.1f} {np.mean(times[method]):6.1f}"
               if method in pseudo else f"{'':11s} {'':6s}")
      print(f"{start + ' -> ' + method:24s} {acc.mean():7.1f} +- {acc.std():4.1f} {extra}",
            flush=True)


if __name__ == "__main__":
  main()

r"""The synthetic -> real digits ablation table (issue 10), over seeds, in one command.

  python benchmarks/syn2real_table.py --seeds=5 [--only="row=asg_pg|row=scratch,dr=False"]
      [--policy=POLICY_FILE --plot=multipliers.png]   # adds row asg_l2o, plots its choices
      [--target=mnist|svhn --data_dir=TFDS_DIR]       # real MNIST / SVHN instead of digits

Pretrains the two source models once (rotation prediction on photo patches / on the real digits
train split; skipped when their files exist in --source_dir), then runs every row of
configs/syn2real_digits.py for seeds 0..S-1 and prints, per row, the real-test accuracy of the
checkpoint selected on synthetic val (mean +- sample std over seeds), the synthetic-val accuracy, the
hyperspherical energies E_0, E_1, E_2 of the real-test features and the mean wall time per run.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import syn2real_digits  # noqa: E402
from rvjax.report import plots  # noqa: E402
from rvjax.train import syn2real  # noqa: E402

# (label, config arg): DR rows from the photo source, then the other source and no-DR.
TABLE = [(row, f"row={row}") for row in syn2real_digits.ROWS if row != "asg_l2o"] + [
    ("asg_pg (digits source)", "row=asg_pg,source=digits"),
    ("large_lr (digits source)", "row=large_lr,source=digits"),
    ("scratch, no DR", "row=scratch,dr=False"),
    ("large_lr, no DR", "row=large_lr,dr=False"),
    ("asg_pg, no DR", "row=asg_pg,dr=False"),
]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--seeds", type=int, default=5)
  parser.add_argument("--only", default="", help="'|'-separated config args of TABLE; all if empty")
  parser.add_argument("--steps", type=int, default=0, help="override total_steps (0: config's)")
  parser.add_argument("--source_dir", default="/tmp/rvjax_syn2real_sources")
  parser.add_argument("--policy", default="", help="a learned LR policy file: adds row asg_l2o")
  parser.add_argument("--args", default="",
                      help="'|'-separated config args to run instead of TABLE, e.g. "
                           "'row=scratch,knobs=psi.json' (a learned psi)")
  parser.add_argument("--plot", default="", help="PNG path for asg_l2o's multipliers (seed 0)")
  parser.add_argument("--target", default="digits", choices=tuple(syn2real_digits.TARGETS),
                      help="real test set: digits (bundled), mnist or svhn (tfds, --data_dir)")
  parser.add_argument("--data_dir", default="", help="tfds data_dir holding mnist / svhn_cropped")
  args = parser.parse_args()
  os.makedirs(args.source_dir, exist_ok=True)
  target = f"target={args.target},data_dir={args.data_dir}"
  base = syn2real_digits.get_config(target)
  size, channels = base.data.kwargs.size, base.data.kwargs.channels
  for source, task in syn2real_digits.SOURCES.items():
    if task == "digits_rotation" and args.target == "svhn":
      continue  # 8x8 grey digits cannot serve 32x32 RGB.
    path = syn2real_digits.source_path(args.source_dir, source,
                                       "digits" if source == "digits" else args.target)
    if not os.path.exists(path):
      t = time.time()
      photo = task == "photo_rotation"
      acc = syn2real.pretrain_source(path, task, base.model.name,
                                     model_kwargs=dict(base.model.kwargs),
                                     size=size if photo else 8, channels=channels if photo else 1)
      print(f"pretrained {task}: rotation accuracy {acc:.3f} ({time.time() - t:.0f} s) -> {path}")
  wanted = set(filter(None, args.only.split("|")))
  print(f"{'row':28s} {'real test acc':>15s} {'syn val acc':>13s} {'E_0':>7s} {'E_1':>7s} "
        f"{'E_2':>7s} {'s/run':>6s}", flush=True)
  table = TABLE + ([("asg_l2o", f"row=asg_l2o,policy={args.policy}")] if args.policy else [])
  if args.args:
    table = [(arg.split("/")[-1][:28], arg) for arg in args.args.split("|")]
  for label, arg in table:
    if wanted and arg not in wanted:
      continue
    runs = []
    for seed in range(args.seeds):
      config = syn2real_digits.get_config(f"{arg},seed={seed},source_dir={args.source_dir},"
                                          f"{target}")
      if args.steps:
        with config.unlocked():
          config.total_steps = args.steps
      runs.append(syn2real.run(config))
      if "lr_history" in runs[-1]:
        steps, chosen = zip(*runs[-1]["lr_history"])
        print(f"  seed {seed} multipliers per window (steps {list(steps)}): " + "; ".join(
            f"{g} {[c[g] for c in chosen]}" for g in chosen[0]))
        if args.plot and seed == 0:
          plots.lr_multipliers(args.plot, steps, {g: [c[g] for c in chosen] for g in chosen[0]},
                               title="learned policy's multipliers (asg_l2o, seed 0)")
    get = lambda k: np.array([r[k] for r in runs])
    acc = 100 * get("real_test/accuracy")
    spread = acc.std(ddof=1) if len(acc) > 1 else 0.0  # sample std
    print(f"{label:28s} {acc.mean():7.1f} +- {spread:4.1f} "
          f"{100 * get('syn_val/accuracy').mean():13.1f} "
          + " ".join(f"{get(f'energy/s{s}').mean():7.3f}" for s in syn2real.ENERGY_ORDERS)
          + f" {get('wall_time_s').mean():6.1f}", flush=True)


if __name__ == "__main__":
  main()

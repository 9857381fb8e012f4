r"""The digits robustness table: standard, PGD-AT, Fast-AT and TRADES at linf eps 0.1 and 0.2.

  python benchmarks/digits_adversarial_table.py --root=/tmp/digits_adv [--eps=0.1,0.2]
      [--methods=standard,pgd_at,fast_at,trades] [--norm=linf]

Each run trains `configs/digits_adversarial.py:method=M,eps=E,norm=N` into ROOT/M_E (standard
once, at the first eps) with only the clean evals, timing the training, then evaluates the final
checkpoint with the config's adversarial eval at the --eps values (`loop.evaluate_workdir`; curve,
sanity report and metrics land in the workdir). A finished run leaves ROOT/M_E/table_row.json and
is not redone.
Prints a Markdown table (percent): clean, PGD-20 x 5 restarts, APGD-CE + APGD-T (autoattack), the
worst case over all eps attacks, spatial, at every eps of --eps; training and eval wall times.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import digits_adversarial  # noqa: E402
from rvjax.train import loop, writers  # noqa: E402


def run(root: str, method: str, eps: float, norm: str, table_eps) -> dict:
  workdir = os.path.join(root, f"{method}_{eps:g}")
  row_path = os.path.join(workdir, "table_row.json")
  if os.path.isfile(row_path):
    return json.load(open(row_path))
  config = digits_adversarial.get_config(f"method={method},eps={eps},norm={norm}")
  with config.unlocked():
    adv = config.evals.adv
    adv.eps = tuple(table_eps)
    config.evals = {k: v for k, v in config.evals.items() if k != "adv"}
    config.progress = False
  start = time.time()
  loop.train_and_evaluate(config, workdir)
  train_s = time.time() - start
  start = time.time()
  res = loop.evaluate_workdir(workdir, evals={"adv": adv})
  eval_s = time.time() - start
  guard = [r for r in writers.read_metrics(workdir) if "co_guard/rolled_back" in r]
  row = {"method": method, "train_eps": eps, "train_s": train_s, "eval_s": eval_s,
         "clean": res["adv/clean_accuracy"], "spatial": res["adv/spatial"],
         "sanity_passed": res["adv/sanity/passed"],
         "guard_rollbacks": sum(r["co_guard/rolled_back"] for r in guard),
         **{f"{a}@{e:g}": res[f"adv/{a}/eps={e:.4g}"] for a in ("pgd", "autoattack", "apgd_ce",
                                                               "fgsm", "worst")
            for e in table_eps}}
  json.dump(row, open(row_path, "w"), indent=2)
  return row


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--root", required=True)
  parser.add_argument("--eps", default="0.1,0.2")
  parser.add_argument("--methods", default="standard,pgd_at,fast_at,trades")
  parser.add_argument("--norm", default="linf")
  args = parser.parse_args()
  table_eps = [float(e) for e in args.eps.split(",")]
  rows = []
  for method in args.methods.split(","):
    for eps in table_eps[:1] if method == "standard" else table_eps:
      rows.append(run(args.root, method, eps, args.norm, table_eps))
      print(json.dumps(rows[-1]), flush=True)
  cols = [f"{a}@{e:g}" for e in table_eps for a in ("pgd", "autoattack", "worst")]
  print("\n| method | train eps | clean | " + " | ".join(cols) + " | spatial | sanity | "
        "train s | eval s |")
  print("|---" * (len(cols) + 7) + "|")
  for r in rows:
    train_eps = "-" if r["method"] == "standard" else f"{r['train_eps']:g}"
    print(f"| {r['method']} | {train_eps} | {100 * r['clean']:.1f} | "
          + " | ".join(f"{100 * r[c]:.1f}" for c in cols)
          + f" | {100 * r['spatial']:.1f} | {'pass' if r['sanity_passed'] else 'FAIL'} | "
          f"{r['train_s']:.0f} | {r['eval_s']:.0f} |")


if __name__ == "__main__":
  main()

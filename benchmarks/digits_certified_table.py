r"""The digits certified-robustness tables: bounds (IBP / CROWN) and randomized smoothing.

  python benchmarks/digits_certified_table.py --root=/tmp/digits_certified [--part=both]

Bounds table (--part=bounds): standard and PGD-AT (configs/digits_adversarial.py) and IBP and
CROWN-IBP (configs/digits_certified.py) models, trained at L-inf eps 0.1 and 0.2 (standard
once), each evaluated on the 360 test images at eps 0.1 and 0.2, on the first --examples
test images: clean accuracy, PGD-20 (step eps/8, 1 restart), APGD-CE (100 steps), the worst case
of the two, and the IBP- and CROWN-certified accuracies (`rvjax.certify.certified`, margins
z_y - z_j bounded directly; CROWN on the first --crown_examples: it bounds every layer).

Smoothing table (--part=smoothing): configs/digits_certified.py:method=smoothing at sigma 0.25
and 0.5; its "smoothing" eval (CERTIFY, n0 100, n --smoothing_n, alpha 0.001, on the first
--examples test images) gives the certified L2 accuracy at radius 0, 0.25, 0.5, 1.

Runs go to ROOT/<config args>; a finished run leaves row.json and is not redone. Training keeps
only the clean test eval; wall times are of a shared 2-core CPU (train s: the first training
call, including compilation and the clean eval; smoothing: training plus CERTIFY).
"""
import argparse
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import digits_adversarial, digits_certified  # noqa: E402
from rvjax import attacks, certify  # noqa: E402
from rvjax import data as data_lib  # noqa: E402
from rvjax.train import loop, writers  # noqa: E402

EPS = (0.1, 0.2)
RUNS = [("standard", 0.1), ("ibp", 0.1), ("crown_ibp", 0.1), ("pgd_at", 0.1), ("ibp", 0.2),
        ("crown_ibp", 0.2), ("pgd_at", 0.2)]
CHUNK = {"ibp": 120, "crown": 4}  # test images per bound batch (CROWN's memory grows with it)


def _config(method, arg, pgd_at_epochs=0):
  module = digits_certified if method in digits_certified.METHODS else digits_adversarial
  config = module.get_config(f"method={method},{arg}")
  if method == "pgd_at" and pgd_at_epochs:
    with config.unlocked():
      config.num_epochs = pgd_at_epochs
  return config


def _train(workdir, config, keep_evals=()):
  """Trains (or resumes) the run; returns its summary and the first training's wall seconds."""
  with config.unlocked():
    config.evals = {k: v for k, v in config.evals.items() if k in ("test",) + tuple(keep_evals)}
    config.progress = False
  summary = loop.train_and_evaluate(config, workdir)
  walls = [r["summary/wall_time_s"] for r in writers.read_metrics(workdir)
           if "summary/wall_time_s" in r]
  return summary, walls[0]


def _robust(model, state, x, y, eps, key, crown_examples):
  variables = {"params": state.params, **state.model_state}
  logits_fn = jax.jit(lambda z: model.apply(variables, z, train=False))
  correct = np.asarray(jnp.argmax(logits_fn(x), -1) == y)
  k_pgd, k_apgd = jax.random.split(key)
  pgd = np.asarray(jnp.argmax(logits_fn(attacks.pgd(
      logits_fn, x, y, key=k_pgd, eps=eps, step_size=eps / 8, steps=20, restarts=1)), -1) == y)
  apgd = np.asarray(jnp.argmax(logits_fn(attacks.apgd(logits_fn, x, y, key=k_apgd, eps=eps,
                                                      steps=100)), -1) == y)
  out = {"clean": correct.mean(), f"pgd@{eps:g}": (correct & pgd).mean(),
         f"apgd@{eps:g}": (correct & apgd).mean(), f"worst@{eps:g}": (correct & pgd & apgd).mean()}
  for method, chunk in CHUNK.items():
    fn = jax.jit(lambda v, xs, ys: certify.certified(model.apply, v, xs, ys, eps, method=method))
    count = crown_examples if method == "crown" else len(y)
    flags = [np.asarray(fn(variables, x[i:i + chunk], y[i:i + chunk]))
             for i in range(0, count, chunk)]
    out[f"{method}@{eps:g}"] = float(np.concatenate(flags).mean())
  return out


def bounds_row(root, method, train_eps, args):
  workdir = os.path.join(root, f"{method}_{train_eps:g}")
  path = os.path.join(workdir, "row.json")
  if os.path.isfile(path):
    return json.load(open(path))
  _, train_s = _train(workdir, _config(method, f"eps={train_eps}", args.pgd_at_epochs))
  _, model, state, _ = loop.restore_workdir(workdir)
  test = data_lib.load_split(loop.load_config(workdir).data, "test")
  x, y = jnp.asarray(test.images[:args.examples]), jnp.asarray(test.labels[:args.examples])
  start = time.time()
  row = {"method": method, "train_eps": train_eps, "train_s": train_s}
  for eps in EPS:
    row.update(_robust(model, state, x, y, eps, jax.random.key(0), args.crown_examples))
  row["eval_s"] = time.time() - start
  json.dump({k: float(v) if k != "method" else v for k, v in row.items()}, open(path, "w"))
  return json.load(open(path))


def smoothing_row(root, sigma, args):
  workdir = os.path.join(root, f"smoothing_{sigma:g}")
  path = os.path.join(workdir, "row.json")
  if os.path.isfile(path):
    return json.load(open(path))
  config = _config("smoothing", f"sigma={sigma}")
  with config.unlocked():
    config.evals.smooth.update(n=args.smoothing_n, num_examples=args.examples)
  summary, wall = _train(workdir, config, keep_evals=("smooth",))
  row = {"sigma": sigma, "wall_s": wall, "test": summary["test/accuracy"],
         **{k.split("/", 1)[1]: v for k, v in summary.items() if k.startswith("smooth/")}}
  json.dump(row, open(path, "w"))
  return row


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--root", required=True)
  parser.add_argument("--part", default="both", choices=("bounds", "smoothing", "both"))
  parser.add_argument("--examples", type=int, default=360, help="test images (first n)")
  parser.add_argument("--crown_examples", type=int, default=360, help="of them, for CROWN")
  parser.add_argument("--pgd_at_epochs", type=int, default=0, help="0: the config's 30")
  parser.add_argument("--smoothing_n", type=int, default=10_000, help="CERTIFY's n")
  args = parser.parse_args()
  if args.part in ("bounds", "both"):
    rows = []
    for method, eps in RUNS:
      rows.append(bounds_row(args.root, method, eps, args))
      print(json.dumps(rows[-1]), flush=True)
    cols = [f"{a}@{e:g}" for e in EPS for a in ("pgd", "apgd", "ibp", "crown")]
    print("\n| method | train eps | clean | " + " | ".join(cols) + " | train s | eval s |")
    print("|---" * (len(cols) + 5) + "|")
    for r in rows:
      train_eps = "-" if r["method"] == "standard" else f"{r['train_eps']:g}"
      print(f"| {r['method']} | {train_eps} | {100 * r['clean']:.1f} | "
            + " | ".join(f"{100 * r[c]:.1f}" for c in cols)
            + f" | {r['train_s']:.0f} | {r['eval_s']:.0f} |")
  if args.part in ("smoothing", "both"):
    rows = [smoothing_row(args.root, s, args) for s in (0.25, 0.5)]
    radii = digits_certified.RADII
    print("\n| sigma | clean (base) | " + " | ".join(f"r={r:g}" for r in radii)
          + " | abstain | train+eval s |")
    print("|---" * (len(radii) + 4) + "|")
    for r in rows:
      print(f"| {r['sigma']:g} | {100 * r['test']:.1f} | "
            + " | ".join(f"{100 * r[f'certified_accuracy/r={q:g}']:.1f}" for q in radii)
            + f" | {100 * r['abstain_rate']:.1f} | {r['wall_s']:.0f} |")


if __name__ == "__main__":
  main()

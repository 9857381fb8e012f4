r"""Where the main command's time goes: each eval of a trained workdir, timed piece by piece.

  python -m launch.train --config=configs/digits_cnn.py:trust --workdir=W   # once
  python -m benchmarks.trust_report_time --workdir=W [--quick]

Restores W's latest checkpoint and runs every eval of its config as the training loop does
(`rvjax.train.evaluation.run_evals`'s evaluators, same predict_fn), printing per eval and per
yielded number: wall seconds, process CPU seconds, and the XLA compilations with their seconds
(from jax.monitoring). `--quick` runs only the first eval; `--evals=a,b` only those;
`--num_examples=N` evaluates the first N examples only (compile costs stay, compute shrinks), to
separate the two on a busy machine. Nothing is written to W.
"""
import argparse
import collections
import time

import jax
from jax import monitoring

from rvjax import evaluators
from rvjax.train import build, resume

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--quick", action="store_true", help="Only the first eval.")
  p.add_argument("--evals", default="", help="Comma-separated eval names (default: all).")
  p.add_argument("--num_examples", type=int, default=0,
                 help="Evaluate the first N examples only (evals that take num_examples).")
  args = p.parse_args()

  compiles = collections.Counter()

  def listener(event, duration, **_):
    if event == BACKEND_COMPILE:
      compiles["n"] += 1
      compiles["s"] += duration
  monitoring.register_event_duration_secs_listener(listener)

  config, model, state, mesh = resume.restore_workdir(args.workdir)
  predict_fn = build.make_predict_fn(config, model, mesh)
  member_fn = build.make_member_logits_fn(config, model, mesh)
  print(f"jax {jax.__version__}, {jax.device_count()} x {jax.devices()[0].device_kind}")
  print(f"{'eval / piece':44s} {'wall s':>8s} {'cpu s':>8s} {'compiles':>8s} {'compile wall s':>14s}")
  totals = [0.0, 0.0, 0, 0.0]
  names = args.evals.split(",") if args.evals else list(config.evals)
  names = names[:1] if args.quick else names
  for name in names:
    ecfg = config.evals[name]
    kwargs = {k: v for k, v in ecfg.items() if k != "type"}
    if args.num_examples and ecfg.type in ("adversarial", "corruption"):
      kwargs["num_examples"] = args.num_examples
    t0, c0, n0, s0 = time.perf_counter(), time.process_time(), compiles["n"], compiles["s"]
    ev = evaluators.create(ecfg.type, predict_fn, data=config.data, mesh=mesh,
                           member_logits_fn=member_fn, apply_fn=model.apply, **kwargs)
    rows, mark = [], (t0, c0, n0, s0)
    for key, _ in ev.run(state):
      now = (time.perf_counter(), time.process_time(), compiles["n"], compiles["s"])
      if now[0] - mark[0] > 0.5:  # Pieces that cost something; the rest are derived numbers.
        rows.append((key, *[a - b for a, b in zip(now, mark)]))
      mark = now
    end = (time.perf_counter(), time.process_time(), compiles["n"], compiles["s"])
    total = [a - b for a, b in zip(end, (t0, c0, n0, s0))]
    print(f"{name + ' (' + ecfg.type + ')':44s} {total[0]:8.1f} {total[1]:8.1f} {total[2]:8d} "
          f"{total[3]:14.1f}")
    for key, w, c, n, s in rows:
      print(f"  {'... ' + key:42s} {w:8.1f} {c:8.1f} {n:8d} {s:14.1f}")
    totals = [a + b for a, b in zip(totals, total)]
  print(f"{'all evals':44s} {totals[0]:8.1f} {totals[1]:8.1f} {totals[2]:8d} {totals[3]:14.1f}")


if __name__ == "__main__":
  main()

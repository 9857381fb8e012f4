"""The trust report: a workdir's numbers (and its baselines') as Markdown, JSON and PNG plots.

  python -m launch.report --workdir=DIR [--baseline=DIR2 ...]

writes DIR/report/report.md, report.json and the plots. It reports only what the workdirs hold
(their metrics.jsonl and config.json) and says what is missing and which command produces it.
"""
import json
import os

from rvjax.report import plots as plots_lib
from rvjax.report import records, render, scorecard
from rvjax.report.records import Run, load_run, read_metrics

REPORT_DIR = "report"


def _plots(run: Run, out_dir: str) -> dict:
  """Draws every figure `run`'s numbers allow; {section title: [(title, relative path)]}."""
  from rvjax.corruptions import COMMON
  out, prefix = {}, run.name
  rel = lambda name: os.path.join(f"{prefix}_{name}.png")
  n = scorecard._test_eval(run, "calibration")
  bins = run.scoped(f"{n}/reliability") if n else {}
  if {"confidence", "accuracy", "count"} <= set(bins):
    path = rel(f"reliability_{n}")
    plots_lib.reliability(os.path.join(out_dir, path), bins["confidence"], bins["accuracy"],
                          bins["count"], ece=run.get(f"{n}/ece"), title=f"{run.name}, {n}")
    out.setdefault("Calibration", []).append(("reliability diagram", path))
  n = scorecard._test_eval(run, "corruption")
  cells = scorecard.corruption_cells(run, n) if n else {}
  if cells and run.get(f"{n}/clean/accuracy") is not None:
    path = rel(f"severity_{n}")
    clean = {m: run.get(f"{n}/clean/{m}") for m in ("accuracy", "ece")}
    plots_lib.severity(os.path.join(out_dir, path), clean, cells, headline=COMMON)
    out.setdefault("Common corruptions", []).append(("accuracy and ECE vs severity", path))
  for n in run.evals_of("adversarial"):
    table, checks = scorecard.adversarial_table(run, n)
    if table and run.get(f"{n}/clean_accuracy") is not None:
      path = rel(f"accuracy_vs_eps_{n}")
      plots_lib.accuracy_vs_eps(os.path.join(out_dir, path), table,
                                clean=run.get(f"{n}/clean_accuracy"),
                                norm=run.config["evals"][n].get("norm", "linf"),
                                flagged=not all(checks.values()))
      title = next(s.title for s in scorecard.adversarial(run) if f"({n}:" in s.title)
      out.setdefault(title, []).append(("robust accuracy vs eps", path))
  for n in run.evals_of("restoration"):
    samples = records.read_samples(run.workdir, n)
    if samples:
      path = rel(f"restoration_grid_{n}")
      plots_lib.image_grid(os.path.join(out_dir, path), samples, max_rows=len(samples["clean"]))
      out.setdefault(scorecard.restoration_title(run, n), []).append(
          ("before / after: degraded, restored, clean (centre crops)", path))
  return out


def write(workdir: str, baselines=(), *, out_dir: str | None = None) -> dict:
  """Writes report.md, report.json and the plots for `workdir` (first) and `baselines`.

  Args:
    workdir: the run the report is about; the report goes to `out_dir`, default workdir/report.
    baselines: other workdirs shown side by side (runs differing only in seed are aggregated).

  Returns: {"markdown": path, "json": path, "plots": [paths]}.
  Raises: FileNotFoundError / ValueError for a workdir that cannot be read (names it).
  """
  runs = [load_run(workdir), *[load_run(b) for b in baselines]]
  out_dir = out_dir or os.path.join(workdir, REPORT_DIR)
  os.makedirs(out_dir, exist_ok=True)
  sections = {r.workdir: scorecard.build(r) for r in runs}
  plots = {r.workdir: _plots(r, out_dir) for r in runs}
  paths = {"markdown": os.path.join(out_dir, "report.md"),
           "json": os.path.join(out_dir, "report.json"),
           "plots": [os.path.join(out_dir, p) for ps in plots.values() for v in ps.values()
                     for _, p in v]}
  records.atomic_write(paths["markdown"], render.markdown(runs, sections, plots))
  records.atomic_write(paths["json"], json.dumps(render.as_json(runs, sections, plots), indent=2,
                                          default=str))
  return paths


__all__ = ["REPORT_DIR", "Run", "load_run", "read_metrics", "records", "render", "scorecard",
           "write"]

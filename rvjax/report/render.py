"""Scorecards and comparisons as Markdown and JSON; runs that differ only in seed aggregated."""
import json
import os

import numpy as np

from rvjax.report import scorecard
from rvjax.report.records import Run

SEED_KEYS = ("seed",)  # Config fields that name a repetition, not a different experiment.


def provenance(run: Run) -> dict:
  """What every number of `run` carries: config, hardware, software and wall time."""
  c, v = run.config, run.values
  return {"workdir": run.workdir, "config": v.get("run/config", "(not recorded)"),
          "model": c.get("model", {}).get("name"), "objective": c.get("objective", {}).get("name"),
          "data": c.get("data", {}).get("name"), "seed": c.get("seed"),
          "steps": run.steps.get("summary/wall_time_s"),
          "hardware": (f"{v.get('env/device_count', '?')} x {v.get('env/device_kind', '?')} "
                       f"({v.get('env/platform', '?')}, {v.get('env/cpu_count', '?')} CPU cores, "
                       f"{v.get('env/process_count', '?')} process(es))"),
          "software": (f"python {v.get('env/python', '?')}, jax {v.get('env/jax', '?')}, "
                       f"flax {v.get('env/flax', '?')}, optax {v.get('env/optax', '?')}"),
          "wall_time_s": v.get("summary/wall_time_s")}


def _table(rows: list) -> list[str]:
  head, *body = rows
  return ["| " + " | ".join(map(str, head)) + " |", "|" + "---|" * len(head),
          *("| " + " | ".join(map(str, r)) + " |" for r in body)]


def run_markdown(run: Run, sections: list, plots: dict) -> list[str]:
  """One run's scorecard: provenance, then each section (or what is missing and how to get it)."""
  p = provenance(run)
  wall = "n/a" if p["wall_time_s"] is None else f"{p['wall_time_s']:.1f} s"
  lines = [f"## {run.name}", "",
           f"- config: `{p['config']}` (model {p['model']}, objective {p['objective']}, data "
           f"{p['data']}, seed {p['seed']}, {p['steps']} steps)",
           f"- hardware: {p['hardware']}", f"- software: {p['software']}",
           f"- wall time (train + evals): {wall}", ""]
  for s in sections:
    lines += [f"### {s.title}", ""]
    if s.missing:
      lines += [f"Missing: {s.missing}", ""]
      continue
    if len(s.rows) > 1:
      lines += _table(s.rows) + [""]
    lines += [*(f"{n}" for n in s.notes), ""] if s.notes else []
    for title, path in plots.get(s.title, []):
      lines += [f"![{title}]({path})", ""]
  return lines


def seed_groups(runs: list[Run]) -> list[list[Run]]:
  """Runs grouped by their config without the seed fields, in first-seen order."""
  groups = {}
  for run in runs:
    key = json.dumps({k: v for k, v in run.config.items() if k not in SEED_KEYS},
                     sort_keys=True, default=str)
    groups.setdefault(key, []).append(run)
  return list(groups.values())


def group_labels(groups: list[list[Run]]) -> list[str]:
  """A row label per seed group: a lone run's workdir name; a group that alone fills its parent
  folder (a `launch.sweep --seeds` root, e.g. runs/ensemble/000_seed=0..) is named by that
  folder; otherwise "<first run> (+N seeds)"."""
  parents = [{os.path.dirname(os.path.normpath(r.workdir)) for r in g} for g in groups]
  labels = []
  for g, p in zip(groups, parents):
    if len(g) == 1:
      labels.append(g[0].name)
    elif len(p) == 1 and parents.count(p) == 1:
      labels.append(os.path.basename(next(iter(p))))
    else:
      labels.append(f"{g[0].name} (+{len(g) - 1} seeds)")
  return labels


UNSCALED = ("NLL", "PSNR", "SSIM")  # Headline columns in their own units, not percent.


def mean_std(values: list, *, scale: float = 100.0, digits: int = 2) -> str:
  """"m ± s" over the non-missing values, times `scale` (percent by default; s: sample std;
  n given when > 1)."""
  vals = scale * np.asarray([v for v in values if v is not None], np.float64)
  if not len(vals):
    return "n/a"
  if len(vals) == 1:
    return f"{vals[0]:.{digits}f}"
  return f"{vals.mean():.{digits}f} ± {vals.std(ddof=1):.{digits}f} (n={len(vals)})"


def _cell(column: str, values: list) -> str:
  if "PSNR" in column:
    return mean_std(values, scale=1.0, digits=2)
  if any(u in column for u in UNSCALED):
    return mean_std(values, scale=1.0, digits=4)
  return mean_std(values)


def _joined(values) -> str:
  return ", ".join(dict.fromkeys(str(v) for v in values))


def comparison(runs: list[Run]) -> tuple[list, dict]:
  """Side-by-side rows (percent; mean ± std over seeds) and the same as data.

  One column per headline number that at least one run has ("n/a" where a run lacks it). Each
  row ends with what its numbers carry: the train wall time (s, mean ± std over seeds), the
  `--config` flag that produced the runs and their hardware.
  """
  groups = seed_groups(runs)
  labels = group_labels(groups)
  heads = [[scorecard.headline(r) for r in g] for g in groups]
  # Columns in first-seen order; one that no run has a value for (e.g. accuracy when every run
  # is a restorer) is left out.
  columns = list(dict.fromkeys(c for hs in heads for h in hs for c, v in h.items()
                               if v is not None))
  rows = [["run", "seeds", *columns, "wall time (s)", "config", "hardware"]]
  data = {}
  for g, hs, label in zip(groups, heads, labels):
    cells = {c: [h.get(c) for h in hs] for c in columns}
    prov = [provenance(r) for r in g]
    walls = [p["wall_time_s"] for p in prov]
    config, hardware = _joined(f"`{p['config']}`" for p in prov), _joined(p["hardware"] for p in prov)
    rows.append([label, len(g), *[_cell(c, cells[c]) for c in columns],
                 mean_std(walls, scale=1.0, digits=1), config, hardware])
    data[label] = {"workdirs": [r.workdir for r in g], "seeds": [r.config.get("seed") for r in g],
                   **cells, "wall_time_s": walls, "config": config, "hardware": hardware}
  return rows, data


def comparison_markdown(runs: list[Run]) -> list[str]:
  """The comparison as Markdown lines: its legend, then the table."""
  rows, _ = comparison(runs)
  return ["Percent unless stated; NLL in nats, PSNR in dB, SSIM as a fraction; runs that "
          "differ only in `seed` are aggregated as mean ± sample std. (!) marks numbers with "
          "failed gradient-masking checks.", "", *_table(rows)]


def markdown(runs: list[Run], sections: dict, plots: dict) -> str:
  """The whole report: a comparison table when there are several runs, then each scorecard."""
  lines = ["# rvjax trust report", ""]
  if len(runs) > 1:
    lines += ["## Comparison", "", *comparison_markdown(runs), ""]
  for run in runs:
    lines += run_markdown(run, sections[run.workdir], plots.get(run.workdir, {}))
  return "\n".join(lines).rstrip() + "\n"


def as_json(runs: list[Run], sections: dict, plots: dict) -> dict:
  """The report as data: per run its provenance, sections and plots; the comparison."""
  out = {"runs": [{"provenance": provenance(r), "headline": scorecard.headline(r),
                   "sections": [vars(s) for s in sections[r.workdir]],
                   "plots": {t: [p for _, p in ps] for t, ps in plots.get(r.workdir, {}).items()}}
                  for r in runs]}
  if len(runs) > 1:
    out["comparison"] = comparison(runs)[1]
  return out

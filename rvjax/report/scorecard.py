"""A run's scorecard: its numbers grouped by evaluator type, each section saying what is missing.

A section is built only from what the workdir's metrics.jsonl holds; when a run has no result
of a kind, the section says so and names the command that produces it. `headline(run)` picks
the few numbers that a side-by-side comparison of runs shows.
"""
import dataclasses
import re

from rvjax.report.records import Run

COMMON_CORRUPTIONS = 15  # The ImageNet-C / CIFAR-10-C benchmark set; the rest are "extra".
SHIFT_EVALS = ("python -m launch.evaluate --workdir={w} --config=configs/shift_evals.py")
ADVERSARIAL_EVALS = ("python -m launch.evaluate --workdir={w} "
                     "--config=configs/digits_adversarial.py")
_EPS = re.compile(r"^(?P<attack>[^/]+)/eps=(?P<eps>[0-9.e+-]+)$")


@dataclasses.dataclass
class Section:
  """A titled table of `rows` (lists of cells, the first row the header) and notes."""
  title: str
  rows: list = dataclasses.field(default_factory=list)
  notes: list = dataclasses.field(default_factory=list)
  missing: str = ""  # Non-empty: nothing to show; how to produce it.


def pct(value) -> str:
  return "n/a" if value is None else f"{100 * value:.2f}"


def num(value, digits: int = 4) -> str:
  return "n/a" if value is None else f"{value:.{digits}g}"


def _test_eval(run: Run, kind: str) -> str | None:
  """The eval of type `kind` on the test split (else the first of that type)."""
  names = run.evals_of(kind)
  tests = [n for n in names if run.config["evals"][n].get("split", "test") == "test"]
  return (tests or names or [None])[0]


def clean(run: Run) -> Section:
  s = Section("Clean accuracy and NLL")
  names = run.evals_of("classification")
  s.rows = [["split", "accuracy (%)", "NLL (nats)"]]
  for n in names:
    if run.get(f"{n}/accuracy") is not None:
      s.rows.append([run.config["evals"][n].get("split", n), pct(run.get(f"{n}/accuracy")),
                     num(run.get(f"{n}/loss"))])
  if len(s.rows) == 1:
    s.missing = "no classification eval: train with the config's default evals."
  return s


def calibration(run: Run) -> Section:
  s = Section("Calibration")
  n = _test_eval(run, "calibration")
  if n is None or run.get(f"{n}/ece") is None:
    s.missing = f"no calibration eval: `{SHIFT_EVALS.format(w=run.workdir)}`."
    return s
  s.rows = [["", "ECE (%)", "NLL (nats)", "Brier", "accuracy (%)", "T"],
            ["as trained", pct(run.get(f"{n}/ece")), num(run.get(f"{n}/nll")),
             num(run.get(f"{n}/brier")), pct(run.get(f"{n}/accuracy")),
             num(run.get("calibration/temperature", 1.0), 3)]]
  if run.get(f"{n}/ts/ece") is not None:
    s.rows.append(["+ temperature fit on val", pct(run.get(f"{n}/ts/ece")),
                   num(run.get(f"{n}/ts/nll")), num(run.get(f"{n}/ts/brier")),
                   pct(run.get(f"{n}/accuracy")), num(run.get(f"{n}/ts/temperature"), 3)])
  else:
    s.notes.append("ECE after temperature scaling is missing: the calibration eval needs "
                   "`temperature_split=\"val\"`.")
  s.notes.append("ECE: top-label, 15 equal-width bins, as a percentage. NLL clips "
                 "probabilities at 1e-12 (`rvjax.metrics.nll`).")
  return s


def corruption_cells(run: Run, name: str) -> dict:
  """{corruption: {severity: {metric: value}}} of corruption eval `name`."""
  cells = {}
  for key, v in run.scoped(name).items():
    parts = key.split("/")
    if len(parts) == 3 and parts[1].isdigit():
      cells.setdefault(parts[0], {}).setdefault(int(parts[1]), {})[parts[2]] = v
  return cells


def corruption(run: Run) -> Section:
  from rvjax.corruptions import COMMON
  s = Section("Common corruptions")
  n = _test_eval(run, "corruption")
  cells = corruption_cells(run, n) if n else {}
  if not cells:
    s.missing = f"no corruption eval: `{SHIFT_EVALS.format(w=run.workdir)}`."
    return s
  common = [c for c in cells if c in COMMON]
  s.rows = [["corruptions", "count", "accuracy (%)", "ECE (%)"]]
  for group, label, count in (("mean", "benchmark (headline)", len(common)),
                              ("extra_mean", "extra", len(cells) - len(common))):
    if run.get(f"{n}/{group}/accuracy") is not None:
      s.rows.append([label, count, pct(run.get(f"{n}/{group}/accuracy")),
                     pct(run.get(f"{n}/{group}/ece"))])
  s.rows.append(["clean", "", pct(run.get(f"{n}/clean/accuracy")),
                 pct(run.get(f"{n}/clean/ece"))])
  if run.get(f"{n}/mce") is not None:
    s.notes.append(f"mCE {num(run.get(f'{n}/mce'), 3)}, relative mCE "
                   f"{num(run.get(f'{n}/relative_mce'), 3)} (ratios to the baseline run).")
  if len(common) < COMMON_CORRUPTIONS:
    s.notes.append(f"Only {len(common)} of the {COMMON_CORRUPTIONS} benchmark corruptions were "
                   "evaluated: the headline is not comparable with the literature.")
  return s


def adversarial_table(run: Run, name: str) -> tuple[list, dict]:
  """({attack: {eps: accuracy}}, {check: passed}) of adversarial eval `name`."""
  table, checks = {}, {}
  for key, v in run.scoped(name).items():
    m = _EPS.match(key)
    if m:
      table.setdefault(m["attack"], {})[float(m["eps"])] = v
    elif key.startswith("sanity/") and key not in ("sanity/passed", "sanity/num_failed"):
      checks[key[len("sanity/"):]] = bool(v)
  return table, checks


def adversarial(run: Run) -> list[Section]:
  sections = []
  for n in run.evals_of("adversarial"):
    cfg = run.config["evals"][n]
    table, checks = adversarial_table(run, n)
    subset = (f"first {cfg['num_examples']} examples of the " if cfg.get("num_examples")
              else "")
    s = Section(f"Adversarial robustness ({n}: {cfg.get('norm', 'linf')}, "
                f"{subset}{cfg.get('split', 'test')} split)")
    if not table:
      s.missing = f"eval {n!r} has no results yet: `python -m launch.evaluate --workdir={run.workdir}`."
      sections.append(s)
      continue
    failed = sorted(c for c, ok in checks.items() if not ok)
    flag = " (!)" if failed else ""
    eps = sorted({e for accs in table.values() for e in accs})
    s.rows = [["attack", *[f"eps={e:.4g}" for e in eps]]]
    for attack, accs in table.items():
      s.rows.append([attack, *[pct(accs.get(e)) + flag for e in eps]])
    clean_acc = run.get(f"{n}/clean_accuracy")
    s.notes.append(f"Clean accuracy {pct(clean_acc)}%; robust accuracy in %, an example counts "
                   "only if it is also classified correctly when clean.")
    if not checks:
      s.notes.append("Gradient-masking checks were not run (sanity=False): treat these "
                     "numbers as upper bounds.")
    elif failed:
      s.notes.append("(!) GRADIENT-MASKING FLAGS: failed checks " + ", ".join(failed) +
                     ". Every number above may overstate robustness.")
    else:
      s.notes.append(f"All {len(checks)} gradient-masking checks passed: "
                     + ", ".join(sorted(checks)) + ".")
    sections.append(s)
  if not sections:
    s = Section("Adversarial robustness")
    s.missing = f"no adversarial eval: `{ADVERSARIAL_EVALS.format(w=run.workdir)}`."
    sections.append(s)
  return sections


def certified(run: Run) -> list[Section]:
  sections = []
  for n in run.evals_of("certified"):
    table, _ = adversarial_table(run, n)
    s = Section(f"Certified robustness ({n}: linf, bound propagation)")
    if not table:
      s.missing = f"eval {n!r} has no results yet: `python -m launch.evaluate --workdir={run.workdir}`."
    else:
      eps = sorted({e for accs in table.values() for e in accs})
      s.rows = [["bound", *[f"eps={e:.4g}" for e in eps]],
                *[[m, *[pct(accs.get(e)) for e in eps]] for m, accs in table.items()]]
      s.notes.append(f"Clean accuracy {pct(run.get(f'{n}/clean_accuracy'))}%; certified accuracy "
                     "in %: proven correct over the whole ball (a lower bound on robust accuracy).")
    sections.append(s)
  return sections


def ood(run: Run) -> Section:
  s = Section("Out-of-distribution detection (AUROC, %)")
  n = _test_eval(run, "ood")
  aurocs = {}
  for key, v in (run.scoped(n).items() if n else ()):
    parts = key.split("/")
    if len(parts) == 3 and parts[2] == "auroc":
      aurocs.setdefault(parts[0], {})[parts[1]] = v
  if not aurocs:
    s.missing = f"no OOD eval: `{SHIFT_EVALS.format(w=run.workdir)}`."
    return s
  scores = sorted({sc for d in aurocs.values() for sc in d})
  s.rows = [["OOD set", *scores]]
  for ood_set, d in aurocs.items():
    s.rows.append([ood_set, *[pct(d.get(sc)) for sc in scores]])
  s.notes.append("In-distribution is the positive class; 50% is chance.")
  return s


def restoration_title(run: Run, name: str) -> str:
  cfg = run.config["evals"][name]
  degrade = (cfg.get("degrade") or {}).get("name") or "inputs as stored"
  kwargs = ", ".join(f"{k}={v}" for k, v in ((cfg.get("degrade") or {}).get("kwargs") or {}).items())
  return (f"Restoration quality ({name}: {cfg.get('folder') or 'the data folder'}, "
          f"{degrade.rsplit('.', 1)[-1]}{f' {kwargs}' if kwargs else ''})")


def restoration(run: Run) -> list[Section]:
  """Per restoration eval: PSNR / SSIM (and NIQE) of the degraded inputs and of the restored
  images, against the clean ones."""
  sections = []
  for n in run.evals_of("restoration"):
    cfg = run.config["evals"][n]
    s = Section(restoration_title(run, n))
    if run.get(f"{n}/psnr") is None:
      s.missing = f"eval {n!r} has no results yet: `python -m launch.evaluate --workdir={run.workdir}`."
      sections.append(s)
      continue
    g = lambda k, d=4: num(run.get(f"{n}/{k}"), d)
    s.rows = [["images", "PSNR (dB)", "SSIM", "NIQE"],
              ["degraded input", g("psnr_input"), g("ssim_input"), g("niqe_input")],
              ["restored", g("psnr"), g("ssim"), g("niqe")]]
    gain = run.get(f"{n}/psnr") - (run.get(f"{n}/psnr_input") or 0.0)
    per_image = run.get(f"{n}/psnr_per_image")  # The writer logs a 1-element list as a scalar.
    count = len(per_image) if isinstance(per_image, list) else int(per_image is not None)
    protocol = ", Y channel" if cfg.get("y_channel") else ""
    protocol += f", border crop {cfg['crop']}" if cfg.get("crop") else ""
    s.notes.append(f"Means over {count} image{'s' * (count != 1)}{protocol}; the restorer gains "
                   f"{gain:+.2f} dB PSNR over its input. NIQE (lower is better) is this project's "
                   "own Train400 fit.")
    sections.append(s)
  return sections


def other(run: Run, known: set) -> list[Section]:
  """Evals of types without a dedicated section (certified, restoration, ...): every number."""
  sections = []
  for n, e in run.config.get("evals", {}).items():
    if e.get("type") in known:
      continue
    values = run.scoped(n)
    s = Section(f"{n} ({e.get('type')})")
    s.rows = [["metric", "value"], *[[k, num(v) if isinstance(v, float) else str(v)]
                                     for k, v in sorted(values.items())
                                     if not isinstance(v, list)]]
    if not values:
      s.missing = f"eval {n!r} has no results yet: `python -m launch.evaluate --workdir={run.workdir}`."
    sections.append(s)
  return sections


KNOWN = {"classification", "calibration", "corruption", "adversarial", "certified", "ood",
         "restoration"}


def build(run: Run) -> list[Section]:
  """Every section of `run`'s scorecard, in reading order."""
  return [clean(run), calibration(run), corruption(run), *adversarial(run), *certified(run),
          ood(run), *restoration(run), *other(run, KNOWN)]


def headline(run: Run) -> dict:
  """The numbers of a comparison row: {column: value (fraction or None)}."""
  out = {}
  n = _test_eval(run, "classification")
  out["accuracy"] = run.get(f"{n}/accuracy") if n else None
  out["NLL"] = run.get(f"{n}/loss") if n else None
  n = _test_eval(run, "calibration")
  out["ECE"] = run.get(f"{n}/ece") if n else None
  out["ECE (TS)"] = run.get(f"{n}/ts/ece") if n else None
  n = _test_eval(run, "corruption")
  out["C accuracy"] = run.get(f"{n}/mean/accuracy") if n else None
  for name in run.evals_of("adversarial"):
    table, checks = adversarial_table(run, name)
    worst = table.get("worst", {})
    for e, v in sorted(worst.items()):
      flag = "" if all(checks.values()) else " (!)"
      out[f"{name} worst eps={e:.4g}{flag}"] = v
  for name in run.evals_of("certified"):
    table, _ = adversarial_table(run, name)  # Bound methods may cover different subsets.
    for method, accs in table.items():
      for e, v in sorted(accs.items()):
        out[f"{name} {method} certified eps={e:.4g}"] = v
  for name in run.evals_of("smoothing"):
    for key, v in run.scoped(name).items():
      if key.startswith("certified_accuracy/r="):
        out[f"{name} certified L2 {key.split('/')[1]}"] = v
  for name in run.evals_of("restoration"):
    for key, column in (("psnr", "PSNR"), ("ssim", "SSIM"), ("psnr_input", "PSNR of input")):
      if run.get(f"{name}/{key}") is not None:
        out[f"{name} {column}"] = run.get(f"{name}/{key}")
  n = _test_eval(run, "ood")
  if n:
    for key, v in run.scoped(n).items():
      if key.endswith("/max_softmax/auroc"):
        out[f"AUROC {key.split('/')[0]}"] = v
  return out

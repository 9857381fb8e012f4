"""Common-corruption evaluator: accuracy, ECE and NLL per corruption x severity, mCE, plots.

Config (an entry of `config.evals` with type "corruption"; every field but `type` is a kwarg):

  split, batch_size, num_examples: the clean data (num_examples 0: the whole split, else its
    first n).
  names: corruptions, default all 19 of `rvjax.corruptions.NAMES`; severities: default 1..5.
  source: "device" (default): `split` corrupted on device by `rvjax.corruptions.corrupt` with
    `table` (None: "cifar10" below 128 px, else "imagenet"); "tfds": the published CIFAR-10-C
    images, tfds `cifar10_corrupted/<name>_<severity>` from data.data_dir (CIFAR-10 runs only,
    split "test").
  seed: corruption randomness (source "device"). Cell (c, s) has key
    fold_in(fold_in(key(seed), NAMES.index(c)), s) and its batch b fold_in(cell key, b), so a
    cell's images depend on (seed, c, s, batch_size) only, not on which other cells run.
  num_bins: equal-width ECE bins.
  baseline_workdir, baseline_eval: mCE against another run (below); "" = none.

Compilation: `corrupt` is jitted once per (corruption, severity, table, batch shape) in this
module, so the compiled programs are shared by every evaluator and evaluation in a process; the
model's `predict_fn` compiles once. 95 cells cost 95 small corruption programs, no model copies.

Yields (accuracies and ECEs are fractions in [0, 1], NLL in nats):
  clean/{accuracy,ece,nll}, <c>/<s>/{accuracy,ece,nll}, <c>/{accuracy,ece} (mean over
  severities), mean/{accuracy,ece,nll}: the headline, over the cells of the evaluated BENCHMARK
  corruptions only (`rvjax.corruptions.COMMON`, the 15 of CIFAR-10-C / ImageNet-C, as that
  literature averages), and extra_mean/{accuracy,ece,nll} over the evaluated extra corruptions
  (`rvjax.corruptions.EXTRA`, the 4 held-out ones), each yielded only when such corruptions were
  evaluated. NLL is `rvjax.metrics.nll`: p(label) clipped below at `metrics.NLL_EPS` = 1e-12,
  so at most 27.6 nats per example (the report records the clip as nll_clip). With a baseline also
  <c>/ce, <c>/relative_ce, mce and relative_mce (over the evaluated benchmark corruptions,
  `rvjax.corruptions.COMMON`) and, when extra corruptions are evaluated, mce_all and
  relative_mce_all (over all evaluated ones).

mCE (Hendrycks & Dietterich, 2019), with top-1 errors E = 1 - accuracy:
  CE_c = sum_s E_{s,c} / sum_s E^base_{s,c},
  relative CE_c = sum_s (E_{s,c} - E_clean) / sum_s (E^base_{s,c} - E^base_clean),
  mCE = mean_c CE_c. Ratios (1.0 = as good as the baseline), not percent; sums run over the
  evaluated severities. A ratio with a zero denominator (a corruption that leaves the
  baseline's error unchanged, for relative CE) is NaN and left out of the means. The paper's
  baseline is AlexNet; here it is any run whose metrics.jsonl holds this evaluator's results
  under eval name `baseline_eval` (its last record with every needed cell is used). Evaluate
  both with the same names, severities, source and seed.

Numbers only: `launch.report` draws accuracy and ECE against severity from them.
"""
import functools
import itertools
import os

import jax
import numpy as np

from rvjax import corruptions, metrics, validate
from rvjax import data as data_lib
from rvjax.data import tfds_sets
from rvjax.evaluators import predictions
from rvjax.report import records as report_records

SOURCES = ("device", "tfds")
CELL_METRICS = ("accuracy", "ece", "nll")


# Each (corruption, severity) cell is its own program, compiled once and run on a few batches:
# on CPU its compilation costs far more than running it (about 1.2 s of CPU per cell, 95 cells in
# a full evaluation). LLVM's backend optimization level 0 halves that compile time; outputs differ
# from the default level by float rounding only (tests/evaluators: within 1e-5).
CPU_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}


@functools.cache
def _corrupt_fn(backend: str):
  options = CPU_COMPILER_OPTIONS if backend == "cpu" else None
  return jax.jit(lambda x, key, name, severity, table: corruptions.corrupt(
      x, name, severity, key=key, table=table), static_argnums=(2, 3, 4),
      compiler_options=options)


def _corrupt(x, key, *, name, severity, table):
  """The jitted corruption of a batch; on CPU compiled with CPU_COMPILER_OPTIONS."""
  return _corrupt_fn(jax.default_backend())(x, key, name, severity, table)


def cell_key(seed: int, name: str, severity: int) -> jax.Array:
  """The key of cell (name, severity); batch b of the cell uses fold_in(cell_key, b)."""
  key = jax.random.fold_in(jax.random.key(seed), corruptions.NAMES.index(name))
  return jax.random.fold_in(key, severity)


def default_table(image_shape) -> str:
  """The corruption table whose reference size (32 or 224 px) is closest to (H, W, C) images."""
  return "cifar10" if min(image_shape[:2]) < 128 else "imagenet"


def cell_metrics(logits: np.ndarray, labels: np.ndarray, num_bins: int = 15) -> dict:
  """accuracy, ece (fractions) and nll (nats) of (N, K) logits or log-probabilities."""
  probs = predictions.softmax(logits)
  return {"accuracy": float(metrics.accuracy(probs, labels)),
          "ece": float(metrics.ece(probs, labels, num_bins=num_bins)),
          "nll": float(metrics.nll(probs, labels))}


def _ratio(num: float, den: float) -> float:
  return num / den if den else float("nan")


def _nanmean(values) -> float:
  """Mean over the defined (non-NaN) values; NaN when none is."""
  values = [v for v in values if not np.isnan(v)]
  return float(np.mean(values)) if values else float("nan")


def corruption_errors(errors: dict, base_errors: dict) -> dict:
  """CE_c = sum_s E_{s,c} / sum_s E^base_{s,c}; errors: {c: per-severity errors in [0, 1]}."""
  return {c: _ratio(sum(e), sum(base_errors[c])) for c, e in errors.items()}


def relative_corruption_errors(errors: dict, clean_error: float, base_errors: dict,
                               base_clean_error: float) -> dict:
  """Relative CE_c = sum_s (E_{s,c} - E_clean) / sum_s (E^base_{s,c} - E^base_clean)."""
  return {c: _ratio(sum(x - clean_error for x in e),
                    sum(x - base_clean_error for x in base_errors[c]))
          for c, e in errors.items()}


def read_baseline(workdir: str, eval_name: str, names, severities) -> tuple[float, dict]:
  """(E^base_clean, {c: [E^base_{s,c} for s in severities]}) from a run's metrics.jsonl.

  Raises:
    FileNotFoundError: no metrics.jsonl. ValueError: no record holds every needed cell.
  """
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"Baseline {path} does not exist: run the corruption evaluator on "
                            "the baseline first (python -m launch.evaluate).")
  records = report_records.read_metrics(path)
  keys = [f"{eval_name}/clean/accuracy"] + [f"{eval_name}/{c}/{s}/accuracy"
                                            for c in names for s in severities]
  for record in reversed(records):
    if all(k in record for k in keys):
      err = lambda k: 1.0 - float(record[k])
      return err(keys[0]), {c: [err(f"{eval_name}/{c}/{s}/accuracy") for s in severities]
                            for c in names}
  missing = [k for k in keys if not any(k in r for r in records)]
  raise ValueError(f"No record of {path} holds all {len(keys)} cells needed for mCE (missing "
                   f"e.g. {missing[:3]}); evaluate the baseline with the same names and "
                   f"severities under eval name {eval_name!r}.")


class Evaluator:
  """Accuracy, calibration and mCE of `predict_fn` under common corruptions (module docstring).

  Args: see the module docstring; predict_fn, data and mesh as for every evaluator.
  """

  def __init__(self, predict_fn, *, data, mesh, split: str = "test", batch_size: int = 256,
               num_examples: int = 0, names=None, severities=(1, 2, 3, 4, 5),
               source: str = "device", table: str | None = None, seed: int = 0,
               num_bins: int = 15, baseline_workdir: str = "",
               baseline_eval: str = "corruption"):
    self.names = tuple(corruptions.NAMES if names is None else names)
    self.severities = tuple(int(s) for s in severities)
    for c in self.names:
      validate.check_choice(c, "corruption name", corruptions.NAMES)
    if not self.names or not self.severities or any(not 1 <= s <= 5 for s in self.severities):
      raise ValueError(f"Need >= 1 corruption and severities in 1..5; got names={self.names}, "
                       f"severities={self.severities}.")
    validate.check_choice(source, "corruption source", SOURCES)
    validate.check_positive(num_examples, "num_examples", allow_zero=True)
    if source == "tfds" and (data.name != "cifar10" or split != "test"):
      raise ValueError("source='tfds' reads CIFAR-10-C: it needs data.name='cifar10' and "
                       f"split='test', got {data.name!r} and {split!r}.")
    self.predict_fn, self.mesh, self.batch_size, self.split = predict_fn, mesh, batch_size, split
    self.source, self.seed, self.num_bins = source, seed, num_bins
    self.num_examples, self.data_dir = num_examples, data.get("data_dir") or None
    self.dataset = self._head(data_lib.load_split(data, split))
    self.table = table or default_table(self.dataset.images.shape[1:])
    self.baseline = None
    if baseline_workdir:
      self.baseline = read_baseline(baseline_workdir, baseline_eval, self.names, self.severities)

  def _head(self, ds: data_lib.Dataset) -> data_lib.Dataset:
    if not self.num_examples:
      return ds
    return data_lib.Dataset(ds.images[:self.num_examples], ds.labels[:self.num_examples],
                            ds.num_classes)

  def cell_logits(self, state, name: str, severity: int) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, K), labels (N,)) of the split under corruption `name` at `severity`."""
    if self.source == "tfds":
      ds = self._head(data_lib.load(tfds_sets.corrupted_name(name, severity), "test",
                                    data_dir=self.data_dir))
      return predictions.collect_logits(self.predict_fn, state, ds, batch_size=self.batch_size,
                                        mesh=self.mesh), ds.labels
    key, batch = cell_key(self.seed, name, severity), itertools.count()

    def fn(x, _):
      x_c = _corrupt(x, jax.random.fold_in(key, next(batch)), name=name, severity=severity,
                     table=self.table)
      return self.predict_fn(state, x_c)

    return predictions.collect(fn, self.dataset, batch_size=self.batch_size,
                               mesh=self.mesh), self.dataset.labels

  def run(self, state):
    """Yields the metrics of the module docstring."""
    clean_logits = predictions.collect_logits(self.predict_fn, state, self.dataset,
                                              batch_size=self.batch_size, mesh=self.mesh)
    clean = cell_metrics(clean_logits, self.dataset.labels, self.num_bins)
    for m, v in clean.items():
      yield f"clean/{m}", v
    cells = {}
    for c in self.names:
      cells[c] = {}
      for s in self.severities:
        cells[c][s] = cell_metrics(*self.cell_logits(state, c, s), self.num_bins)
        for m, v in cells[c][s].items():
          yield f"{c}/{s}/{m}", v
      for m in ("accuracy", "ece"):
        yield f"{c}/{m}", float(np.mean([cells[c][s][m] for s in self.severities]))
    mean = {}
    for group, members in (("mean", corruptions.COMMON), ("extra_mean", corruptions.EXTRA)):
      names = [c for c in self.names if c in members]
      if names:
        mean[group] = {m: float(np.mean([cells[c][s][m] for c in names for s in self.severities]))
                       for m in CELL_METRICS}
        for m, v in mean[group].items():
          yield f"{group}/{m}", v
    summary = self.mce(clean, cells) if self.baseline else {}
    for k, v in summary.items():
      yield k, v

  def mce(self, clean: dict, cells: dict) -> dict:
    """Per-corruption CE / relative CE and their means (module docstring), as flat metrics."""
    base_clean, base = self.baseline
    errors = {c: [1.0 - cells[c][s]["accuracy"] for s in self.severities] for c in self.names}
    ce = corruption_errors(errors, base)
    rel = relative_corruption_errors(errors, 1.0 - clean["accuracy"], base, base_clean)
    out = {**{f"{c}/ce": ce[c] for c in self.names},
           **{f"{c}/relative_ce": rel[c] for c in self.names}}
    common = [c for c in self.names if c in corruptions.COMMON]
    groups = {"": common} if len(common) == len(self.names) else {"": common, "_all": self.names}
    for suffix, names in groups.items():
      if names:
        out[f"mce{suffix}"] = _nanmean([ce[c] for c in names])
        out[f"relative_mce{suffix}"] = _nanmean([rel[c] for c in names])
    return out

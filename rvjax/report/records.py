"""A workdir's results as data: the one reader of metrics.jsonl, config.json and run provenance.

Everything that reads results (the report, the corruption evaluator's mCE baseline, resume)
goes through `read_metrics`, so a malformed file fails the same way everywhere: with the file
and line that are wrong.
"""
import dataclasses
import json
import math
import os
import platform
import tempfile
from typing import Any

import numpy as np

METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.json"
EVALS_FILE = "evals.json"  # {eval name: its config} of every eval that logged into the workdir.
SAMPLES_DIR = "samples"  # <eval name>.npz: example images an evaluator kept for the report.


def atomic_write(path: str, text: str) -> None:
  """Replaces the file `path` with `text` atomically: a temporary file beside it, then a rename."""
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
  try:
    with os.fdopen(fd, "w") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    os.unlink(tmp)
    raise


def read_metrics(path: str) -> list[dict]:
  """All records of a metrics.jsonl file (a workdir or the file's path), in file order.

  Raises:
    FileNotFoundError: no such file. ValueError: a line that is not a JSON object with an
      integer "step" (the message names the file and the line number).
  """
  if os.path.isdir(path):
    path = os.path.join(path, METRICS_FILE)
  records = []
  with open(path) as f:
    for number, line in enumerate(f, start=1):
      if not line.strip():
        continue
      try:
        record = json.loads(line)
      except json.JSONDecodeError as e:
        record = e.msg
      if not isinstance(record, dict) or not isinstance(record.get("step"), int):
        raise ValueError(f"{path}, line {number}: not a metrics record (a JSON object with an "
                         f"integer \"step\"): {line.strip()[:80]!r}. Fix or delete that line.")
      records.append(record)
  return records


def record_evals(workdir: str, evals: dict) -> None:
  """Adds `evals` ({name: eval config}) to workdir/evals.json, so the report knows the type of
  every eval whose numbers metrics.jsonl holds (also those run by `launch.evaluate` with
  another config's evals); a later config of the same name replaces the earlier one."""
  path = os.path.join(workdir, EVALS_FILE)
  known = {}
  if os.path.isfile(path):
    with open(path) as f:
      known = json.load(f)
  atomic_write(path, json.dumps({**known, **evals}, indent=2, sort_keys=True, default=str))


def samples_path(workdir: str, eval_name: str) -> str:
  return os.path.join(workdir, SAMPLES_DIR, f"{eval_name}.npz")


def write_samples(workdir: str, eval_name: str, arrays: dict) -> str:
  """Saves {title: (N, H, W, C) images in [0, 1]} of eval `eval_name` (atomically replaced)."""
  path = samples_path(workdir, eval_name)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=".samples.", suffix=".npz", dir=os.path.dirname(path))
  try:
    with os.fdopen(fd, "wb") as f:
      np.savez_compressed(f, **{k: np.asarray(v, np.float32) for k, v in arrays.items()})
    os.replace(tmp, path)
  except BaseException:
    os.unlink(tmp)
    raise
  return path


def read_samples(workdir: str, eval_name: str) -> dict:
  """{title: images} saved by `write_samples` (in saved order); {} when there are none."""
  path = samples_path(workdir, eval_name)
  if not os.path.isfile(path):
    return {}
  with np.load(path) as f:
    return {k: f[k] for k in f.files}


def latest(records: list[dict]) -> tuple[dict[str, Any], dict[str, int]]:
  """(value, step) of every key's last record: later lines win, as a re-evaluation should."""
  values, steps = {}, {}
  for r in records:
    for k, v in r.items():
      if k != "step":
        values[k], steps[k] = v, r["step"]
  return values, steps


def environment() -> dict[str, Any]:
  """Provenance of the numbers this process writes: devices and software versions."""
  import flax
  import jax
  import optax
  devices = jax.devices()
  return {"env/device_kind": devices[0].device_kind, "env/device_count": len(devices),
          "env/platform": devices[0].platform, "env/process_count": jax.process_count(),
          "env/cpu_count": os.cpu_count(), "env/python": platform.python_version(),
          "env/jax": jax.__version__, "env/flax": flax.__version__, "env/optax": optax.__version__}


@dataclasses.dataclass(frozen=True)
class Run:
  """One workdir's results: `values[key]` is the key's last value, logged at `steps[key]`."""
  workdir: str
  config: dict
  values: dict
  steps: dict

  @property
  def name(self) -> str:
    return os.path.basename(os.path.normpath(self.workdir))

  def evals_of(self, kind: str) -> list[str]:
    """Names of the config's evals of type `kind`, in config order."""
    return [n for n, e in self.config.get("evals", {}).items() if e.get("type") == kind]

  def get(self, key: str, default=None):
    value = self.values.get(key, default)
    if isinstance(value, float) and not math.isfinite(value):
      return default
    return value

  def scoped(self, prefix: str) -> dict:
    """{rest: value} of every key "prefix/rest"."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in self.values.items() if k.startswith(prefix + "/")}


def load_run(workdir: str) -> Run:
  """Reads a workdir written by `launch.train` (config.json and metrics.jsonl).

  Raises:
    FileNotFoundError: `workdir` has no config.json (not a workdir) or no metrics.jsonl.
    ValueError: a malformed config.json or metrics.jsonl (names the file).
  """
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{workdir!r} is not an rvjax workdir: {path} does not exist.")
  with open(path) as f:
    try:
      config = json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(f"{path}: not valid JSON ({e.msg}).") from None
  if not os.path.isfile(os.path.join(workdir, METRICS_FILE)):
    raise FileNotFoundError(f"{workdir!r} has no {METRICS_FILE}: train it first with "
                            "`python -m launch.train`.")
  evals_path = os.path.join(workdir, EVALS_FILE)
  if os.path.isfile(evals_path):
    with open(evals_path) as f:
      config = {**config, "evals": {**config.get("evals", {}), **json.load(f)}}
  values, steps = latest(read_metrics(workdir))
  return Run(workdir, config, values, steps)

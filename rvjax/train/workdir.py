"""A run's workdir: what it holds, and the checks that keep what a user owns from being lost.

  workdir/config.json     the resolved config, written atomically once every check has passed
  workdir/metrics.jsonl   one flat JSON record per logged step (rvjax.train.writers)
  workdir/history.jsonl   one record per run start: time, pid, step, source, allowed changes
  workdir/checkpoints/    orbax checkpoints (rvjax.train.checkpoint), verified on restore
  workdir/rvjax.lock      {"pid", "host"} of the run using the workdir, while it runs

A run first checks, writing nothing: `check_target` (not a file, not someone else's directory),
`check_source` (config.resume / config.model_init point at a run), then `check_settings`
(the fingerprint of every setting that changes the training trajectory matches the workdir's
checkpoint, or its config.json before the first checkpoint). Only then does it take the `lock`,
which creates the directory, and write. A lock whose process no longer runs on this host is
stale and taken over; a directory the failed run created and left empty is removed.
"""
import contextlib
import json
import os
import socket
import time

import jax
import ml_collections

from rvjax.train import checkpoint, writers

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.jsonl"
LOCK_FILE = "rvjax.lock"
CHECKPOINTS = "checkpoints"
MARKERS = (CONFIG_FILE, writers.METRICS_FILE, HISTORY_FILE, CHECKPOINTS, LOCK_FILE)

# Settings that do not change the trained parameters: logging, evaluation, where things are
# read from, and the resume ladder's sources (used only before the workdir's first checkpoint).
NOT_TRAJECTORY = ("evals", "progress", "log_every_steps", "eval_every_steps", "checkpoint",
                  "resume", "model_init", "fail_at_step", "data.data_dir", "mc_dropout")

# Settings added after runs were saved without them, with the value such a run had: an absent
# setting on one side equals this value on the other.
ADDED_SETTINGS = {"task": "classification", "degrade.name": "", "model.conv_impl": "xla",
                  "ensemble.shared_batch": False}


class WorkdirError(RuntimeError):
  """A workdir that cannot be used: a file, a foreign directory, in use, or other settings."""


def _entries(workdir: str) -> list[str]:
  return os.listdir(workdir) if os.path.isdir(workdir) else []


def check_target(workdir: str) -> None:
  """Checks that `workdir` is new, empty or an rvjax workdir with readable metrics (no writes).

  Raises:
    WorkdirError: a file, or a non-empty directory without any rvjax workdir file.
    ValueError: a malformed metrics.jsonl line (named by file and line number).
  """
  if not workdir:
    raise WorkdirError("--workdir is empty; pass a directory for the run.")
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise WorkdirError(f"--workdir={workdir} is a file, not a directory.")
  entries = _entries(workdir)
  if entries and not set(entries) & set(MARKERS):
    raise WorkdirError(f"--workdir={workdir} is not empty and is not an rvjax workdir (it has none "
                       f"of {', '.join(MARKERS)}); pass a new or empty directory.")
  if writers.METRICS_FILE in entries:
    writers.read_metrics(workdir)  # A malformed line raises, naming the file and line.


def check_source(path: str, setting: str) -> None:
  """Checks that `config.<setting>` = `path` is a workdir with checkpoints (no writes)."""
  if not os.path.isdir(os.path.join(path, CHECKPOINTS)):
    raise ValueError(f"config.{setting}={path}: no {CHECKPOINTS}/ directory there; pass the "
                     "--workdir of a launch.train run.")


def _flatten(tree, prefix=""):
  if isinstance(tree, dict):
    out = {}
    for k, v in tree.items():
      out.update(_flatten(v, f"{prefix}{k}."))
    return out
  return {prefix[:-1]: json.loads(json.dumps(tree, default=str))}  # Tuples become lists.


def settings(config) -> dict:
  """{"optimizer.lr": 0.003, ...}: every leaf of `config` that changes the training trajectory."""
  flat = _flatten(config.to_dict())
  return {k: v for k, v in flat.items()
          if not any(k == n or k.startswith(n + ".") for n in NOT_TRAJECTORY)}


def fingerprint(config, input_shape, num_classes: int) -> dict:
  """What a checkpoint must match to be resumed: `settings(config)`, the input shape
  (H, W, C) and the number of classes the data gave."""
  return {**settings(config), "input_shape": list(input_shape[1:]), "num_classes": num_classes}


def differences(stored: dict, now: dict) -> list[str]:
  """"key: old -> new" for every key whose value differs (absent on one side included, unless
  the other side holds the ADDED_SETTINGS value)."""
  missing = object()
  stored = {**{k: v for k, v in ADDED_SETTINGS.items() if k in now}, **stored}
  now = {**{k: v for k, v in ADDED_SETTINGS.items() if k in stored}, **now}
  text = lambda v: "(absent)" if v is missing else json.dumps(v)
  return [f"{k}: {text(stored.get(k, missing))} -> {text(now.get(k, missing))}"
          for k in sorted(set(stored) | set(now)) if stored.get(k, missing) != now.get(k, missing)]


def check_settings(workdir: str, config, fp: dict, *, allow_change: bool = False) -> list[str]:
  """Compares `fp` (of `config`) with the workdir's latest checkpoint, or the settings of
  `config` with its config.json before the first checkpoint.

  Returns the differences (allowed when `allow_change`); writes nothing.

  Raises:
    WorkdirError: settings differ and `allow_change` is False.
    checkpoint.CheckpointError: the latest checkpoint's record cannot be read.
  """
  def refuse(where, diff):
    if diff and not allow_change:
      raise WorkdirError(f"{where} was made with other settings: {'; '.join(diff)}. Use another "
                         "--workdir, restore these settings, or pass --allow_config_change to "
                         f"resume with the new ones (recorded in {HISTORY_FILE}).")
    return diff

  step, where = latest_checkpoint(workdir)
  if step is not None:
    return refuse(where, differences(_stored_fingerprint(workdir, step), fp))
  diff = []
  if os.path.isfile(os.path.join(workdir, CONFIG_FILE)):
    diff = refuse(os.path.join(workdir, CONFIG_FILE),
                  differences(settings(load_config(workdir)), settings(config)))
  if config.resume:
    check_source(config.resume, "resume")
    step, where = latest_checkpoint(config.resume)
    if step is None:
      raise ValueError(f"config.resume={config.resume}: no checkpoint in {where}.")
    diff += refuse(where, differences(_stored_fingerprint(config.resume, step), fp))
  if config.model_init:
    check_source(config.model_init, "model_init")
  return diff


def latest_checkpoint(workdir: str) -> tuple[int | None, str]:
  """(latest checkpoint step or None, its directory) of `workdir`; creates nothing."""
  ckpt_dir = os.path.join(workdir, CHECKPOINTS)
  if not os.path.isdir(ckpt_dir):
    return None, ckpt_dir
  ckpt = checkpoint.Checkpointer(ckpt_dir)
  step = ckpt.latest_step()
  ckpt.close()
  return step, ckpt_dir if step is None else os.path.join(ckpt_dir, str(step))


def _stored_fingerprint(workdir: str, step: int) -> dict:
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, CHECKPOINTS))
  try:
    return ckpt.read_meta(step).get("fingerprint") or {}
  finally:
    ckpt.close()


def write_config(config, workdir: str) -> None:
  """Writes the resolved config to workdir/config.json atomically (process 0 only)."""
  if jax.process_index() == 0:
    writers.atomic_write(os.path.join(workdir, CONFIG_FILE),
                         config.to_json_best_effort(indent=2, sort_keys=True))


def load_config(workdir: str):
  """The config a run saved in workdir/config.json, as a locked ConfigDict.

  Raises:
    FileNotFoundError: not a workdir. ValueError: config.json is not a JSON object.
  """
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{workdir!r} is not an rvjax workdir: {path} does not exist. "
                            "Pass the --workdir of a `launch.train` run.")
  try:
    with open(path) as f:
      config = ml_collections.ConfigDict(json.load(f))
  except (json.JSONDecodeError, TypeError, ValueError) as e:
    raise ValueError(f"{path} is not a valid rvjax config ({e}).") from e
  config.lock()
  return config


def append_history(workdir: str, record: dict) -> None:
  """Appends {"time", "pid", **record} as one line to workdir/history.jsonl (process 0 only)."""
  if jax.process_index() == 0:
    line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "pid": os.getpid(),
                       **record}) + "\n"
    with open(os.path.join(workdir, HISTORY_FILE), "a") as f:
      f.write(line)


def _holder_alive(holder: dict) -> bool:
  if holder.get("host") != socket.gethostname():
    return True  # Cannot check a process on another host.
  try:
    os.kill(int(holder["pid"]), 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def _take_lock(path: str) -> None:
  record = json.dumps({"pid": os.getpid(), "host": socket.gethostname()})
  tmp = f"{path}.{os.getpid()}.tmp"
  with open(tmp, "w") as f:
    f.write(record)
  try:
    for _ in range(2):
      try:
        os.link(tmp, path)  # Atomic: fails when the lock exists, never half-written.
        return
      except FileExistsError:
        try:
          with open(path) as f:
            holder = json.load(f)
        except FileNotFoundError:
          continue  # Released meanwhile.
        except (json.JSONDecodeError, ValueError) as e:
          raise WorkdirError(f"Unreadable lock file {path}; delete it if no run uses this "
                             "workdir.") from e
        if _holder_alive(holder):
          raise WorkdirError(f"The workdir is in use by process {holder.get('pid')} on "
                             f"{holder.get('host')} (lock file {path}); wait for that run, or "
                             "delete the lock file if it no longer runs.") from None
        os.remove(path)  # Stale: its process is gone.
    raise WorkdirError(f"Could not take the lock {path}; another run is starting there.")
  finally:
    os.remove(tmp)


@contextlib.contextmanager
def lock(workdir: str):
  """Holds workdir/rvjax.lock for the body (process 0; creates the directory).

  On exit the lock is released, and a directory this call created is removed if the body left
  it empty (a run that failed before writing anything leaves nothing behind).

  Raises:
    WorkdirError: another live process holds the lock.
  """
  if jax.process_index() != 0:
    yield
    return
  created = not os.path.exists(workdir)
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, LOCK_FILE)
  try:
    _take_lock(path)
  except BaseException:
    if created:
      os.rmdir(workdir)
    raise
  try:
    yield
  finally:
    os.remove(path)
    for sub in (os.path.join(workdir, CHECKPOINTS), workdir):
      if created and os.path.isdir(sub) and not os.listdir(sub):
        os.rmdir(sub)

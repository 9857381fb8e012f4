"""Nothing a user owns is lost: checks before writes, verified checkpoints, settings, the lock."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from configs import digits_cnn
from rvjax.train import checkpoint, loop, workdir as workdir_lib, writers

pytestmark = pytest.mark.usefixtures("fast_compile")


def tiny(**overrides):
  config = digits_cnn.get_config("tiny")
  with config.unlocked():
    config.total_steps = 2
    for key, value in overrides.items():
      *parents, leaf = key.split(".")
      target = config
      for p in parents:
        target = target[p]
      target[leaf] = value
  return config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """A finished 2-step run with one checkpoint (step 2)."""
  workdir = str(tmp_path_factory.mktemp("run") / "w")
  return workdir, loop.train_and_evaluate(tiny(), workdir)


def snapshot(workdir):
  """{relative path: bytes} of every file under `workdir`."""
  out = {}
  for path in glob.glob(f"{workdir}/**", recursive=True):
    if os.path.isfile(path):
      out[os.path.relpath(path, workdir)] = open(path, "rb").read()
  return out


def copy(run, tmp_path):
  return shutil.copytree(run[0], str(tmp_path / "w"))


def test_flipped_bytes_in_the_array_files_are_refused(run, tmp_path):
  # 64 flipped bytes in the middle of every array data file of the latest checkpoint (flipping
  # only the largest file can land in bytes OCDBT never reads back: that case proves nothing).
  workdir = copy(run, tmp_path)
  latest = max(int(d) for d in os.listdir(f"{workdir}/checkpoints") if d.isdigit())
  files = glob.glob(f"{workdir}/checkpoints/{latest}/state/**/d/*", recursive=True)
  assert files
  for path in files:
    data = bytearray(open(path, "rb").read())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
    open(path, "wb").write(bytes(data))
  before = snapshot(workdir)
  refused = "differ from their saved checksums|corrupt"  # Array bytes or the files around them.
  with pytest.raises(checkpoint.CheckpointError, match=refused):
    loop.train_and_evaluate(tiny(), workdir)
  with pytest.raises(checkpoint.CheckpointError, match=refused):
    loop.evaluate_workdir(workdir)
  assert snapshot(workdir) == before  # Refused before writing anything.


def test_checksums_cover_every_array_and_change_with_one_value(run):
  meta = checkpoint.Checkpointer(f"{run[0]}/checkpoints").read_meta()
  assert "params/conv1/kernel" in meta["checksums"] and "step" in meta["checksums"]
  tree = {"a": np.zeros(3, np.float32), "b": {"c": np.arange(4)}}
  sums = checkpoint.checksums(tree)
  assert set(sums) == {"a", "b/c"}
  tree["a"][1] = 1e-30
  assert checkpoint.checksums(tree)["a"] != sums["a"]
  with pytest.raises(checkpoint.CheckpointError, match=r"1 of 2 arrays .*\(a\)"):
    checkpoint.verify_checksums(tree, sums, "here")


@pytest.mark.parametrize("overrides, difference", [
    ({"seed": 1}, "seed: 0 -> 1"),
    ({"optimizer.lr": 0.05}, "optimizer.lr: 0.003 -> 0.05"),
    ({"objective.kwargs": {"label_smoothing": 0.1}}, "objective.kwargs.label_smoothing: "
                                                     '(absent) -> 0.1'),
    ({"optimizer.name": "sgd"}, 'optimizer.name: "adam" -> "sgd"'),
    ({"total_steps": 4}, "total_steps: 2 -> 4"),
    ({"augment": "flip"}, 'augment: "" -> "flip"'),
    ({"batch_size": 16}, "batch_size: 32 -> 16"),
    ({"schedule.warmup_steps": 0}, "schedule.warmup_steps: 1 -> 0"),
    ({"data.kwargs.image_size": 16}, "input_shape: [8, 8, 1] -> [16, 16, 1]"),
])
def test_changed_trajectory_setting_is_refused_and_nothing_written(run, tmp_path, overrides,
                                                                   difference):
  workdir = copy(run, tmp_path)
  before = snapshot(workdir)
  with pytest.raises(workdir_lib.WorkdirError, match="other settings: .*" + re.escape(difference)):
    loop.train_and_evaluate(tiny(**overrides), workdir)
  assert snapshot(workdir) == before


def test_allowed_change_is_recorded_and_logging_changes_pass(run, tmp_path):
  workdir = copy(run, tmp_path)
  # Logging and evaluation settings do not change the trajectory: not in the fingerprint.
  fp = workdir_lib.fingerprint(tiny(log_every_steps=1, progress=True, eval_every_steps=1),
                               (32, 8, 8, 1), 10)
  assert workdir_lib.differences(fp, workdir_lib.fingerprint(tiny(), (32, 8, 8, 1), 10)) == []
  summary = loop.train_and_evaluate(tiny(**{"optimizer.lr": 0.05}), workdir,
                                    allow_config_change=True)
  assert summary["source"].startswith("resumed")
  history = [json.loads(line) for line in open(os.path.join(workdir, "history.jsonl"))]
  assert history[-1]["config_changes"] == ["optimizer.lr: 0.003 -> 0.05"]
  assert json.load(open(os.path.join(workdir, "config.json")))["optimizer"]["lr"] == 0.05


def test_invalid_config_leaves_an_existing_run_untouched(run, tmp_path):
  workdir = copy(run, tmp_path)
  before = snapshot(workdir)
  with pytest.raises(ValueError, match="optimizer.lr must be > 0"):
    loop.train_and_evaluate(tiny(**{"optimizer.lr": -1.0}), workdir)
  with pytest.raises(checkpoint.CheckpointError, match="cannot be restored"):
    loop.train_and_evaluate(tiny(**{"model.kwargs": {"widths": (4, 16)}}), workdir,
                            allow_config_change=True)  # Allowed, but the shapes do not fit.
  assert snapshot(workdir) == before


def test_foreign_directory_and_file_are_refused(tmp_path):
  foreign = tmp_path / "photos"
  foreign.mkdir()
  (foreign / "notes.txt").write_text("mine")
  with pytest.raises(workdir_lib.WorkdirError, match="not empty and is not an rvjax workdir"):
    loop.train_and_evaluate(tiny(), str(foreign))
  assert os.listdir(foreign) == ["notes.txt"]
  (tmp_path / "file").write_text("mine")
  with pytest.raises(workdir_lib.WorkdirError, match="is a file"):
    loop.train_and_evaluate(tiny(), str(tmp_path / "file"))


@pytest.mark.parametrize("setting", ["resume", "model_init"])
def test_missing_source_creates_no_directory(tmp_path, setting):
  with pytest.raises(ValueError, match=f"config.{setting}=.*typo: no checkpoints/"):
    loop.train_and_evaluate(tiny(**{setting: str(tmp_path / "typo")}), str(tmp_path / "w"))
  assert os.listdir(tmp_path) == []


def test_lock_refuses_a_live_holder_and_takes_over_a_stale_one(tmp_path):
  workdir = str(tmp_path / "w")
  with workdir_lib.lock(workdir):
    assert json.load(open(f"{workdir}/rvjax.lock"))["pid"] == os.getpid()
    with pytest.raises(workdir_lib.WorkdirError, match=f"in use by process {os.getpid()}"):
      with workdir_lib.lock(workdir):
        pass
    open(f"{workdir}/config.json", "w").write("{}")
  assert sorted(os.listdir(workdir)) == ["config.json"]  # Released.
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  holder = {"pid": dead.pid, "host": workdir_lib.socket.gethostname()}
  open(f"{workdir}/rvjax.lock", "w").write(json.dumps(holder))
  with workdir_lib.lock(workdir):  # Its process is gone: stale, taken over.
    assert json.load(open(f"{workdir}/rvjax.lock"))["pid"] == os.getpid()


def test_lock_removes_the_directory_a_failed_run_created(tmp_path):
  with pytest.raises(RuntimeError, match="boom"):
    with workdir_lib.lock(str(tmp_path / "new")):
      raise RuntimeError("boom")
  assert os.listdir(tmp_path) == []


def test_malformed_metrics_line_names_file_and_line(run, tmp_path):
  workdir = copy(run, tmp_path)
  path = os.path.join(workdir, "metrics.jsonl")
  lines = open(path).read().splitlines()
  lines[1] = lines[1][:-5]  # Cut inside the JSON object.
  open(path, "w").write("\n".join(lines) + "\n")
  with pytest.raises(ValueError, match=r"metrics.jsonl, line 2: not a metrics record"):
    loop.train_and_evaluate(tiny(), workdir)


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
  path = tmp_path / "config.json"
  path.write_text("old")
  writers.atomic_write(str(path), "new")
  assert path.read_text() == "new"

  def fail(*_):
    raise OSError("disk full")
  monkeypatch.setattr(writers.os, "replace", fail)
  with pytest.raises(OSError, match="disk full"):
    writers.atomic_write(str(path), "newer")
  assert path.read_text() == "new" and os.listdir(tmp_path) == ["config.json"]


def test_nan_stop_before_any_checkpoint_says_so(tmp_path):
  config = tiny(**{"total_steps": 6, "optimizer.name": "sgd", "optimizer.lr": 0.1,
                   "schedule.name": "piecewise", "schedule.warmup_steps": 0,
                   "schedule.boundaries": (0.3,), "schedule.factors": (1e30,),
                   "checkpoint.every_steps": 0})
  with pytest.raises(FloatingPointError, match="No checkpoint had been saved yet") as err:
    loop.train_and_evaluate(config, str(tmp_path / "w"))
  assert "None" not in str(err.value)


def test_loss_at_chance_after_warm_up_warns(tmp_path):
  assert loop.at_chance(2.30, 10) and loop.at_chance([2.4, 2.3], 10)
  assert not loop.at_chance(2.0, 10) and not loop.at_chance(0.5, 2)
  # Adam at lr 1e6 (issue 7): ends at chance; the warning comes one epoch (44 steps) after warm-up.
  config = tiny(**{"total_steps": 45, "optimizer.lr": 1e6, "log_every_steps": 45})
  with pytest.warns(RuntimeWarning, match=r"step 45, after the warm-up, is no better than chance"):
    loop.train_and_evaluate(config, str(tmp_path / "w"))


def test_settings_added_later_match_runs_saved_without_them():
  old = {"optimizer.lr": 0.1}  # A checkpoint from before config.task / config.degrade existed.
  assert workdir_lib.differences(old, {**old, "task": "classification", "degrade.name": ""}) == []
  assert workdir_lib.differences(old, {**old, "task": "paired"}) == [
      'task: "classification" -> "paired"']
  assert workdir_lib.differences({**old, "degrade.name": "m.noise"}, old) == [
      'degrade.name: "m.noise" -> ""']

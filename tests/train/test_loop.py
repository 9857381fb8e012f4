"""End-to-end training on the tiny digits config: workdir, resume, failures, bad checkpoints."""
import glob
import json
import os

import jax
import numpy as np
import pytest

from configs import digits_cnn
from rvjax.train import checkpoint, loop, writers, workdir as workdir_lib

pytestmark = pytest.mark.usefixtures("fast_compile")


def tiny(**overrides):
  config = digits_cnn.get_config("tiny")
  with config.unlocked():
    for key, value in overrides.items():
      target = config
      *parents, leaf = key.split(".")
      for p in parents:
        target = target[p]
      target[leaf] = value
  return config


def final_params(workdir):
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"))
  raw = ckpt._manager.restore(ckpt.latest_step(),
                              args=checkpoint.ocp.args.Composite(
                                  state=checkpoint.ocp.args.StandardRestore())).state
  return raw["params"]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("ref"))
  summary = loop.train_and_evaluate(tiny(), workdir)
  return workdir, summary


def test_workdir_contents(reference_run):
  workdir, summary = reference_run
  assert summary["steps"] == 6 and summary["source"] == "scratch"
  assert 0.0 <= summary["test/accuracy"] <= 1.0
  assert json.load(open(os.path.join(workdir, "config.json")))["model"]["name"] == "cnn_tiny"
  assert sorted(int(os.path.basename(p)) for p in glob.glob(f"{workdir}/checkpoints/[0-9]*")) \
      == [2, 4, 6]  # every 2 steps, keep 3.
  records = writers.read_metrics(workdir)
  keys = set().union(*records)
  for k in ("train/loss", "train/accuracy", "train/grad_norm", "train/param_norm",
            "train/update_norm", "train/lr/all", "test/accuracy", "test/loss", "val/accuracy"):
    assert k in keys, k
  assert glob.glob(f"{workdir}/tensorboard/events.out.tfevents.*")


def test_crash_then_resume_is_bit_identical(reference_run, tmp_path):
  ref_dir, ref_summary = reference_run
  workdir = str(tmp_path)
  with pytest.raises(loop.InjectedFailure):
    loop.train_and_evaluate(tiny(fail_at_step=3), workdir)
  assert checkpoint.Checkpointer(f"{workdir}/checkpoints").latest_step() == 2
  summary = loop.train_and_evaluate(tiny(), workdir)
  assert summary["source"].startswith("resumed")
  jax.tree.map(np.testing.assert_array_equal, final_params(workdir), final_params(ref_dir))
  assert summary["test/accuracy"] == ref_summary["test/accuracy"]
  steps = [r["step"] for r in writers.read_metrics(workdir) if "train/loss" in r]
  assert steps == sorted(set(steps))  # nothing logged twice after the resume


def test_rerun_of_finished_run_only_evaluates(reference_run):
  workdir, summary = reference_run
  again = loop.train_and_evaluate(tiny(), workdir)
  assert again["source"].startswith("resumed") and again["test/accuracy"] == summary["test/accuracy"]


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  # The lr jumps to 1e30 after half the run: the first steps are fine, then the loss overflows.
  config = tiny(**{"optimizer.name": "sgd", "optimizer.lr": 0.1, "schedule.name": "piecewise",
                   "schedule.warmup_steps": 0, "schedule.boundaries": (0.5,),
                   "schedule.factors": (1e30,)})
  with pytest.raises(FloatingPointError, match=r"Non-finite.*last good checkpoint \(step [24]\)"):
    loop.train_and_evaluate(config, str(tmp_path))
  params = final_params(str(tmp_path))
  assert all(np.isfinite(p).all() for p in jax.tree.leaves(params))


def _copy_run(src, dst):
  import shutil
  shutil.copytree(src, dst)
  return str(dst)


def test_truncated_checkpoint_is_refused(reference_run, tmp_path):
  workdir = _copy_run(reference_run[0], tmp_path / "w")
  arrays = [p for p in glob.glob(f"{workdir}/checkpoints/6/state/**", recursive=True)
            if os.path.isfile(p) and "/d/" in p]
  for path in arrays:
    with open(path, "r+b") as f:
      f.truncate(max(os.path.getsize(path) // 2, 1))
  with pytest.raises(checkpoint.CheckpointError, match="refusing to start from scratch"):
    loop.train_and_evaluate(tiny(), workdir)


def test_checkpoint_of_another_model_is_refused(reference_run, tmp_path):
  workdir = _copy_run(reference_run[0], tmp_path / "w")
  with pytest.raises(workdir_lib.WorkdirError,
                     match='other settings: model.name: "cnn_tiny" -> "cnn"'):
    loop.train_and_evaluate(tiny(**{"model.name": "cnn"}), workdir)


def test_checkpoint_with_other_shapes_is_refused(reference_run, tmp_path):
  workdir = _copy_run(reference_run[0], tmp_path / "w")
  # Same fingerprint, other widths: the restore itself must refuse the shapes.
  meta_path = glob.glob(f"{workdir}/checkpoints/6/meta/metadata")[0]
  config = tiny(**{"model.kwargs": {"widths": (4, 16)}})
  meta = json.load(open(meta_path))
  meta["fingerprint"]["model.kwargs.widths"] = [4, 16]
  json.dump(meta, open(meta_path, "w"))
  with pytest.raises(checkpoint.CheckpointError, match="cannot be restored|other shapes"):
    loop.train_and_evaluate(config, workdir)


def test_evaluate_workdir_matches_training(reference_run):
  workdir, summary = reference_run
  results = loop.evaluate_workdir(workdir)
  assert results["test/accuracy"] == summary["test/accuracy"]


def test_evaluate_bad_workdir(tmp_path):
  with pytest.raises(FileNotFoundError, match="not an rvjax workdir"):
    loop.evaluate_workdir(str(tmp_path))


@pytest.mark.parametrize("overrides, match", [
    ({"batch_size": 4096}, "larger than the dataset"),
    ({"total_steps": 0, "num_epochs": 0}, "at least 1"),
    ({"optimizer.lr": -0.1}, "optimizer.lr must be > 0"),
    ({"model.name": "resnet99"}, "resnet20"),
    ({"data.name": "imagenet"}, "digits"),
    ({"data.name": "mnist"}, "tfds dataset 'mnist' takes no options"),  # image_size is digits'.
    ({"log_every_steps": 0}, "config.log_every_steps must be > 0"),
    ({"checkpoint.keep": 0}, "config.checkpoint.keep must be > 0"),
])
def test_bad_config_values(tmp_path, overrides, match):
  with pytest.raises(ValueError, match=match):
    loop.train_and_evaluate(tiny(**overrides), str(tmp_path / "w"))
  assert os.listdir(tmp_path) == []  # No directory created on the way to the error.


def test_model_init_loads_params_only(reference_run, tmp_path):
  config = tiny(model_init=reference_run[0], total_steps=2)
  summary = loop.train_and_evaluate(config, str(tmp_path))
  assert summary["source"].startswith("params from config.model_init")

"""`python -m launch.train --config=configs/<file>.py:tiny` for every config file in configs/.

Each run must train, evaluate, print the report's headline, and leave the provenance record
(`run/config` as typed, `env/*`) and the report in its workdir. tfds configs run in-process on
`tfds.testing.mock_data` (a subprocess cannot see the mock).
"""
import glob
import importlib
import json
import math
import os
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

from rvjax import data as data_lib
from rvjax.train import loop, writers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "configs", "*.py")))
# Configs holding only evals, for `launch.evaluate` (tests/evaluators/test_corruption_configs.py
# runs them); nothing to train.
EVALS_ONLY = ("shift_evals",)
TRAIN_CONFIGS = [n for n in FILES if n not in EVALS_ONLY
                 and hasattr(importlib.import_module(f"configs.{n}"), "get_config")]
# Config args other than "tiny": source-initialized syn2real rows need a pretrained source file
# (benchmarks/syn2real_table.py makes them), so the test trains the from-scratch row.
ARGS = {"syn2real_digits": "tiny,row=scratch"}
# Low-light configs read a folder made by `launch.prepare_lowlight` (prepared once below).
LOWLIGHT = ("lowlight_zerodce", "lowlight_enlightengan")


@pytest.fixture(scope="session")
def lowlight_dir(tmp_path_factory):
  from rvjax.data import lowlight
  out = str(tmp_path_factory.mktemp("lowlight") / "set")
  lowlight.prepare(out, limit=8)
  return out


def _arg(name, request):
  if name in LOWLIGHT:
    return f"tiny,data={request.getfixturevalue('lowlight_dir')}"
  return ARGS.get(name, "tiny")


def _tiny(name, arg):
  return importlib.import_module(f"configs.{name}").get_config(arg)


def _check_workdir(workdir, flag, steps):
  records = writers.read_metrics(workdir)
  last = records[-1]
  assert last["run/config"] == flag and last["env/jax"] == jax.__version__
  assert last["env/device_count"] == jax.device_count() and last["step"] == steps
  losses = [r["train/loss"] for r in records if "train/loss" in r]
  assert losses and all(math.isfinite(v) for v in np.ravel(losses))
  report = json.load(open(os.path.join(workdir, "report", "report.json")))
  assert report["runs"][0]["provenance"]["config"] == flag


def test_every_config_file_is_covered():
  assert {"digits_cnn", "digits_ensemble", "digits_adversarial"} <= set(TRAIN_CONFIGS)
  assert set(FILES) - set(TRAIN_CONFIGS) <= {"__init__", "common", "image_tasks", *EVALS_ONLY}
  for name in EVALS_ONLY:  # Left out above only while it really has no model to train.
    config = importlib.import_module(f"configs.{name}").get_config("tiny")
    assert "model" not in config and config.evals


@pytest.mark.parametrize("name", TRAIN_CONFIGS)
def test_launch_train_tiny(name, tmp_path, request):
  arg = _arg(name, request)
  config = _tiny(name, arg)
  flag = f"configs/{name}.py:{arg}"
  workdir = str(tmp_path / "w")
  if config.data.name in data_lib.TFDS_NAMES:
    tfds = pytest.importorskip("tensorflow_datasets")
    request.getfixturevalue("fast_compile")  # As the subprocesses: XLA optimizations off.
    with config.unlocked():
      config.data.data_dir = str(tmp_path / "tfds")
    with tfds.testing.mock_data(num_examples=20):
      summary = loop.train_and_evaluate(config, workdir, config_path=flag)
    _check_workdir(workdir, flag, summary["steps"])
    return
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_DISABLE_MOST_OPTIMIZATIONS": "1"}
  result = subprocess.run([sys.executable, "-m", "launch.train", f"--config={flag}",
                           f"--workdir={workdir}"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  head, numbers, path = result.stdout.strip().splitlines()[-3:]
  steps = int(re.match(r"rvjax: (\d+) steps \(scratch\) in [\d.]+ s$", head).group(1))
  assert steps == config.total_steps and re.search(r"(accuracy|PSNR) [\d.]+", numbers), numbers
  assert path == f"  report: {os.path.join(workdir, 'report', 'report.md')}"
  _check_workdir(workdir, flag, steps)

"""Command-line config handling: overrides, locked keys, strict config args."""
import json
import os
import subprocess
import sys

import pytest

from configs import common, digits_cnn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_train(workdir, *flags):
  return subprocess.run(
      [sys.executable, "-m", "launch.train", "--config=configs/digits_cnn.py:tiny",
       f"--workdir={workdir}", *flags], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("flag, message", [
    ("--config.optimizer.nope=1", "unknown config key 'nope'"),
    ("--config.batch_size=abc", "invalid literal for int"),
])
def test_bad_override_fails_before_compute(tmp_path, flag, message):
  result = run_train(tmp_path / "w", flag)
  assert result.returncode != 0
  assert message in result.stderr
  assert not (tmp_path / "w").exists()  # Nothing ran.


def test_override_reaches_saved_config(tmp_path):
  result = run_train(tmp_path, "--config.optimizer.lr=0.05", "--config.total_steps=2")
  assert result.returncode == 0, result.stderr[-2000:]
  config = json.load(open(tmp_path / "config.json"))
  assert config["optimizer"]["lr"] == 0.05 and config["total_steps"] == 2
  assert json.loads(result.stdout)["steps"] == 2


def test_unknown_config_arg_fails():
  with pytest.raises(ValueError, match="Unknown config arg 'huge'"):
    digits_cnn.get_config("huge")


def test_config_arg_types():
  assert common.parse_arg("tiny,n=3", tiny=False, n=1).n == 3
  assert common.parse_arg("tiny", tiny=False).tiny is True
  with pytest.raises(ValueError, match="must be int"):
    common.parse_arg("n=x", n=1)


def test_locked_config_rejects_new_keys():
  config = digits_cnn.get_config()
  with pytest.raises(AttributeError):
    config.optimizer.nope = 1

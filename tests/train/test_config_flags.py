"""Command-line config handling: overrides, locked keys, strict config args."""
import json
import os
import re
import subprocess
import sys

import pytest

from configs import common, digits_cnn

pytestmark = pytest.mark.usefixtures("fast_compile")

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


@pytest.mark.parametrize("config_flag, flag, message", [
    # A typo in the config path on an existing run: config.json stays as it was (issue 7).
    ("--config=configs/digits_cnn.pyy:tiny", "--config.seed=0",
     "rvjax: cannot load --config: .*No such file or directory: 'configs/digits_cnn.pyy'"),
    ("--config=configs/digits_cnn.py:tiny", "--config.seed.x=1",
     r"rvjax: bad override --config.seed.x=1: Attribute <class 'int'>.x does not exist"),
    ("--config=configs/digits_cnn.py:tiny", "--config.log_every_steps=0",
     "rvjax: ValueError: config.log_every_steps must be > 0, got 0."),
    # A bad config argument raises inside get_config: ml_collections' traceback is dropped.
    ("--config=configs/digits_cnn.py:tiny=maybe", "--config.seed=0",
     r"rvjax: flag --config=configs/digits_cnn.py:tiny=maybe: .*ValueError: Config arg 'tiny' "
     r"is a bool; got 'maybe'\.$"),
])
def test_cli_errors_are_one_line_and_write_nothing(tmp_path, config_flag, flag, message):
  (tmp_path / "config.json").write_text('{"seed": 0}')
  result = subprocess.run(
      [sys.executable, "-m", "launch.train", config_flag, f"--workdir={tmp_path}", flag],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  lines = [line for line in result.stderr.splitlines() if line.startswith("rvjax:")]
  assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
  assert len(lines) == 1 and re.match(message, lines[0]), result.stderr[-2000:]
  assert os.listdir(tmp_path) == ["config.json"]
  assert (tmp_path / "config.json").read_text() == '{"seed": 0}'


def test_override_reaches_saved_config(tmp_path):
  result = run_train(tmp_path, "--config.optimizer.lr=0.05", "--config.total_steps=2", "--json")
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

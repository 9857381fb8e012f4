"""Sweeps: the hyper combinators, the per-run commands, and the Slurm array script."""
import os
import subprocess
import sys

import pytest

from launch import hyper, sweep

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_combinators():
  runs = hyper.product([hyper.sweep("seed", [0, 1]), hyper.sweep("optimizer.lr", [0.1, 0.2]),
                        hyper.fixed("batch_size", 8)])
  assert runs == [{"seed": s, "optimizer.lr": lr, "batch_size": 8}
                  for s in (0, 1) for lr in (0.1, 0.2)]
  assert hyper.zipit([hyper.sweep("a", [1, 2]), hyper.sweep("b", [3, 4])]) == [
      {"a": 1, "b": 3}, {"a": 2, "b": 4}]
  assert hyper.chainit([hyper.sweep("a", [1]), hyper.sweep("b", [2])]) == [{"a": 1}, {"b": 2}]
  with pytest.raises(ValueError, match="one length"):
    hyper.zipit([hyper.sweep("a", [1, 2]), hyper.sweep("b", [3])])
  with pytest.raises(ValueError, match=r"\['a'\] set twice"):
    hyper.product([hyper.sweep("a", [1]), hyper.sweep("a", [2])])


def test_commands_and_slurm_script(tmp_path, monkeypatch):
  monkeypatch.chdir(ROOT)
  cmds = sweep.commands("configs/digits_cnn.py:tiny", str(tmp_path))
  assert [w for w, _ in cmds] == [str(tmp_path / f"00{i}_seed={i}") for i in range(5)]
  assert cmds[3][1] == ["-m", "launch.train", "--config=configs/digits_cnn.py:tiny",
                        f"--workdir={tmp_path}/003_seed=3", "--config.seed=3"]
  script = sweep.slurm_script(cmds, str(tmp_path), "--gres=gpu:1")
  assert "#SBATCH --array=0-4" in script and "#SBATCH --gres=gpu:1" in script
  assert '"$((SLURM_ARRAY_TASK_ID + 1))p"' in script  # sed lines count from 1, tasks from 0.


def test_seeds_cross_any_config(tmp_path, monkeypatch):
  monkeypatch.chdir(ROOT)
  cmds = sweep.commands("configs/digits_sngp.py:tiny,shift", str(tmp_path), seeds=3)
  assert [a[-1] for _, a in cmds] == [f"--config.seed={i}" for i in range(3)]
  assert all(a[2] == "--config=configs/digits_sngp.py:tiny,shift" for _, a in cmds)
  with pytest.raises(ValueError, match="defines no get_sweep.*--seeds=N"):
    sweep.commands("configs/digits_sngp.py:tiny", str(tmp_path))
  with pytest.raises(ValueError, match=r"\['seed'\] set twice"):  # digits_cnn sweeps seeds itself.
    sweep.commands("configs/digits_cnn.py:tiny", str(tmp_path), seeds=2)
  with pytest.raises(ValueError, match="--seeds must be >= 0"):
    sweep.commands("configs/digits_sngp.py:tiny", str(tmp_path), seeds=-1)


def test_bad_sweep_key_fails_before_writing(tmp_path, monkeypatch):
  monkeypatch.chdir(ROOT)
  bad = tmp_path / "bad_config.py"
  bad.write_text("from configs import digits_cnn\nget_config = digits_cnn.get_config\n"
                 "def get_sweep(hyper):\n  return hyper.sweep('optimizer.lrr', [1])\n")
  root = tmp_path / "root"
  out = subprocess.run([sys.executable, "-m", "launch.sweep", f"--config={bad}",
                        f"--root={root}"], capture_output=True, text=True, cwd=ROOT)
  assert out.returncode != 0 and "sets 'optimizer.lrr', which the config does not have" in out.stderr
  assert not root.exists()

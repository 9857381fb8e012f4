"""What launch.train records as a run's config for the report."""
from launch import cli


def test_config_record_keeps_overrides_in_order():
  argv = ["launch/train.py", "--config=configs/c.py:tiny", "--config.total_steps=30",
          "--workdir=/tmp/w", "--config.optimizer.lr", "0.1", "--config.progress=False"]
  assert cli.config_record("configs/c.py:tiny", argv) == (
      "configs/c.py:tiny --config.total_steps=30 --config.optimizer.lr=0.1 "
      "--config.progress=False")
  assert cli.config_record("configs/c.py", ["x", "--config=configs/c.py"]) == "configs/c.py"
  # launch.sweep's seeds differ only in --config.seed: one config for the report's seed group.
  assert cli.config_record("c.py", ["x", "--config.seed=3", "--config.lr=1"]) == "c.py --config.lr=1"
  assert cli.config_record(None, argv) is None

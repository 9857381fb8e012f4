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


def test_setup_host_memory_follows_the_flag(monkeypatch):
  """--keep_freed_memory (default on) calls host_memory.keep_freed_memory; false skips it."""
  from absl import flags
  from absl.testing import flagsaver

  from rvjax import host_memory
  calls = []
  monkeypatch.setattr(host_memory, "keep_freed_memory", lambda: calls.append(1) or True)
  assert flags.FLAGS["keep_freed_memory"].default is True
  parsed = flags.FLAGS.is_parsed()
  flags.FLAGS.mark_as_parsed()
  try:
    with flagsaver.flagsaver(keep_freed_memory=True):
      cli.setup_host_memory()
    assert len(calls) == 1
    with flagsaver.flagsaver(keep_freed_memory=False):
      cli.setup_host_memory()
    assert len(calls) == 1
  finally:
    if not parsed:
      flags.FLAGS.unparse_flags()

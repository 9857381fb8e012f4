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


def test_setup_host_memory_follows_the_flag_and_the_config(monkeypatch):
  """--keep_freed_memory (default on) calls host_memory.keep_freed_memory, with one arena unless
  the config trains an ensemble; false skips it."""
  import ml_collections
  from absl import flags
  from absl.testing import flagsaver

  from rvjax import host_memory
  calls = []
  monkeypatch.setattr(host_memory, "keep_freed_memory",
                      lambda one_arena=True: calls.append(one_arena) or True)
  assert flags.FLAGS["keep_freed_memory"].default is True
  ensemble = lambda size: ml_collections.ConfigDict({"ensemble": {"size": size}})
  parsed = flags.FLAGS.is_parsed()
  flags.FLAGS.mark_as_parsed()
  try:
    with flagsaver.flagsaver(keep_freed_memory=True):
      for config in (None, ml_collections.ConfigDict(), ml_collections.ConfigDict(
          {"ensemble": 4}), ensemble(1), ensemble(4)):  # a malformed one is refused later
        cli.setup_host_memory(config)
    assert calls == [True, True, True, True, False]
    with flagsaver.flagsaver(keep_freed_memory=False):
      cli.setup_host_memory(ensemble(4))
    assert len(calls) == 5
  finally:
    if not parsed:
      flags.FLAGS.unparse_flags()

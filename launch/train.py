r"""Trains and evaluates one config into a workdir; rerunning the same command resumes.

  python -m launch.train --config=configs/digits_cnn.py --workdir=/tmp/rvjax_digits \
      [--config.optimizer.lr=0.01] [--config=configs/digits_cnn.py:tiny]

Multi-host GPU/TPU: run the same command on every host with --multihost; it calls
`jax.distributed.initialize()` (which reads the coordinator address, process count and id from
the cluster environment: SLURM, TPU pods, or JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES /
JAX_PROCESS_ID). Each host then loads its own slice of every batch; the batch is split over all
devices of all hosts on the mesh's "data" axis, and process 0 writes the logs and checkpoints
(orbax coordinates multi-host checkpoint writes).
"""
import json
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from launch import cli

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and reports.")
_MULTIHOST = flags.DEFINE_bool("multihost", False, "Call jax.distributed.initialize() first.")
_ALLOW_CHANGE = flags.DEFINE_bool(
    "allow_config_change", False, "Resume a workdir although settings that change the training "
    "trajectory differ from its checkpoint's; the change is recorded in workdir/history.jsonl.")
_JSON = flags.DEFINE_bool("json", False, "Print the run's whole summary as JSON (every eval "
                          "number) instead of the report's headline.")
flags.mark_flags_as_required(["config", "workdir"])


def headline(summary: dict) -> str:
  """A few lines: steps, wall time, the report's headline numbers and the report's path."""
  lines = [f"rvjax: {summary['steps']} steps ({summary['source']}) in "
           f"{summary['wall_time_s']:.1f} s"]
  path = summary.get("report")
  if path:
    with open(os.path.join(os.path.dirname(path), "report.json")) as f:
      numbers = json.load(f)["runs"][0]["headline"]
    shown = [f"{k} {v:.4g}" for k, v in numbers.items() if isinstance(v, (int, float))]
    lines += ["  " + ", ".join(shown or ["(no headline numbers: see the report)"]),
              f"  report: {path}"]
  return "\n".join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  config = cli.config_value(_CONFIG)
  cli.setup_host_memory(config)
  logging.set_verbosity(logging.WARNING)  # Keep orbax's per-save INFO lines out of the console.
  import jax
  if _MULTIHOST.value:
    jax.distributed.initialize()
  from rvjax.train import loop  # Imported after initialize(), as JAX requires.
  try:
    summary = loop.train_and_evaluate(
        config, _WORKDIR.value, allow_config_change=_ALLOW_CHANGE.value,
        config_path=cli.config_record(config_flags.get_config_filename(flags.FLAGS["config"]),
                                      sys.argv))
  except loop.USER_ERRORS as e:  # A clear message, no stack trace.
    raise SystemExit(f"rvjax: {type(e).__name__}: {e}") from e
  if jax.process_index() == 0:
    print(json.dumps(summary, indent=2, sort_keys=True) if _JSON.value else headline(summary))


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)

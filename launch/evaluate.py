r"""Evaluates the latest checkpoint of a workdir with the evals of its saved config, or another's.

  python -m launch.evaluate --workdir=/tmp/rvjax_digits
  # The evals of another config (only its `evals` block is used; the model, data and checkpoint
  # come from the workdir), e.g. the adversarial evaluation of a plain digits run:
  python -m launch.evaluate --workdir=/tmp/rvjax_digits \
      --config=configs/digits_adversarial.py --config.evals.adv.num_examples=100

Results are printed and appended to workdir/metrics.jsonl as "name/metric" values; evaluators
that write files (the adversarial one: accuracy-vs-eps PNG, JSON/Markdown reports) write them
under the workdir.
"""
import json

from absl import app, flags, logging
from ml_collections import config_flags

from launch import cli

_WORKDIR = flags.DEFINE_string("workdir", None, "A workdir written by launch.train.")
_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Optional config file whose `evals` replace the workdir's saved evals.",
    lock_config=True)
flags.mark_flag_as_required("workdir")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  cli.setup_host_memory()
  logging.set_verbosity(logging.WARNING)
  from rvjax.train import loop
  try:
    config = cli.config_value(_CONFIG)
    evals = None if config is None else config.evals
    print(json.dumps(loop.evaluate_workdir(_WORKDIR.value, evals=evals), indent=2,
                     sort_keys=True))
  except loop.USER_ERRORS as e:  # A clear message, no stack trace.
    raise SystemExit(f"rvjax: {type(e).__name__}: {e}") from e


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)

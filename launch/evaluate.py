r"""Evaluates the latest checkpoint of a workdir with the evals of its saved config.

  python -m launch.evaluate --workdir=/tmp/rvjax_digits

Results are printed and appended to workdir/metrics.jsonl as "name/metric" values.
"""
import json

from absl import app, flags, logging

_WORKDIR = flags.DEFINE_string("workdir", None, "A workdir written by launch.train.")
flags.mark_flag_as_required("workdir")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)
  from rvjax.train import loop
  try:
    print(json.dumps(loop.evaluate_workdir(_WORKDIR.value), indent=2, sort_keys=True))
  except loop.USER_ERRORS as e:  # A clear message, no stack trace.
    raise SystemExit(f"rvjax: {type(e).__name__}: {e}") from e


if __name__ == "__main__":
  app.run(main)

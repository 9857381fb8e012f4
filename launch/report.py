r"""Writes the trust report of a workdir (and of baselines beside it) from its saved results.

  python -m launch.report --workdir=DIR [--baseline=DIR2 --baseline=DIR3 ...]

writes DIR/report/report.md, report.json and PNG plots (reliability diagram, corruption
severity curves, robust accuracy against eps). Nothing is recomputed: the report shows what the
workdirs' metrics.jsonl hold and, for what is missing, the command that produces it. Runs that
differ only in their seed are aggregated as mean ± std in the comparison table.
"""
from absl import app, flags

_WORKDIR = flags.DEFINE_string("workdir", None, "A workdir written by launch.train.")
_BASELINES = flags.DEFINE_multi_string("baseline", [], "Other workdirs to compare with.")
_OUTPUT = flags.DEFINE_string("output", None, "Report folder (default: WORKDIR/report).")
flags.mark_flag_as_required("workdir")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  from rvjax import report
  try:
    paths = report.write(_WORKDIR.value, _BASELINES.value, out_dir=_OUTPUT.value)
  except (FileNotFoundError, ValueError) as e:  # A clear message, no stack trace.
    raise SystemExit(f"rvjax: {type(e).__name__}: {e}") from e
  print(open(paths["markdown"]).read())
  print(f"Wrote {paths['markdown']}, {paths['json']} and {len(paths['plots'])} plots.")


if __name__ == "__main__":
  app.run(main)

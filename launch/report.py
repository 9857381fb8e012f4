r"""Writes the trust report of a workdir (and of baselines beside it) from its saved results.

  python -m launch.report --workdir=DIR [--baseline=DIR2 --baseline=DIR3 ...]
  python -m launch.report --workdir=DIR [--baseline=...] --readme=README.md --table=NAME

writes DIR/report/report.md, report.json and PNG plots (reliability diagram, corruption
severity curves, robust accuracy against eps). Nothing is recomputed: the report shows what the
workdirs' metrics.jsonl hold and, for what is missing, the command that produces it. Runs that
differ only in their seed are aggregated as mean ± std in the comparison table.

With --readme and --table, the comparison table (config, hardware and wall time on every row)
also replaces the block between `<!-- report-table:NAME -->` and `<!-- /report-table:NAME -->`
in that Markdown file (rvjax.report.readme); nothing else in the file changes.
"""
import shlex
import sys

from absl import app, flags

_WORKDIR = flags.DEFINE_string("workdir", None, "A workdir written by launch.train.")
_BASELINES = flags.DEFINE_multi_string("baseline", [], "Other workdirs to compare with.")
_OUTPUT = flags.DEFINE_string("output", None, "Report folder (default: WORKDIR/report).")
_README = flags.DEFINE_string("readme", None, "A Markdown file whose --table block is rewritten.")
_TABLE = flags.DEFINE_string("table", None, "Name of the marked table block in --readme.")
flags.mark_flag_as_required("workdir")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  if (_README.value is None) != (_TABLE.value is None):
    raise app.UsageError("--readme and --table go together.")
  from rvjax import report
  from rvjax.report import readme
  try:
    if _README.value:  # A bad name or missing markers fail before the report is written.
      readme.replace_block(open(_README.value).read(), _TABLE.value, [])
    paths = report.write(_WORKDIR.value, _BASELINES.value, out_dir=_OUTPUT.value)
    if _README.value:
      runs = [report.load_run(w) for w in (_WORKDIR.value, *_BASELINES.value)]
      command = " ".join(["python -m launch.report", *map(shlex.quote, sys.argv[1:])])
      readme.update_file(_README.value, _TABLE.value, runs, command)
  except (FileNotFoundError, ValueError) as e:  # A clear message, no stack trace.
    raise SystemExit(f"rvjax: {type(e).__name__}: {e}") from e
  print(open(paths["markdown"]).read())
  print(f"Wrote {paths['markdown']}, {paths['json']} and {len(paths['plots'])} plots.")
  if _README.value:
    print(f"Rewrote table {_TABLE.value!r} of {_README.value}.")


if __name__ == "__main__":
  app.run(main)

"""Results tables in Markdown documents, generated from workdirs instead of typed by hand.

A document marks each generated table with a pair of HTML comments (invisible when rendered):

  <!-- report-table:NAME -->
  (anything: replaced on every update)
  <!-- /report-table:NAME -->

`update_file(path, NAME, runs)` replaces what lies between them with the report's comparison of
`runs` (`rvjax.report.render.comparison`: one row per config, seeds as mean ± std, wall time,
config flag and hardware on every row) and the command that regenerates it. Everything outside
the markers is kept byte for byte; the file is replaced atomically.

  python -m launch.report --workdir=W [--baseline=W2 ...] --readme=README.md --table=NAME
"""
import os
import re

from rvjax.report import records, render
from rvjax.report.records import Run

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def markers(name: str) -> tuple[str, str]:
  """The opening and closing comment of table `name` (letters, digits, '_', '.', '-')."""
  if not _NAME.match(name or ""):
    raise ValueError(f"table name must be letters, digits, '_', '.' or '-'; got {name!r}.")
  return f"<!-- report-table:{name} -->", f"<!-- /report-table:{name} -->"


def block(runs: list[Run], command: str = "") -> list[str]:
  """The generated lines: the comparison of `runs`, then how it was made."""
  lines = render.comparison_markdown(runs)
  if command:
    lines += ["", f"Generated from the workdirs' metrics by `{command}`."]
  return lines


def replace_block(text: str, name: str, lines: list[str]) -> str:
  """`text` with the lines between table `name`'s markers replaced by `lines`.

  Raises:
    ValueError: a marker is missing or appears more than once, or the closing one comes first.
  """
  begin, end = markers(name)
  for marker in (begin, end):
    count = text.count(marker)
    if count != 1:
      raise ValueError(f"expected the marker {marker!r} once in the document, found it {count} "
                       "times; add the pair of markers around the table first.")
  start, stop = text.index(begin) + len(begin), text.index(end)
  if stop < start:
    raise ValueError(f"the marker {end!r} comes before {begin!r}.")
  return text[:start] + "\n" + "\n".join(lines) + "\n" + text[stop:]


def update_file(path: str, name: str, runs: list[Run], command: str = "") -> None:
  """Rewrites table `name` of the Markdown file `path` from `runs` (see the module docstring)."""
  with open(path) as f:
    text = f.read()
  mode = os.stat(path).st_mode & 0o777
  records.atomic_write(path, replace_block(text, name, block(runs, command)))
  os.chmod(path, mode)  # The temporary file's 0600 would otherwise replace the document's mode.

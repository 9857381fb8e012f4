"""README tables generated from workdirs: the block between markers is the report's comparison."""
import os
import subprocess
import sys

import pytest

from rvjax.report import readme, records
from tests.report.test_report import CONFIG, full_metrics, make_workdir

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = """# Title

Intro typed by hand.

<!-- report-table:main -->
| stale | table |
|---|---|
| 1 | 2 |
<!-- /report-table:main -->

Text after the table.
"""


def seed_runs(tmp_path):
  """Three seeds of one config (accuracy 90 / 92 / 94%) and one other config (50%)."""
  walls = (10.0, 12.0, 14.0)
  runs = [make_workdir(tmp_path / f"s{i}", {**full_metrics(accuracy=a), "summary/wall_time_s": t,
                                             "run/config": "configs/digits_cnn.py:trust"},
                       {**CONFIG, "seed": i})
          for i, (a, t) in enumerate(zip((0.90, 0.92, 0.94), walls))]
  other = make_workdir(tmp_path / "lr", {**full_metrics(accuracy=0.5), "run/config": "c.py:lr"},
                       {**CONFIG, "optimizer": {"lr": 0.1}})
  return [records.load_run(w) for w in (*runs, other)]


def test_block_is_the_comparison_with_provenance(tmp_path):
  text = readme.replace_block(DOC, "main", readme.block(seed_runs(tmp_path), "CMD"))
  before, rest = text.split("<!-- report-table:main -->\n")
  table, after = rest.split("<!-- /report-table:main -->")
  assert before == DOC.split("<!-- report-table:main -->")[0]  # Untouched outside the markers.
  assert after == "\n\nText after the table.\n"
  assert "stale" not in table and "Generated from the workdirs' metrics by `CMD`." in table
  lines = table.splitlines()
  header = next(line for line in lines if line.startswith("| run | seeds |"))
  assert header.endswith("| wall time (s) | config | hardware |")
  row = next(line for line in lines if line.startswith("| s0 (+2 seeds) | 3 |"))
  # Mean ± sample std over the seeds: accuracy 92 ± 2, wall time 12 ± 2 s; the config flag.
  assert "| 92.00 ± 2.00 (n=3) |" in row
  assert "| 12.0 ± 2.0 (n=3) | `configs/digits_cnn.py:trust` |" in row
  assert " x " in row.split("|")[-2]  # "N x <device kind> (...)"
  assert any(line.startswith("| lr | 1 | 50.00 |") and "`c.py:lr`" in line for line in lines)


def test_markers_are_checked():
  with pytest.raises(ValueError, match="report-table:other -->' once .* found it 0"):
    readme.replace_block(DOC, "other", ["x"])
  with pytest.raises(ValueError, match="found it 2"):
    readme.replace_block(DOC + DOC, "main", ["x"])
  swapped = "<!-- /report-table:t -->\n<!-- report-table:t -->\n"
  with pytest.raises(ValueError, match="comes before"):
    readme.replace_block(swapped, "t", ["x"])
  with pytest.raises(ValueError, match="table name"):
    readme.markers("a b")


def test_cli_rewrites_only_the_block(tmp_path):
  runs = seed_runs(tmp_path)
  doc = tmp_path / "README.md"
  doc.write_text(DOC)
  os.chmod(doc, 0o644)
  cmd = [sys.executable, "-m", "launch.report", f"--workdir={runs[0].workdir}",
         *[f"--baseline={r.workdir}" for r in runs[1:]], f"--readme={doc}", "--table=main"]
  out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
  assert "Rewrote table 'main'" in out
  text = doc.read_text()
  assert "| 92.00 ± 2.00 (n=3) |" in text and "stale" not in text
  assert text.endswith("Text after the table.\n") and oct(os.stat(doc).st_mode & 0o777) == "0o644"
  bad = subprocess.run([*cmd[:-1], "--table=missing"], cwd=ROOT, capture_output=True, text=True)
  assert bad.returncode != 0 and "report-table:missing" in bad.stderr
  assert doc.read_text() == text  # Nothing changed by the failed call.


@pytest.mark.parametrize("doc", ["README.md", "docs/results.md"])
def test_repository_documents_hold_the_main_table_markers(doc):
  """The generator can rewrite the main command's table in both documents (one pair each)."""
  text = open(os.path.join(ROOT, doc)).read()
  assert "| new |" in readme.replace_block(text, "main", ["| new |"])

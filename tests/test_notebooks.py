"""Notebooks: each .py (jupytext percent) is paired with an .ipynb holding the same cells and no
outputs, and its code cells run top to bottom on tiny settings (no Jupyter kernel needed)."""
import glob
import json
import os

import jupytext
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.py")))


def _cells(nb):
  return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_every_pillar_has_a_notebook():
  names = {os.path.basename(p)[:-3] for p in SOURCES}
  assert {"quickstart", "adversarial", "uncertainty", "corruptions", "restoration",
          "syn2real", "certified"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=os.path.basename)
def test_notebook_is_paired_without_outputs_and_runs(path, monkeypatch, fast_compile):
  ipynb = path[:-3] + ".ipynb"
  assert os.path.isfile(ipynb), f"{ipynb} missing: run `jupytext --sync {path}`"
  assert _cells(jupytext.read(path)) == _cells(jupytext.read(ipynb)), (
      f"{ipynb} is out of date: run `jupytext --sync {path}`")
  raw = json.load(open(ipynb))
  assert all(not c.get("outputs") and not c.get("execution_count") for c in raw["cells"]
             if c["cell_type"] == "code"), f"{ipynb} is stored with outputs"
  monkeypatch.chdir(ROOT)
  namespace = {"__name__": "__main__"}
  code = [c for c in jupytext.read(path).cells if c.cell_type == "code"]
  for i, cell in enumerate(code):
    exec(compile(cell.source, f"{os.path.basename(path)}[cell {i}]", "exec"), namespace)
  assert namespace.get("TINY", True), "notebooks are committed with TINY = True"

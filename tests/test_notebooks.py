"""Every notebook's code cells run top to bottom without error (no Jupyter kernel needed)."""
import glob
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb"))),
                         ids=os.path.basename)
def test_notebook_runs(path, monkeypatch):
  monkeypatch.chdir(ROOT)
  cells = [c for c in json.load(open(path))["cells"] if c["cell_type"] == "code"]
  assert cells, f"{path} has no code cells"
  namespace = {"__name__": "__main__"}
  for i, cell in enumerate(cells):
    source = "".join(cell["source"])
    exec(compile(source, f"{os.path.basename(path)}[cell {i}]", "exec"), namespace)

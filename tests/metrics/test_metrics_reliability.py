"""reliability_diagram writes a PNG and returns the statistics it plotted."""
import numpy as np
from matplotlib.image import imread

from rvjax import metrics


def test_reliability_diagram_writes_png(tmp_path):
  rng = np.random.default_rng(0)
  p = rng.dirichlet(np.ones(3) * 0.3, size=200).astype(np.float32)
  y = rng.integers(0, 3, 200).astype(np.int32)
  path = tmp_path / "sub" / "rel.png"
  stats = metrics.reliability_diagram(p, y, str(path), num_bins=10, title="test")
  img = imread(path)
  assert img.ndim == 3 and img.shape[0] > 100
  np.testing.assert_allclose(stats["ece"], metrics.ece(p, y, num_bins=10), atol=1e-7)
  assert stats["count"].sum() == 200 and stats["edges"].shape == (11,)

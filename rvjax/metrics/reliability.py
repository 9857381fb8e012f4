"""Reliability diagram: accuracy per confidence bin against the diagonal, saved as a PNG.

Uses matplotlib's object API with the Agg canvas (no pyplot, no global backend switch), imported
lazily so `rvjax.metrics` does not pull matplotlib in. Not jit-compatible (it writes a file).
"""
import os
from typing import Any

import numpy as np

from rvjax.metrics import calibration


def reliability_diagram(probs: Any, labels: Any, path: str, *, num_bins: int = 15,
                        title: str | None = None, weights: Any = None) -> dict:
  """Plots top-label accuracy per equal-width confidence bin and writes a PNG to `path`.

  Bars show each non-empty bin's accuracy; the shaded part between the bar top and the bin's mean
  confidence is the calibration gap; the dashed diagonal is perfect calibration. The title ends
  with the ECE (in percent for reading; the returned `ece` is a fraction). A lower panel shows the
  fraction of examples per bin.

  Args:
    probs: (N, K) probabilities; labels: (N,) int class ids.
    path: output PNG file; parent folders are created.
    num_bins: B >= 1, bins as in `rvjax.metrics.ece`.
    title: optional title prefix.
    weights: optional (N,) example weights.

  Returns:
    dict of numpy arrays from `calibration_bins`: edges (B + 1,), count, accuracy, confidence (B,)
    (0 in empty bins), and ece (float).
  """
  stats = calibration.calibration_bins(probs, labels, num_bins=num_bins, weights=weights)
  stats = {k: np.asarray(v) for k, v in stats.items()}
  stats["ece"] = float(stats["ece"])

  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  edges, count = stats["edges"], stats["count"]
  lefts, width = edges[:-1], np.diff(edges)
  full = count > 0
  acc, conf = stats["accuracy"], stats["confidence"]

  fig = Figure(figsize=(4.5, 5.5), dpi=100)
  FigureCanvasAgg(fig)
  ax, ax_n = fig.subplots(2, 1, sharex=True, gridspec_kw=dict(height_ratios=[3, 1]))
  ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
  ax.bar(lefts[full], acc[full], width=width[full], align="edge", color="tab:blue",
         edgecolor="black", lw=0.5, label="accuracy")
  lo, hi = np.minimum(acc, conf)[full], np.maximum(acc, conf)[full]
  ax.bar(lefts[full], hi - lo, bottom=lo, width=width[full], align="edge", color="tab:red",
         alpha=0.3, hatch="//", edgecolor="tab:red", lw=0.5, label="gap to confidence")
  ax.set_xlim(0, 1)
  ax.set_ylim(0, 1)
  ax.set_ylabel("accuracy")
  ax.legend(loc="upper left", fontsize=8)
  head = f"{title}\n" if title else ""
  ax.set_title(f"{head}ECE = {100 * stats['ece']:.2f}% ({num_bins} bins)", fontsize=10)
  total = count.sum()
  ax_n.bar(lefts, count / total if total > 0 else count, width=width, align="edge",
           color="gray", edgecolor="black", lw=0.5)
  ax_n.set_xlabel("confidence (max probability)")
  ax_n.set_ylabel("fraction")
  fig.tight_layout()
  parent = os.path.dirname(os.path.abspath(path))
  os.makedirs(parent, exist_ok=True)
  fig.savefig(path, format="png")
  return stats

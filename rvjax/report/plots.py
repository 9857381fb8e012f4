"""The report's figures, drawn from numbers a workdir holds (never from models or data).

matplotlib's object API on the Agg canvas: no pyplot, no global backend switch; imported lazily
so that reading results does not pull matplotlib in. Each function writes one PNG to `path`.
"""
import os

import numpy as np


def _figure(size):
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure
  fig = Figure(figsize=size, dpi=100)
  FigureCanvasAgg(fig)
  return fig


def _save(fig, path: str) -> str:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.tight_layout()
  fig.savefig(path, format="png")
  return path


def reliability(path: str, confidence, accuracy, count, *, ece: float, title: str = "") -> str:
  """Reliability diagram: per equal-width confidence bin (B bins over [0, 1]), the accuracy bar,
  the gap to the bin's mean confidence (shaded) and the diagonal; below, examples per bin.

  Args: confidence, accuracy, count: (B,) per-bin means and counts (empty bins: count 0);
  ece: a fraction, shown in percent.
  """
  confidence, accuracy, count = map(np.asarray, (confidence, accuracy, count))
  edges = np.linspace(0.0, 1.0, len(count) + 1)
  lefts, width, full = edges[:-1], np.diff(edges), count > 0
  fig = _figure((4.5, 5.5))
  ax, ax_n = fig.subplots(2, 1, sharex=True, gridspec_kw=dict(height_ratios=[3, 1]))
  ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
  ax.bar(lefts[full], accuracy[full], width=width[full], align="edge", color="tab:blue",
         edgecolor="black", lw=0.5, label="accuracy")
  lo = np.minimum(accuracy, confidence)[full]
  hi = np.maximum(accuracy, confidence)[full]
  ax.bar(lefts[full], hi - lo, bottom=lo, width=width[full], align="edge", color="tab:red",
         alpha=0.3, hatch="//", edgecolor="tab:red", lw=0.5, label="gap to confidence")
  ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy")
  ax.legend(loc="upper left", fontsize=8)
  ax.set_title(f"{title + chr(10) if title else ''}ECE = {100 * ece:.2f}% ({len(count)} bins)",
               fontsize=10)
  total = count.sum()
  ax_n.bar(lefts, count / total if total else count, width=width, align="edge", color="gray",
           edgecolor="black", lw=0.5)
  ax_n.set(xlabel="confidence (max probability)", ylabel="fraction")
  return _save(fig, path)


def severity(path: str, clean: dict, cells: dict, *, headline: tuple = ()) -> str:
  """Accuracy and ECE (%) against severity (0 = clean): a thin line per corruption and a thick
  mean over `headline` corruptions (all when empty).

  Args: clean: {"accuracy", "ece"} fractions; cells: {corruption: {severity: {metric: value}}}.
  """
  severities = sorted({s for cs in cells.values() for s in cs})
  xs = [0, *severities]
  fig = _figure((11, 4.5))
  axes = fig.subplots(1, 2)
  mean_over = [c for c in cells if c in headline] or list(cells)
  for ax, m, label in zip(axes, ("accuracy", "ece"), ("accuracy (%)", "ECE (%)")):
    for i, (c, cs) in enumerate(cells.items()):
      ys = [100 * clean[m]] + [100 * cs[s][m] for s in severities]
      ax.plot(xs, ys, color=f"C{i % 10}", ls="-" if c in mean_over else ":", lw=1, alpha=0.8,
              label=c)
    mean = [100 * clean[m]] + [100 * np.mean([cells[c][s][m] for c in mean_over])
                               for s in severities]
    ax.plot(xs, mean, color="black", lw=3, marker="o", label=f"mean of {len(mean_over)}")
    ax.set_xticks(xs, ["clean", *map(str, severities)])
    ax.set(xlabel="severity", ylabel=label)
    ax.grid(alpha=0.3)
  axes[0].set_ylim(0, 100)
  axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
  return _save(fig, path)


def accuracy_vs_eps(path: str, table: dict, *, clean: float, norm: str, flagged: bool) -> str:
  """Robust accuracy (%) against eps, one line per attack ({attack: {eps: fraction}}), the
  pointwise worst case thick; the curve starts at eps = 0 with the clean accuracy."""
  fig = _figure((5, 4))
  ax = fig.subplots()
  for name, accs in table.items():
    eps = sorted(accs)
    xs, ys = ([0.0] if eps[0] > 0 else []) + eps, ([clean] if eps[0] > 0 else []) + [
        accs[e] for e in eps]
    style = dict(color="black", lw=2.5) if name == "worst" else dict(lw=1.2)
    ax.plot(xs, [100 * y for y in ys], marker="o", ms=3, label=name, **style)
  ax.axhline(100 * clean, color="gray", ls=":", lw=1, label="clean")
  ax.set_title(f"clean {100 * clean:.1f}%" + (" - GRADIENT-MASKING FLAGS" if flagged else ""),
               fontsize=10, color="red" if flagged else "black")
  ax.set(xlabel=f"eps ({norm}, pixel range [0, 1])", ylabel="robust accuracy (%)", ylim=(0, 100))
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  return _save(fig, path)


def image_grid(path: str, columns: dict, *, max_rows: int = 4) -> str:
  """Side-by-side images: {column title: (N, H, W, C) array in [0, 1]}, the first rows."""
  fig = _figure((2.2 * len(columns), 2.2 * max_rows))
  rows = min(max_rows, min(len(v) for v in columns.values()))
  axes = np.asarray(fig.subplots(rows, len(columns), squeeze=False))
  for j, (title, images) in enumerate(columns.items()):
    for i in range(rows):
      img = np.clip(np.asarray(images[i]), 0, 1)
      axes[i, j].imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
      axes[i, j].set_axis_off()
    axes[0, j].set_title(title, fontsize=9)
  return _save(fig, path)


def lr_multipliers(path: str, steps, multipliers: dict, *, title: str = "") -> str:
  """Per-group learning-rate multipliers chosen over training, as steps: steps (T,) where each
  choice starts, multipliers {group: (T,) values in [0, 1]}."""
  fig = _figure((6, 3.5))
  ax = fig.subplots()
  for name, values in multipliers.items():
    ax.step(list(steps), list(values), where="post", marker="o", ms=3, label=name)
  ax.set(xlabel="training step", ylabel="lr multiplier", ylim=(-0.05, 1.05))
  ax.set_title(title, fontsize=10)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  return _save(fig, path)

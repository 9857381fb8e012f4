"""Handwriting-like stroke skeletons of the digits 0-9, as linear maps from control points to segments.

Each digit is a few strokes; a stroke is a list of control points (x right, y down, in a unit
glyph box) read as a chain of quadratic Bezier pieces: the curve starts at the first point, ends
at the last, passes through the midpoints of consecutive interior points and is pulled towards
the interior points (TrueType's convention). Two points make a straight line. Sampling a
quadratic piece at fixed parameters is linear in its control points, so every digit becomes a
pair of matrices (start, end) of shape (S, C) that map its (C, 2) control points, possibly
jittered or warped, to S line segments. Digits are padded to a common C and S; padded segments
are masked out.
"""
import functools

import numpy as np

PIECE_SEGMENTS = 3  # Line segments per quadratic piece.


def _loop(cx, cy, rx, ry, n=6, start=-90.0):
  """Control points of a closed smooth loop: n points on an ellipse, started at a midpoint."""
  ang = np.deg2rad(start + 360.0 * np.arange(n) / n)
  ctrl = [(cx + rx * np.cos(a) / np.cos(np.pi / n), cy + ry * np.sin(a) / np.cos(np.pi / n))
          for a in ang]
  mid = tuple((np.asarray(ctrl[-1]) + np.asarray(ctrl[0])) / 2)
  return [mid, *ctrl, mid]


# Digit -> strokes; shapes follow the round, centred handwriting of scikit-learn's digits.
STROKES = {
    0: [_loop(0.5, 0.5, 0.33, 0.47)],
    1: [[(0.32, 0.22), (0.55, 0.0)], [(0.55, 0.0), (0.55, 1.0)]],
    2: [[(0.15, 0.25), (0.25, -0.05), (0.8, -0.02), (0.85, 0.38), (0.12, 1.0)],
        [(0.12, 1.0), (0.9, 1.0)]],
    3: [[(0.15, 0.1), (0.5, -0.1), (0.9, 0.2), (0.42, 0.48)],
        [(0.42, 0.48), (1.0, 0.68), (0.55, 1.1), (0.12, 0.88)]],
    4: [[(0.65, 0.0), (0.08, 0.65)], [(0.08, 0.65), (0.92, 0.65)], [(0.65, 0.0), (0.65, 1.0)]],
    5: [[(0.85, 0.0), (0.25, 0.0)], [(0.25, 0.0), (0.2, 0.45)],
        [(0.2, 0.45), (0.6, 0.3), (0.98, 0.62), (0.6, 1.05), (0.12, 0.9)]],
    6: [[(0.72, 0.0), (0.22, 0.22), (0.17, 0.72)], _loop(0.5, 0.72, 0.33, 0.27, start=180.0)],
    7: [[(0.1, 0.0), (0.9, 0.0)], [(0.9, 0.0), (0.4, 1.0)]],
    8: [_loop(0.5, 0.24, 0.27, 0.23), _loop(0.5, 0.74, 0.33, 0.26)],
    9: [_loop(0.5, 0.28, 0.33, 0.27, start=0.0), [(0.83, 0.28), (0.85, 0.75), (0.55, 1.0)]],
}


def _stroke_matrices(num_points: int):
  """(start, end) matrices (S, num_points) sampling one stroke's chain into line segments."""
  if num_points == 2:
    return np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
  pieces = num_points - 2
  ts = np.linspace(0.0, 1.0, PIECE_SEGMENTS + 1)
  points = []
  for i in range(pieces):
    # Piece i: from q0 to q2 with control P[i+1]; q0, q2 are P[0]/P[-1] or midpoints.
    q0, q1, q2 = np.zeros(num_points), np.zeros(num_points), np.zeros(num_points)
    if i == 0:
      q0[0] = 1.0
    else:
      q0[i] = q0[i + 1] = 0.5
    q1[i + 1] = 1.0
    if i == pieces - 1:
      q2[-1] = 1.0
    else:
      q2[i + 1] = q2[i + 2] = 0.5
    for t in (ts if i == 0 else ts[1:]):
      points.append((1 - t) ** 2 * q0 + 2 * t * (1 - t) * q1 + t ** 2 * q2)
  points = np.stack(points)
  return points[:-1], points[1:]


@functools.lru_cache(maxsize=1)
def tables():
  """Padded glyph tables as numpy arrays.

  Returns:
    control: (10, C, 2) control points in the unit glyph box (padding repeats the last point).
    start, end: (10, S, C) matrices: segment s of digit d runs from start[d, s] @ control[d]
      to end[d, s] @ control[d].
    valid: (10, S) float32, 1 for real segments and 0 for padding.
  """
  per_digit = []
  for d in range(10):
    ctrl, starts, ends, offset = [], [], [], 0
    for stroke in STROKES[d]:
      a, b = _stroke_matrices(len(stroke))
      starts.append((offset, a))
      ends.append((offset, b))
      ctrl.extend(stroke)
      offset += len(stroke)
    per_digit.append((np.asarray(ctrl, np.float64), starts, ends))
  num_ctrl = max(len(c) for c, _, _ in per_digit)
  num_seg = max(sum(len(a) for _, a in s) for _, s, _ in per_digit)
  control = np.zeros((10, num_ctrl, 2))
  start = np.zeros((10, num_seg, num_ctrl))
  end = np.zeros((10, num_seg, num_ctrl))
  valid = np.zeros((10, num_seg))
  for d, (ctrl, starts, ends) in enumerate(per_digit):
    control[d, :len(ctrl)] = ctrl
    control[d, len(ctrl):] = ctrl[-1]
    row = 0
    for (off, a), (_, b) in zip(starts, ends):
      start[d, row:row + len(a), off:off + a.shape[1]] = a
      end[d, row:row + len(b), off:off + b.shape[1]] = b
      row += len(a)
    valid[d, :row] = 1.0
  f32 = lambda x: x.astype(np.float32)
  return f32(control), f32(start), f32(end), f32(valid)

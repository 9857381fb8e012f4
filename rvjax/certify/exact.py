"""The exact worst case of a small ReLU MLP over a box, by mixed-integer linear programming.

For f(x) = W_L relu(... relu(W_1 x + b_1) ...) + b_L and a direction c, `min_linear` solves

  min c . f(x)  s.t.  lower <= x <= upper

exactly with scipy's HiGHS MILP solver. Each unstable hidden unit a = relu(z), with interval
bounds L < 0 < U on z, becomes the big-M encoding a >= 0, a >= z, a <= z - L (1 - d), a <= U d,
d in {0, 1} (Tjeng et al. 2019); stable units are linear. Exponential in the worst case: meant
for tiny networks (tens of hidden units), as a ground truth for the bounds in `bounds`.
"""
import numpy as np
from scipy import optimize, sparse


def _interval(w, b, lo, hi):
  centre, radius = (lo + hi) / 2, (hi - lo) / 2
  c = centre @ w + b
  r = radius @ np.abs(w)
  return c - r, c + r


def min_linear(layers, lower, upper, c) -> float:
  """min over lower <= x <= upper of c . f(x), f the ReLU MLP `layers`.

  Args:
    layers: [(W (d_in, d_out), b (d_out,)), ...] dense layers as flax stores them
      (y = x @ W + b), with a relu between consecutive layers and none after the last.
    lower, upper: (d_0,) input box (flattened), lower <= upper.
    c: (d_L,) objective direction (e.g. e_y - e_j for a margin).

  Returns:
    The optimal value (a float).
  """
  layers = [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in layers]
  lower, upper = np.asarray(lower, np.float64).ravel(), np.asarray(upper, np.float64).ravel()
  if lower.shape != upper.shape or np.any(lower > upper):
    raise ValueError("lower and upper must have the same shape with lower <= upper.")
  if layers[0][0].shape[0] != lower.size:
    raise ValueError(f"The first layer takes {layers[0][0].shape[0]} inputs, the box has "
                     f"{lower.size}.")
  # Variables: x, then per hidden layer its activations a and indicators d.
  n_vars, lo_v, hi_v, integral = lower.size, [lower], [upper], [np.zeros(lower.size)]
  rows, row_lo, row_hi = [], [], []

  def add(row: dict, lo: float, hi: float) -> None:
    """One linear constraint lo <= row . vars <= hi ({variable index: coefficient})."""
    rows.append(row)
    row_lo.append(lo)
    row_hi.append(hi)
  prev = (0, lower.size)  # slice of the previous layer's variables
  box = (lower, upper)
  for w, b in layers[:-1]:
    z_lo, z_hi = _interval(w, b, *box)
    n = w.shape[1]
    a0, d0 = n_vars, n_vars + n
    n_vars += 2 * n
    lo_v += [np.zeros(n), np.zeros(n)]
    hi_v += [np.maximum(z_hi, 0), np.ones(n)]
    integral += [np.zeros(n), np.ones(n)]
    for j in range(n):
      z = {prev[0] + i: w[i, j] for i in range(w.shape[0])}  # z_j = z . vars + b_j
      minus_z = {k: -v for k, v in z.items()}
      if z_hi[j] <= 0:
        add({a0 + j: 1.0}, 0.0, 0.0)
      elif z_lo[j] >= 0:  # a = z
        add({**minus_z, a0 + j: 1.0}, b[j], b[j])
      else:  # a - z >= 0; a - z - L d <= -L; a - U d <= 0
        add({**minus_z, a0 + j: 1.0}, b[j], np.inf)
        add({**minus_z, a0 + j: 1.0, d0 + j: -z_lo[j]}, -np.inf, b[j] - z_lo[j])
        add({a0 + j: 1.0, d0 + j: -z_hi[j]}, -np.inf, 0.0)
    prev = (a0, n)
    box = (np.maximum(z_lo, 0), np.maximum(z_hi, 0))
  w, b = layers[-1]
  c = np.asarray(c, np.float64)
  objective = np.zeros(n_vars)
  objective[prev[0]:prev[0] + prev[1]] = w @ c
  matrix = sparse.lil_array((len(rows), n_vars))
  for r, row in enumerate(rows):
    for k, v in row.items():
      matrix[r, k] = v
  constraints = [optimize.LinearConstraint(matrix.tocsr(), row_lo, row_hi)] if rows else []
  result = optimize.milp(objective, constraints=constraints, integrality=np.concatenate(integral),
                         bounds=optimize.Bounds(np.concatenate(lo_v), np.concatenate(hi_v)))
  if not result.success:
    raise RuntimeError(f"MILP failed: {result.message}")
  return float(result.fun + b @ c)

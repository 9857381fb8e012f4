"""Temperature scaling (Guo et al. 2017): one scalar T > 0 dividing the logits, fit by NLL.

`fit_temperature` minimizes the validation NLL of softmax(logits / T) over log T by bisection on
the sign of the derivative. The NLL is convex in beta = 1 / T (a mean of logsumexp(beta z) - beta
z_y), so its derivative changes sign once along log T and bisection converges to the unique
minimizer inside the bounds, deterministically, with no step size to tune. Fit it on held-out
validation logits only, never on the test set.
"""
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rvjax import validate


def _check_logits(logits: Any, labels: Any) -> None:
  shape = getattr(logits, "shape", None)
  if shape is None or len(shape) != 2:
    raise ValueError(f"logits must have shape (N, K), got shape {shape}.")
  n, k = shape
  if n < 1 or k < 2:
    raise ValueError(f"logits needs N >= 1 examples and K >= 2 classes, got shape {tuple(shape)}.")
  if not jnp.issubdtype(logits.dtype, jnp.floating):
    raise ValueError(f"logits must be floating point, got dtype {logits.dtype}.")
  lshape = getattr(labels, "shape", None)
  if lshape is not None and len(lshape) == 1 and lshape[0] != n:
    raise ValueError(f"labels has {lshape[0]} entries but logits has {n} rows; lengths must match.")
  validate.check_labels(labels, k, batch=n)
  if validate.is_concrete(logits) and not np.all(np.isfinite(np.asarray(logits))):
    raise ValueError("logits contains NaN or inf values.")


@jax.jit
def _nll_slope(log_t, logits, labels):
  """d NLL / d beta at beta = exp(-log_t): mean_i E_softmax(beta z_i)[z] - z_iy."""
  p = jax.nn.softmax(logits * jnp.exp(-log_t), -1)
  z_y = jnp.take_along_axis(logits, labels[:, None], -1)[:, 0]
  return jnp.mean(jnp.sum(p * logits, -1) - z_y)


def _bisect(logits, labels, lo, hi, max_iter):
  def body(_, bounds):
    lo, hi = bounds
    mid = 0.5 * (lo + hi)
    # Positive slope in beta: beta too large, i.e. T too small; the minimizer is above mid.
    up = _nll_slope(mid, logits, labels) > 0
    return jnp.where(up, mid, lo), jnp.where(up, hi, mid)
  lo, hi = jax.lax.fori_loop(0, max_iter, body, (lo, hi))
  return 0.5 * (lo + hi)


_bisect_jit = jax.jit(_bisect, static_argnums=4)


def fit_temperature(logits: Any, labels: Any, *, max_iter: int = 50,
                    bounds: tuple[float, float] = (1e-2, 1e2)) -> float:
  """Fits the temperature T minimizing the mean NLL of softmax(logits / T) on validation data.

  Bisection on log T within `bounds` for `max_iter` halvings (50 halvings of [log 0.01, log 100]
  reach ~1e-14 in log T, below float32 resolution). If the minimizer lies outside `bounds` (e.g.
  every prediction correct with growing margins: NLL -> 0 as T -> 0), the nearest bound is
  returned with a RuntimeWarning. Constant rows (uniform softmax at every T) do not move the fit;
  if every row is constant the NLL does not depend on T: returns 1.0 with a RuntimeWarning.
  Not jit-compatible (returns a Python float); the search itself runs jitted.

  Args:
    logits: (N, K) float validation logits, finite.
    labels: (N,) int labels in [0, K).
    max_iter: number of bisection steps, >= 1.
    bounds: (T_min, T_max) with 0 < T_min < T_max.

  Returns:
    T > 0 as a Python float; T > 1 means the model was overconfident.
  """
  _check_logits(logits, labels)
  validate.check_positive(max_iter, "max_iter", integer=True)
  t_min, t_max = (float(b) for b in bounds)
  if not 0 < t_min < t_max or not np.isfinite(t_max):
    raise ValueError(f"bounds must satisfy 0 < T_min < T_max < inf, got {bounds}.")
  z = jnp.asarray(logits, jnp.float32)
  z = z - jnp.max(z, -1, keepdims=True)
  # A constant row has a uniform softmax at every T and adds nothing to the slope; only when
  # every row is constant does the NLL not depend on T at all.
  if float(jnp.min(jnp.min(z, -1))) == 0.0:
    warnings.warn("fit_temperature: every row of logits is constant, so the NLL does not depend "
                  "on T; returning T = 1.0, which is not a fit.", RuntimeWarning, stacklevel=2)
    return 1.0
  log_t = _bisect_jit(z, jnp.asarray(labels, jnp.int32), jnp.float32(np.log(t_min)),
                      jnp.float32(np.log(t_max)), int(max_iter))
  t = float(jnp.exp(log_t))
  if not t_min * (1 + 1e-4) < t < t_max * (1 - 1e-4):
    warnings.warn(f"fit_temperature: the NLL minimizer lies at or beyond the bound T = {t:.4g} of "
                  f"{bounds}; the fit cannot be trusted (widen the bounds or check that the "
                  "validation logits are informative).", RuntimeWarning, stacklevel=2)
  return t


def apply_temperature(logits: Any, temperature: Any) -> jnp.ndarray:
  """Returns the scaled logits `logits / temperature`; take a softmax for calibrated probabilities.

  Jit-compatible. Args: logits (..., K) float; temperature a scalar > 0 (checked when concrete).
  """
  shape = getattr(logits, "shape", None)
  if shape is None or len(shape) < 1:
    raise ValueError(f"logits must have a class axis (..., K), got shape {shape}.")
  if not jnp.issubdtype(jnp.asarray(logits).dtype, jnp.floating):
    raise ValueError(f"logits must be floating point, got dtype {logits.dtype}.")
  if jnp.ndim(temperature) != 0:
    raise ValueError(f"temperature must be a scalar, got shape {jnp.shape(temperature)}.")
  if validate.is_concrete(temperature):
    t = float(temperature)
    if not np.isfinite(t) or t <= 0:
      raise ValueError(f"temperature must be finite and > 0, got {t}.")
  return jnp.asarray(logits) / temperature

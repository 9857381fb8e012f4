"""Sound output bounds of flax classifiers over the L-inf ball intersected with [0, 1].

  lower, upper = interval_bounds(model.apply, variables, x, eps)        # IBP, (N, K) each
  lower, upper = linear_bounds(model.apply, variables, x, eps)          # CROWN, (N, K) each
  margins = margin_lower_bounds(model.apply, variables, x, y, eps, method="crown")  # (N, K-1)
  certified_accuracy(model.apply, variables, x, y, eps, method="ibp")   # fraction in [0, 1]

The model runs in eval mode (`apply_fn(variables, x, train=False)`: batch norm with its running
averages). Supported layers: see `graph.SUPPORTED`; others raise ValueError naming the layer.
A `spec` C (N, S, K) asks for bounds on C @ logits instead of the logits; bounding the margins
z_y - z_j directly (C = e_y - e_j) is much tighter than subtracting logit bounds.
"""
import jax
import jax.numpy as jnp

from rvjax.certify import backward, graph, interval

METHODS = ("ibp", "crown_ibp", "crown")


def _prepare(apply_fn, variables, x, eps):
  graph.check_eps(eps)
  g = graph.trace(apply_fn, variables, x)
  return g, graph.input_box(x, eps)


def _spec_bounds(g, spec, bounds, relax: bool, *, upper: bool = True):
  lam = jnp.swapaxes(spec, 0, 1).astype(bounds[0][0].dtype)  # (S, N, K)
  if not upper:
    return backward.lower_bound(g, g.output, lam, bounds, relax=relax).T, None
  both = backward.lower_bound(g, g.output, jnp.concatenate([lam, -lam]), bounds, relax=relax)
  s = lam.shape[0]
  return both[:s].T, -both[s:].T


def _check_spec(spec, x, g):
  k = g.shapes[g.output][-1]
  if spec.ndim != 3 or spec.shape[0] != x.shape[0] or spec.shape[2] != k:
    raise ValueError(f"spec must have shape (N={x.shape[0]}, S, K={k}), got {spec.shape}.")


def interval_bounds(apply_fn, variables, x: jax.Array, eps, *, spec=None):
  """IBP bounds of the logits (or of spec @ logits) over {x' : |x' - x|_inf <= eps} ∩ [0, 1].

  Args:
    apply_fn: a flax module's `apply`, called as apply_fn(variables, x, train=False).
    variables: the module's variables.
    x: (N, H, W, C) images in [0, 1].
    eps: radius >= 0 in pixel units (may be traced, e.g. a ramped training eps).
    spec: optional (N, S, K) specification; the last affine layers are folded into it.

  Returns:
    (lower, upper), each (N, K) (or (N, S) with spec), lower <= f(x') <= upper for every x'.
  """
  g, (lo, hi) = _prepare(apply_fn, variables, x, eps)
  bounds = interval.propagate(g, lo, hi)
  if spec is None:
    return bounds[g.output]
  _check_spec(spec, x, g)
  return _spec_bounds(g, spec, bounds, relax=False)


def linear_bounds(apply_fn, variables, x: jax.Array, eps, *, spec=None,
                  intermediate: str = "crown"):
  """CROWN bounds of the logits (or spec @ logits); never looser than `interval_bounds`.

  Args: as `interval_bounds`, and
    intermediate: "crown" (pre-activation bounds by CROWN too, each intersected with IBP's;
      memory grows with the units per layer) or "ibp" (CROWN-IBP: IBP pre-activation bounds,
      one backward pass).

  Returns:
    (lower, upper) as `interval_bounds`: the tighter of CROWN's and IBP's bound per entry.
  """
  if intermediate not in ("crown", "ibp"):
    raise ValueError(f"intermediate must be 'crown' or 'ibp', got {intermediate!r}.")
  g, (lo, hi) = _prepare(apply_fn, variables, x, eps)
  ibp = interval.propagate(g, lo, hi)

  def refine(i, bounds):
    crown_lo, crown_hi = backward.identity_bounds(g, i, bounds)
    return jnp.maximum(crown_lo, bounds[i][0]), jnp.minimum(crown_hi, bounds[i][1])

  bounds = interval.propagate(g, lo, hi, refine if intermediate == "crown" else None)
  if spec is None:
    spec = jnp.broadcast_to(jnp.eye(g.shapes[g.output][-1]), (x.shape[0],) * 1 +
                            (g.shapes[g.output][-1],) * 2)
    ibp_lo, ibp_hi = ibp[g.output]
  else:
    _check_spec(spec, x, g)
    ibp_lo, ibp_hi = _spec_bounds(g, spec, ibp, relax=False)
  lower, upper = _spec_bounds(g, spec, bounds, relax=True)
  return jnp.maximum(lower, ibp_lo), jnp.minimum(upper, ibp_hi)


def margin_spec(labels: jax.Array, num_classes: int) -> jax.Array:
  """C (N, K-1, K) with rows e_y - e_j for the K-1 classes j != y (labels (N,) int)."""
  others = jnp.arange(num_classes - 1)[None, :]
  others = others + (others >= labels[:, None])  # skip y
  eye = jnp.eye(num_classes)
  return eye[labels][:, None, :] - eye[others]


def margin_lower_bounds(apply_fn, variables, x: jax.Array, labels: jax.Array, eps, *,
                        method: str = "ibp") -> jax.Array:
  """Lower bounds (N, K-1) of z_y - z_j over the ball for the classes j != y, in class order.

  Args: as `interval_bounds`, labels (N,) int in [0, K), and method:
    "ibp" (elided IBP), "crown_ibp" (IBP pre-activation bounds, CROWN at the output, as
    Zhang et al. 2020 train with; not intersected with IBP) or "crown" (`linear_bounds`).
  All are differentiable in the variables, for certified training.
  """
  if method not in METHODS:
    raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}.")
  if method == "crown":
    g = graph.trace(apply_fn, variables, x)
    spec = margin_spec(labels, g.shapes[g.output][-1])
    return linear_bounds(apply_fn, variables, x, eps, spec=spec)[0]
  g, (lo, hi) = _prepare(apply_fn, variables, x, eps)
  spec = margin_spec(labels, g.shapes[g.output][-1])
  bounds = interval.propagate(g, lo, hi)
  return _spec_bounds(g, spec, bounds, relax=method == "crown_ibp", upper=False)[0]


def certified(apply_fn, variables, x, labels, eps, *, method: str = "crown") -> jax.Array:
  """(N,) bool: True where every margin z_y - z_j (j != y) is provably > 0 over the ball."""
  return jnp.all(margin_lower_bounds(apply_fn, variables, x, labels, eps, method=method) > 0,
                 axis=-1)


def certified_accuracy(apply_fn, variables, x, labels, eps, *, method: str = "crown"):
  """Fraction in [0, 1] of examples `certified` at radius eps (x (N,H,W,C), labels (N,))."""
  return jnp.mean(certified(apply_fn, variables, x, labels, eps, method=method))

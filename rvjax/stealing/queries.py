"""Model stealing through a prediction API (Tramer et al. 2016; Orekondy et al. 2019): query
images, the victim's answers, and defences of the answers.

Query strategies (all images float32 (N, H, W, C) in [0, 1]):
  "uniform":  i.i.d. U(0, 1) pixels;
  "gaussian": i.i.d. N(0.5, 0.25^2) pixels, clipped to [0, 1];
  "photos":   random crops of scikit-image's bundled photos (out-of-distribution natural images,
              `rvjax.evaluators.ood.photo_crops`);
  "synthetic": digits of uniformly drawn classes from the domain-randomized renderer
              (`rvjax.data.synthetic.render` with the "full_dr" knobs) at the victim's image
              size; the drawn classes are not used, the victim labels the images;
  "margin":   active selection from a pool of photo crops: the queries the current substitute is
              least sure about (smallest top-1 minus top-2 probability), see `smallest_margin`
              and rvjax.evaluators.stealing.

Defences transform the probabilities the API returns:
  `round_probs`:  rounding to a few decimals (Tramer et al.'s suggested counter-measure);
  `poison_probs`: a deceptive perturbation in the spirit of Orekondy et al. 2020's prediction
                  poisoning: a fraction `strength` of the mass moves to the least likely class,
                  which keeps the top-1 label of confident answers but misleads a substitute
                  trained on probabilities.
"""
import jax
import jax.numpy as jnp
import numpy as np

from rvjax.data import knobs, synthetic
from rvjax.evaluators import ood

RANDOM = ("uniform", "gaussian", "photos", "synthetic")
STRATEGIES = RANDOM + ("margin",)
DEFENCES = ("", "round", "poison")


def check_budget(budget) -> int:
  """The query budget as an int; ValueError unless it is an integer >= 1."""
  if isinstance(budget, bool) or int(budget) != budget or budget < 1:
    raise ValueError(f"The query budget must be an integer >= 1, got {budget!r}.")
  return int(budget)


_render = jax.jit(synthetic.render, static_argnames=("size", "channels"))


def random_queries(rng: np.random.Generator, n: int, shape, kind: str) -> np.ndarray:
  """n query images of `shape` (H, W, C) of a RANDOM kind: float32 (n, H, W, C) in [0, 1].

  "synthetic" needs square images with 1 or 3 channels (ValueError otherwise).
  """
  check_budget(n)
  if kind == "uniform":
    return rng.uniform(0.0, 1.0, (n,) + tuple(shape)).astype(np.float32)
  if kind == "gaussian":
    return np.clip(rng.normal(0.5, 0.25, (n,) + tuple(shape)), 0.0, 1.0).astype(np.float32)
  if kind == "photos":
    return ood.photo_crops(rng, n, tuple(shape))
  if kind == "synthetic":
    (height, width, channels) = shape
    if height != width or channels not in (1, 3):
      raise ValueError(f"Synthetic queries need square images with 1 or 3 channels, got {shape}.")
    key = jax.random.key(int(rng.integers(2**31)))
    labels = jnp.asarray(rng.integers(0, 10, n), jnp.int32)
    return np.asarray(_render(key, labels, knobs.make("full_dr"), size=height,
                              channels=channels))
  raise ValueError(f"Unknown random query kind {kind!r}; valid: {', '.join(RANDOM)}.")


def smallest_margin(probs: np.ndarray, n: int, exclude: np.ndarray) -> np.ndarray:
  """Indices of the n rows of probs (P, K) with the smallest top-1 minus top-2 probability,
  skipping rows where `exclude` (P,) bool is set (already queried)."""
  top2 = np.sort(probs, axis=-1)[:, -2:]
  margin = np.where(exclude, np.inf, top2[:, 1] - top2[:, 0])
  return np.argsort(margin, kind="stable")[:n]


def round_probs(probs: jax.Array, decimals: int) -> jax.Array:
  """Probabilities (N, K) rounded to `decimals` (>= 0) decimal places (not renormalized)."""
  if decimals < 0:
    raise ValueError(f"decimals must be >= 0, got {decimals}.")
  return jnp.round(probs, decimals)


def poison_probs(probs: jax.Array, strength: float) -> jax.Array:
  """(1 - strength) probs + strength one_hot(argmin probs): (N, K) -> (N, K), rows sum to 1.

  The top-1 label survives wherever p_top (1 - strength) > strength + (1 - strength) p_min.
  """
  if not 0.0 <= strength < 1.0:
    raise ValueError(f"strength must lie in [0, 1), got {strength}.")
  least = jax.nn.one_hot(jnp.argmin(probs, -1), probs.shape[-1], dtype=probs.dtype)
  return (1.0 - strength) * probs + strength * least


def defend(probs: jax.Array, defence: str, *, decimals: int = 1,
           strength: float = 0.3) -> jax.Array:
  """The answers an API with `defence` ("", "round" or "poison") returns for probs (N, K)."""
  if defence == "":
    return probs
  if defence == "round":
    return round_probs(probs, decimals)
  if defence == "poison":
    return poison_probs(probs, strength)
  raise ValueError(f"Unknown defence {defence!r}; valid: none (''), round, poison.")

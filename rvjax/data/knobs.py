"""Domain-randomization knobs psi of the synthetic digit renderer, their presets and checks.

`Knobs` is a pytree of float32 arrays, so a policy or a gradient can act on it. Every ranged knob
is a (lo, hi) pair; each image draws its value uniformly from [lo, hi] as lo + u * (hi - lo),
which keeps the rendering differentiable in both ends. Probabilities are scalars in [0, 1], and
`background` holds four non-negative weights of the background kinds (flat, gradient, checker,
texture). Units: lengths are fractions of the image side, angles degrees, blur sigma in output
pixels, intensities in [0, 1].
"""
import flax
import jax.numpy as jnp
import numpy as np

# name -> (kind, domain lo, domain hi, canonical value). kind: "range" (lo, hi), "prob" scalar,
# "weights" (4,) over BACKGROUNDS.
SPECS = {
    "thickness": ("range", 0.02, 0.2, 0.085),  # stroke half-width.
    "jitter": ("range", 0.0, 0.1, 0.0),  # std of control-point noise, glyph-box units.
    "rotation": ("range", -45.0, 45.0, 0.0),
    "scale": ("range", 0.5, 1.5, 1.0),
    "translation": ("range", -0.25, 0.25, 0.0),  # same range for x and y.
    "shear": ("range", -0.5, 0.5, 0.0),
    "elastic": ("range", 0.0, 0.1, 0.0),  # amplitude of a smooth random displacement.
    "blur": ("range", 0.0, 2.0, 0.0),
    "noise": ("range", 0.0, 0.3, 0.0),  # std of additive Gaussian noise.
    "background_level": ("range", 0.0, 1.0, 0.0),  # background intensity.
    "pattern": ("range", 0.0, 0.5, 0.0),  # amplitude of the gradient/checker/texture.
    "contrast": ("range", 0.1, 1.0, 1.0),  # ink intensity minus background intensity.
    "color": ("range", 0.0, 1.0, 0.0),  # colour randomness of RGB renderings.
    "invert": ("prob", 0.0, 1.0, 0.0),  # probability of x -> 1 - x.
    "distractors": ("prob", 0.0, 1.0, 0.0),  # probability of each of 2 distractor strokes.
    "background": ("weights", 0.0, np.inf, (1.0, 0.0, 0.0, 0.0)),
}
BACKGROUNDS = ("flat", "gradient", "checker", "texture")
PRESETS = ("none", "full_dr")

_FULL_DR = {
    "thickness": (0.05, 0.12), "jitter": (0.0, 0.06), "rotation": (-20.0, 20.0),
    "scale": (0.8, 1.15), "translation": (-0.08, 0.08), "shear": (-0.3, 0.3),
    "elastic": (0.0, 0.04), "blur": (0.0, 0.8), "noise": (0.0, 0.08),
    "background_level": (0.0, 0.3), "pattern": (0.0, 0.25), "contrast": (0.5, 1.0),
    "color": (0.0, 1.0), "invert": 0.1, "distractors": 0.25, "background": (1.0, 1.0, 1.0, 1.0),
}


@flax.struct.dataclass
class Knobs:
  """Renderer knobs: (2,) float32 (lo, hi) ranges, () probabilities and (4,) background weights."""
  thickness: jnp.ndarray
  jitter: jnp.ndarray
  rotation: jnp.ndarray
  scale: jnp.ndarray
  translation: jnp.ndarray
  shear: jnp.ndarray
  elastic: jnp.ndarray
  blur: jnp.ndarray
  noise: jnp.ndarray
  background_level: jnp.ndarray
  pattern: jnp.ndarray
  contrast: jnp.ndarray
  color: jnp.ndarray
  invert: jnp.ndarray
  distractors: jnp.ndarray
  background: jnp.ndarray


def _check(name: str, value) -> np.ndarray:
  kind, lo, hi, _ = SPECS[name]
  arr = np.asarray(value, np.float64)
  if kind == "range":
    if arr.ndim == 0:
      arr = np.array([arr, arr])
    if arr.shape != (2,) or not arr[0] <= arr[1] or arr[0] < lo or arr[1] > hi:
      raise ValueError(f"Knob {name!r} must be a value or a (lo, hi) pair with {lo} <= lo <= hi "
                       f"<= {hi}; got {value!r}.")
  elif kind == "prob":
    if arr.shape != () or not 0.0 <= arr <= 1.0:
      raise ValueError(f"Knob {name!r} is a probability in [0, 1]; got {value!r}.")
  elif arr.shape != (len(BACKGROUNDS),) or (arr < 0).any() or arr.sum() <= 0:
    raise ValueError(f"Knob {name!r} must be {len(BACKGROUNDS)} non-negative weights of "
                     f"{BACKGROUNDS} with a positive sum; got {value!r}.")
  return arr.astype(np.float32)


def make(preset: str = "none", **overrides) -> Knobs:
  """Knobs of `preset` ("none": the canonical rendering, "full_dr": every knob randomized),
  with `overrides` (knob name -> value or (lo, hi)) applied.

  Raises:
    ValueError: an unknown preset or knob name (listing the valid ones), or a value outside its
      domain (naming the knob and the domain).
  """
  if preset not in PRESETS:
    raise ValueError(f"Unknown knob preset {preset!r}; valid: {', '.join(PRESETS)}.")
  unknown = sorted(set(overrides) - set(SPECS))
  if unknown:
    raise ValueError(f"Unknown renderer knob(s) {', '.join(unknown)}; valid: "
                     f"{', '.join(SPECS)}.")
  values = {name: spec[3] for name, spec in SPECS.items()}
  if preset == "full_dr":
    values.update(_FULL_DR)
  values.update(overrides)
  return Knobs(**{name: jnp.asarray(_check(name, v)) for name, v in values.items()})

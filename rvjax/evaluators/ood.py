"""Out-of-distribution detection evaluator: AUROC, AUPR-in/out and FPR95 per OOD set and score.

Config (an entry of `config.evals` with type "ood"; every field but `type` is a kwarg):

  split, batch_size, num_examples: the in-distribution data (num_examples 0: the whole split).
  sets: the OOD sets, any of
    "skimage_photos": random square crops of scikit-image's bundled photos (`PHOTOS`), side
      uniform in [1/8, 1/2] of the photo's shorter side, resized (antialiased, bilinear) to the
      model's H x W; luminance (rgb2gray) for 1-channel models, gray photos repeated for 3.
    "uniform_noise": i.i.d. U(0, 1) pixels.
    "open_set": the split's images of held-out classes, i.e. of `open_set_classes` (default:
      data.kwargs.exclude_classes, the classes the run never trained on; see rvjax.data.load).
      Skipped (with a logged warning) when the data holds out no classes: an open-set score
      on classes the model was trained on measures nothing.
    a tfds set of `rvjax.data.NAMES` (e.g. "svhn_cropped", "cifar100" for CIFAR-10 runs): its
      test split from data.data_dir, which must have the model's image shape.
  num_ood: examples per OOD set (0: as many as in-distribution, tfds and open-set: all).
  seed: the photo crops and noise (numpy Generator seeded with (seed, set index)).
  member_logits_fn: optional `(state, images (B, H, W, C)) -> (M, B, K)` logits of ensemble
    members or MC-dropout samples; adds the mutual-information score. A function, so it cannot
    come from a config file; evaluators built by the training loop run without it.

Scores, all "higher = more in-distribution", computed in float64 from log-probabilities of the
predictions (`predict_fn` gives logits or log mean probabilities, temperature applied), so that
confident predictions do not tie at p_max = 1.0 as in float32 (see `scores`): max_softmax,
neg_entropy and, with members, neg_mutual_information = -(H(mean_m p_m) - mean_m H(p_m)).

Yields "<set>/<score>/<metric>" for metric in auroc, aupr_in, aupr_out, fpr95
(`rvjax.metrics.ood`: in-distribution positive; fractions in [0, 1]; fpr95 lower = better).
"""
import functools

import jax.numpy as jnp
import numpy as np
from absl import logging

from rvjax import metrics, validate
from rvjax import data as data_lib
from rvjax.evaluators import predictions

PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "rocket", "coins", "moon", "clock", "grass",
          "gravel", "brick", "immunohistochemistry")
SYNTHETIC = ("skimage_photos", "uniform_noise")
DEFAULT_SETS = ("skimage_photos", "uniform_noise", "open_set")
CROP_RANGE = (1 / 8, 1 / 2)  # crop side as a fraction of the photo's shorter side


@functools.lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
  """scikit-image photo `name` as float (H, W, 3) in [0, 1]."""
  import skimage.color
  import skimage.data
  img = getattr(skimage.data, name)()
  img = np.asarray(img, np.float64) / (255.0 if img.dtype == np.uint8 else 1.0)
  return skimage.color.gray2rgb(img) if img.ndim == 2 else img[..., :3]


def photo_crops(rng: np.random.Generator, n: int, shape) -> np.ndarray:
  """n random photo crops resized to `shape` = (H, W, C), C in {1, 3}: float32 in [0, 1]."""
  import skimage.color
  import skimage.transform
  h, w, c = shape
  out = np.empty((n, h, w, c), np.float32)
  for i in range(n):
    img = _photo(PHOTOS[rng.integers(len(PHOTOS))])
    short = min(img.shape[:2])
    side = rng.integers(int(CROP_RANGE[0] * short), int(CROP_RANGE[1] * short) + 1)
    y0, x0 = rng.integers(img.shape[0] - side + 1), rng.integers(img.shape[1] - side + 1)
    crop = img[y0:y0 + side, x0:x0 + side]
    crop = skimage.color.rgb2gray(crop)[..., None] if c == 1 else crop
    out[i] = skimage.transform.resize(crop, (h, w, c), order=1, anti_aliasing=True)
  return np.clip(out, 0.0, 1.0)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
  """Float64 log-softmax; log1p of the non-maximal mass keeps log p_max exact near 0."""
  z = logits.astype(np.float64)
  z = z - z.max(-1, keepdims=True)
  top = np.arange(z.shape[-1]) == np.argmax(z, -1)[..., None]
  rest = np.sum(np.where(top, 0.0, np.exp(z)), -1, keepdims=True)
  return z - np.log1p(rest)


def _entropy(log_probs: np.ndarray) -> np.ndarray:
  """-sum_k p_k log p_k in nats over the last axis, with 0 log 0 = 0."""
  p = np.exp(log_probs)
  with np.errstate(invalid="ignore"):  # 0 * -inf where a mean probability underflows
    return -np.sum(np.where(p > 0, p * log_probs, 0.0), -1)


def scores(logits: np.ndarray, member_logits: np.ndarray | None = None) -> dict:
  """OOD scores (N,), higher = in-distribution, of (N, K) logits and optional (M, N, K) members.

  Float64 from log-probabilities, so confident predictions do not tie (float32 softmax rounds
  p_max to 1.0 for logit gaps above ~17). "max_softmax" is log p_max in (-log K, 0]: a monotone
  transform of the maximum softmax probability, so AUROC, AUPR and FPR95 are the same.
  """
  log_probs = _log_softmax(logits)
  out = {"max_softmax": log_probs.max(-1), "neg_entropy": -_entropy(log_probs)}
  if member_logits is not None:
    member = _log_softmax(member_logits)
    mean = np.logaddexp.reduce(member, axis=0) - np.log(member.shape[0])  # log mean_m p_m
    out["neg_mutual_information"] = -np.maximum(_entropy(mean) - _entropy(member).mean(0), 0.0)
  return out


class Evaluator:
  """OOD detection of `predict_fn(state, images) -> logits` (see the module docstring)."""

  def __init__(self, predict_fn, *, data, mesh, split: str = "test", batch_size: int = 256,
               num_examples: int = 0, sets=DEFAULT_SETS, num_ood: int = 0, seed: int = 0,
               open_set_classes=None, member_logits_fn=None):
    validate.check_positive(num_examples, "num_examples", allow_zero=True)
    validate.check_positive(num_ood, "num_ood", allow_zero=True)
    self.predict_fn, self.mesh, self.batch_size = predict_fn, mesh, batch_size
    self.member_logits_fn = member_logits_fn
    ind = data_lib.load_split(data, split)
    if num_examples:
      ind = data_lib.Dataset(ind.images[:num_examples], ind.labels[:num_examples],
                             ind.num_classes)
    self.dataset = ind
    self.ood_sets = {}
    for i, name in enumerate(sets):
      ds = self._ood_set(name, i, data, split, num_ood, seed, open_set_classes)
      if ds is not None:
        self.ood_sets[name] = ds

  def _ood_set(self, name, index, data, split, num_ood, seed, open_set_classes):
    """The OOD set `name` as a Dataset (labels unused), or None for a skipped open set."""
    shape = self.dataset.images.shape[1:]
    n = num_ood or len(self.dataset)
    rng = np.random.default_rng([seed, index])
    if name == "skimage_photos":
      images = photo_crops(rng, n, shape)
    elif name == "uniform_noise":
      images = rng.random((n, *shape), np.float32)
    elif name == "open_set":
      return self._open_set(data, split, num_ood, open_set_classes)
    elif name in data_lib.NAMES:
      ds = data_lib.load(name, "test", data_dir=data.get("data_dir") or None)
      if ds.images.shape[1:] != shape:
        raise ValueError(f"OOD set {name!r} has images of shape {ds.images.shape[1:]}, the "
                         f"model takes {shape}.")
      images = ds.images[:num_ood or len(ds)]
    else:
      raise ValueError(f"Unknown OOD set {name!r}; valid: {', '.join(SYNTHETIC)}, open_set, "
                       f"or a dataset of {', '.join(data_lib.NAMES)}.")
    return data_lib.Dataset(images, np.zeros(len(images), np.int32), self.dataset.num_classes)

  def _open_set(self, data, split, num_ood, classes):
    """The split's images of held-out classes (which the run's data must exclude)."""
    kwargs = dict(data.get("kwargs", {}))
    excluded = tuple(int(c) for c in kwargs.pop("exclude_classes", ()))
    classes = excluded if classes is None else tuple(int(c) for c in classes)
    if not classes:
      logging.warning("OOD set 'open_set' skipped: the data holds out no classes (set "
                      "data.kwargs.exclude_classes when training).")
      return None
    if not set(classes) <= set(excluded):
      raise ValueError(f"open_set_classes {classes} must be held out of training, i.e. in "
                       f"data.kwargs.exclude_classes={excluded}; the model saw the others.")
    full = data_lib.load(data.name, split, data_dir=data.get("data_dir") or None, **kwargs)
    keep = np.isin(full.labels, classes)
    images, labels = full.images[keep], full.labels[keep]
    return data_lib.Dataset(images[:num_ood or len(images)], labels[:num_ood or len(images)],
                            full.num_classes)

  def _scores(self, state, ds: data_lib.Dataset) -> dict:
    logits = predictions.collect_logits(self.predict_fn, state, ds, batch_size=self.batch_size,
                                        mesh=self.mesh)
    members = None
    if self.member_logits_fn is not None:
      fn = lambda x, _: jnp.moveaxis(self.member_logits_fn(state, x), 0, 1)  # (B, M, K)
      members = np.moveaxis(predictions.collect(fn, ds, batch_size=self.batch_size,
                                                mesh=self.mesh), 1, 0)
    return scores(logits, members)

  def run(self, state):
    """Yields "<set>/<score>/{auroc,aupr_in,aupr_out,fpr95}" (module docstring)."""
    score_in = self._scores(state, self.dataset)
    for name, ds in self.ood_sets.items():
      score_out = self._scores(state, ds)
      for score, s_in in score_in.items():
        for m, v in metrics.ood(s_in, score_out[score]).items():
          yield f"{name}/{score}/{m}", v

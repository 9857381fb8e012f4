"""A NIQE-style no-reference quality score (Mittal, Soundararajan & Bovik 2013), rvjax's own fit.

Natural images have mean-subtracted contrast-normalized (MSCN) coefficients
(I - mu) / (sigma + 1) (local gaussian mean and std, 7x7, sigma 7/6, I on the 0-255 scale)
that follow a generalized gaussian, and products of neighbouring MSCN coefficients that follow
an asymmetric one. Per `patch_size` block and at two scales (the image, and its bicubic half)
we fit: GGD (shape, variance) of the MSCN map and AGGD (shape, mean, left and right variances)
of its horizontal, vertical and two diagonal products: 36 features. A multivariate gaussian
fitted to the features of an image's blocks is compared with one fitted to pristine images:

  score = sqrt((mu_p - mu_i)^T pinv((S_p + S_i) / 2) (mu_p - mu_i))     (lower = more natural)

The pristine model shipped here (`niqe_train400.npz`) is THIS PROJECT'S OWN FIT on the 400
Train400 crops (../shared/data/restoration/Train400), made by benchmarks/fit_niqe.py with
64-pixel blocks (Train400 crops are 180x180), keeping the sharper half of the blocks (by mean
local std; the original keeps blocks above 0.75 of the sharpest, too few on small crops).
It is not the published NIQE model: absolute values are not comparable with published NIQE
numbers; differences between methods are.
"""
import functools
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special

from rvjax.degrade.resize import imresize
from rvjax.metrics.image_quality import rgb_to_y

MODEL_PATH = os.path.join(os.path.dirname(__file__), "niqe_train400.npz")
_SHAPES = np.arange(0.2, 10.0, 0.001)
_GAMMA_RATIO = (scipy.special.gamma(1 / _SHAPES) * scipy.special.gamma(3 / _SHAPES) /
                scipy.special.gamma(2 / _SHAPES) ** 2)  # E[x^2] / E[|x|]^2 of a GGD(shape)
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


def _gaussian_window() -> np.ndarray:
  r = np.arange(-3, 4)
  g = np.exp(-0.5 * (r / (7 / 6)) ** 2)
  w = np.outer(g, g)
  return (w / w.sum()).astype(np.float32)


def mscn(gray: jnp.ndarray) -> jnp.ndarray:
  """(B, H, W) luma on the 0-255 scale -> MSCN coefficients (B, H, W) (replicated borders)."""
  w = jnp.asarray(_gaussian_window())[:, :, None, None]
  filt = lambda z: jax.lax.conv_general_dilated(
      jnp.pad(z, ((0, 0), (3, 3), (3, 3)), mode="edge")[..., None], w, (1, 1), "VALID",
      dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=jax.lax.Precision.HIGHEST)[..., 0]
  mu = filt(gray)
  sigma = jnp.sqrt(jnp.abs(filt(gray * gray) - mu * mu))
  return (gray - mu) / (sigma + 1.0), sigma


def _lookup(ratio):
  return jnp.asarray(_SHAPES, jnp.float32)[jnp.argmin(jnp.abs(jnp.asarray(_GAMMA_RATIO, jnp.float32)
                                                              - ratio))]


def _ggd(x):
  """Moment-matched (shape, variance) of a zero-mean GGD sample x (flattened)."""
  var = jnp.mean(x * x)
  return jnp.stack([_lookup(var / jnp.maximum(jnp.mean(jnp.abs(x)) ** 2, 1e-12)), var])


def _aggd(x):
  """Moment-matched (shape, mean, left variance, right variance) of an asymmetric GGD sample."""
  neg, pos = x < 0, x > 0
  var_l = jnp.sum(jnp.where(neg, x * x, 0)) / jnp.maximum(jnp.sum(neg), 1)
  var_r = jnp.sum(jnp.where(pos, x * x, 0)) / jnp.maximum(jnp.sum(pos), 1)
  g = jnp.sqrt(var_l) / jnp.maximum(jnp.sqrt(var_r), 1e-12)
  r = jnp.mean(jnp.abs(x)) ** 2 / jnp.maximum(jnp.mean(x * x), 1e-12)
  r_norm = r * (g ** 3 + 1) * (g + 1) / (g ** 2 + 1) ** 2
  shape = _lookup(1.0 / jnp.maximum(r_norm, 1e-12))
  lg = jax.scipy.special.gammaln
  mean = (jnp.sqrt(var_r) - jnp.sqrt(var_l)) * jnp.exp(
      lg(2 / shape) - lg(1 / shape) + 0.5 * (lg(1 / shape) - lg(3 / shape)))
  return jnp.stack([shape, mean, var_l, var_r])


def _block_features(m):
  """(P, P) MSCN block -> (18,) features."""
  feats = [_ggd(m.ravel())]
  h, w = m.shape
  for dy, dx in _SHIFTS:  # products m[y, x] * m[y + dy, x + dx] over the valid pairs
    a = m[:h - dy, max(0, -dx):w - max(0, dx)]
    b = m[dy:, max(0, dx):w - max(0, -dx)]
    feats.append(_aggd((a * b).ravel()))
  return jnp.concatenate(feats)


def _blocks(z, p):
  b, h, w = z.shape
  z = z[:, :h - h % p, :w - w % p]
  return z.reshape(b, h // p, p, w // p, p).transpose(0, 1, 3, 2, 4).reshape(b, -1, p, p)


@functools.partial(jax.jit, static_argnames="patch_size")
def block_features(images: jnp.ndarray, patch_size: int) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Per-block NIQE features (N, blocks, 36) and block sharpness (N, blocks) of [0, 1] images."""
  x = jnp.asarray(images, jnp.float32)
  gray = (rgb_to_y(x) if x.shape[-1] == 3 else x)[..., 0] * 255.0
  feats, sharp = [], None
  for scale, p in ((1, patch_size), (2, patch_size // 2)):
    g = gray if scale == 1 else imresize(gray[..., None], 0.5)[..., 0]
    m, sigma = mscn(g)
    blocks = _blocks(m, p)
    feats.append(jax.vmap(jax.vmap(_block_features))(blocks))
    if scale == 1:
      sharp = jnp.mean(_blocks(sigma, p), axis=(2, 3))
  return jnp.concatenate(feats, -1), sharp


def _check(images, patch_size):
  shape = getattr(images, "shape", None)
  if shape is None or len(shape) != 4 or shape[-1] not in (1, 3):
    raise ValueError(f"images must be (N, H, W, 1 or 3), got shape {shape}.")
  if min(shape[1:3]) < patch_size:
    raise ValueError(f"NIQE needs images of at least {patch_size}x{patch_size} pixels (one "
                     f"block), got {shape[1]}x{shape[2]}.")


@functools.lru_cache(maxsize=4)
def load_model(path: str = MODEL_PATH) -> dict[str, Any]:
  """The pristine MVG {"mean" (36,), "cov" (36, 36), "patch_size", "source"} from an .npz."""
  with np.load(path, allow_pickle=False) as f:
    return {"mean": f["mean"], "cov": f["cov"], "patch_size": int(f["patch_size"]),
            "source": str(f["source"])}


def niqe(images: Any, *, model: dict[str, Any] | None = None) -> jnp.ndarray:
  """NIQE-style score per image (lower = closer to the pristine statistics).

  Args:
    images: (N, H, W, C) float in [0, 1], C = 1 or 3 (RGB is scored on its luma), at least one
      `patch_size` block per side (64 for the shipped model).
    model: a `load_model()`-style dict; default the shipped Train400 fit (rvjax's own).

  Returns:
    (N,) float32 scores >= 0.
  """
  model = load_model() if model is None else model
  p = model["patch_size"]
  _check(images, p)
  feats, _ = block_features(jnp.asarray(images, jnp.float32), p)
  return _distance(feats, jnp.asarray(model["mean"]), jnp.asarray(model["cov"]))


@jax.jit
def _distance(feats, mu_p, cov_p):
  def one(f):
    mu = jnp.mean(f, 0)
    centered = f - mu
    cov = centered.T @ centered / jnp.maximum(f.shape[0] - 1, 1)
    d = mu_p - mu
    return jnp.sqrt(jnp.maximum(d @ jnp.linalg.pinv((cov_p + cov) / 2) @ d, 0.0))
  return jax.vmap(one)(feats)

"""Low-light enhancement losses: EnlightenGAN (Jiang et al. 2021) and Zero-DCE (Guo et al. 2020).

EnlightenGAN (three players; these are the pieces its generator and discriminator objectives sum):
  relativistic_lsgan_d / _g   global critic C on whole images, D_Ra(a, b) = C(a) - E[C(b)]
  lsgan_d / lsgan_g           local critic on random patches (`random_patches`)
  self_feature_preserving     ||IN(phi(x)) - IN(phi(G(x)))||^2 on a pluggable feature network phi
Zero-DCE (one player, no reference): spatial_consistency, exposure, color_constancy,
illumination_smoothness, combined by `make_zero_dce` into a project objective.

Critic outputs are (N, ...) patch logits; expectations are means over every entry.
"""
import jax
import jax.numpy as jnp

from rvjax.objectives import features as features_lib, forward
from rvjax.objectives.game import Game

# Zero-DCE paper weights (W_col = 0.5, W_tvA = 20; spatial and exposure 1).
ZERO_DCE_WEIGHTS = {"spatial": 1.0, "exposure": 1.0, "color": 0.5, "smoothness": 20.0}


def relativistic_lsgan_d(real_logits, fake_logits):
  """Global critic loss E[(C(xr) - E C(xf) - 1)^2] + E[(C(xf) - E C(xr))^2] (EnlightenGAN eq. 3)."""
  return (jnp.mean((real_logits - jnp.mean(fake_logits) - 1.0) ** 2) +
          jnp.mean((fake_logits - jnp.mean(real_logits)) ** 2))


def relativistic_lsgan_g(real_logits, fake_logits):
  """Generator's global loss E[(C(xf) - E C(xr) - 1)^2] + E[(C(xr) - E C(xf))^2]."""
  return (jnp.mean((fake_logits - jnp.mean(real_logits) - 1.0) ** 2) +
          jnp.mean((real_logits - jnp.mean(fake_logits)) ** 2))


def lsgan_d(real_logits, fake_logits):
  """Local critic loss E[(D(real) - 1)^2] + E[D(fake)^2]."""
  return jnp.mean((real_logits - 1.0) ** 2) + jnp.mean(fake_logits ** 2)


def lsgan_g(fake_logits):
  """Generator's local loss E[(D(fake) - 1)^2]."""
  return jnp.mean((fake_logits - 1.0) ** 2)


def random_patches(key, images, *, num: int, size: int):
  """`num` random (size x size) crops per image: (N, H, W, C) -> (N * num, size, size, C)."""
  n, h, w, c = images.shape
  if size > min(h, w):
    raise ValueError(f"patch size {size} exceeds the {h}x{w} images.")
  k_row, k_col = jax.random.split(key)
  rows = jax.random.randint(k_row, (n, num), 0, h - size + 1)
  cols = jax.random.randint(k_col, (n, num), 0, w - size + 1)
  crop = lambda im, r, q: jax.lax.dynamic_slice(im, (r, q, 0), (size, size, c))
  per_image = jax.vmap(jax.vmap(crop, in_axes=(None, 0, 0)), in_axes=(0, 0, 0))
  return per_image(images, rows, cols).reshape(n * num, size, size, c)


def instance_norm(features, eps: float = 1e-5):
  """(N, H, W, C) -> per image and channel, zero spatial mean and unit variance."""
  mean = jnp.mean(features, axis=(1, 2), keepdims=True)
  var = jnp.var(features, axis=(1, 2), keepdims=True)
  return (features - mean) * jax.lax.rsqrt(var + eps)


def self_feature_preserving(feature_fn, inputs, outputs):
  """EnlightenGAN's self feature-preserving loss: mean (IN(phi(I)) - IN(phi(G(I))))^2.

  Args:
    feature_fn: phi, (N, H, W, 3) images in [0, 1] -> (N, h, w, d) features (VGG-16 conv5_1 in
      the paper; any network here — name it with every result).
    inputs: the low-light inputs I; outputs: the enhanced G(I).
  """
  return jnp.mean((instance_norm(feature_fn(inputs)) - instance_norm(feature_fn(outputs))) ** 2)


def _pool(x, size):
  n, h, w, c = x.shape
  h, w = h - h % size, w - w % size
  return x[:, :h, :w].reshape(n, h // size, size, w // size, size, c).mean((2, 4))


def spatial_consistency(enhanced, original, *, region: int = 4):
  """Per image (1/K) sum_i sum_{j in 4 neighbours of i} (|Y_i - Y_j| - |I_i - I_j|)^2 over the
  K regions (region x region averages of the channel mean); pairs crossing the border are
  skipped. Returns (N,)."""
  y = _pool(jnp.mean(enhanced, -1, keepdims=True), region)[..., 0]
  i = _pool(jnp.mean(original, -1, keepdims=True), region)[..., 0]
  dh = (jnp.abs(jnp.diff(y, axis=2)) - jnp.abs(jnp.diff(i, axis=2))) ** 2
  dv = (jnp.abs(jnp.diff(y, axis=1)) - jnp.abs(jnp.diff(i, axis=1))) ** 2
  k = y.shape[1] * y.shape[2]
  return 2.0 * (jnp.sum(dh, (1, 2)) + jnp.sum(dv, (1, 2))) / k  # each pair seen from both ends


def exposure(enhanced, *, level: float = 0.6, region: int = 16):
  """Per image mean over region x region blocks of |mean intensity - level|. Returns (N,)."""
  return jnp.mean(jnp.abs(_pool(jnp.mean(enhanced, -1, keepdims=True), region) - level),
                  axis=(1, 2, 3))


def color_constancy(enhanced):
  """Per image sum over channel pairs (R,G), (R,B), (G,B) of (J^p - J^q)^2, J^c the channel
  mean (gray-world assumption). Returns (N,)."""
  j = jnp.mean(enhanced, axis=(1, 2))
  return ((j[:, 0] - j[:, 1]) ** 2 + (j[:, 0] - j[:, 2]) ** 2 + (j[:, 1] - j[:, 2]) ** 2)


def illumination_smoothness(curves, *, channels: int = 3):
  """Per image (1/n) sum_n sum_c mean_pixels (|grad_x A_n^c| + |grad_y A_n^c|)^2 over the n
  curve iterations of (N, H, W, channels * n) maps. Returns (N,)."""
  gx = jnp.abs(jnp.diff(curves, axis=2))[:, :-1]
  gy = jnp.abs(jnp.diff(curves, axis=1))[:, :, :-1]
  n_iter = curves.shape[-1] // channels
  return jnp.sum(jnp.mean((gx + gy) ** 2, axis=(1, 2)), -1) / n_iter


def make_zero_dce(apply_fn, *, weights=None):
  """Zero-reference objective for `ZeroDCE` on batches {"image": low light, "mask"}.

  loss = sum_k weights[k] * L_k (ZERO_DCE_WEIGHTS by default); metrics: each term.
  """
  weights = {**ZERO_DCE_WEIGHTS, **(weights or {})}
  unknown = set(weights) - set(ZERO_DCE_WEIGHTS)
  if unknown:
    raise ValueError(f"Unknown Zero-DCE loss weights {sorted(unknown)}; valid: "
                     f"{', '.join(ZERO_DCE_WEIGHTS)}.")

  def objective(params, model_state, batch, key):
    x = batch["image"]
    state = {**model_state, "intermediates": {}}
    out, new_state = forward.train_forward(apply_fn, params, state, x, key)
    curves = new_state.pop("intermediates")["curves"][0]
    terms = {"spatial": spatial_consistency(out, x), "exposure": exposure(out),
             "color": color_constancy(out), "smoothness": illumination_smoothness(curves)}
    metrics = {k: forward.masked_mean(v, batch["mask"]) for k, v in terms.items()}
    loss = sum(weights[k] * metrics[k] for k in terms)
    return loss, (new_state, metrics)

  return objective


ENLIGHTENGAN_CRITICS = ("d_global", "d_local")


def make_enlightengan(apply_fn, *, players=None, features="", num_patches: int = 5,
                      patch_size: int = 32, sfp_weight: float = 1.0):
  """EnlightenGAN's game on unpaired batches {"image": low light A, "reference": normal light B,
  "mask"} (the mask is unused: every patch counts).

  Args:
    apply_fn: the generator's `apply` (the run's model, player "generator").
    players: the critics' `apply`s, {"d_global": ..., "d_local": ...}.
    features: phi of the self feature-preserving loss: a spec of
      `rvjax.objectives.features.resolve` ("vgg16:PATH" with a local weights file, else the
      "digits_cnn" network trained in rvjax) or a callable images -> features; the Game's
      `info["features"]` names it, and the loop writes that with every result.
    num_patches, patch_size: the local critic's random crops per image (EnlightenGAN: 5 of 32).
    sfp_weight: weight of the global + local self feature-preserving terms.

  Returns a `rvjax.objectives.game.Game` (model player "generator") updating, in order, the
  global critic (relativistic LSGAN on whole images), the local critic (LSGAN on patches; real
  ones from B, fake ones from G(A)) against the current generator, then the generator on
  L = L_G^global + L_G^local + sfp_weight (L_SFP(A, G(A)) + L_SFP(patches of A, the same patches
  of G(A))).
  """
  if set(players or {}) != set(ENLIGHTENGAN_CRITICS):
    raise ValueError(f"EnlightenGAN needs players (critic apply functions; config.players in a "
                     f"config) {ENLIGHTENGAN_CRITICS}, got {sorted(players or {})}.")
  if callable(features):
    feature_fn, description = features, getattr(features, "__name__", "a given callable")
  else:
    feature_fn, description = features_lib.resolve(features)
  apply_fn = {"generator": apply_fn, **players}

  def run(name, params, model_state, x, key):
    out, state = forward.train_forward(apply_fn[name], params[name], model_state[name], x, key)
    return out, {**model_state, name: state}

  def fake(params, model_state, batch, key):
    return run("generator", params, model_state, batch["image"], key)

  def d_global_loss(params, model_state, batch, key):
    k_g, k_d = jax.random.split(key)
    out, _ = fake(params, model_state, batch, k_g)
    both = jnp.concatenate([batch["reference"], jax.lax.stop_gradient(out)])
    logits, model_state = run("d_global", params, model_state, both, k_d)
    real, fake_logits = jnp.split(logits, 2)
    loss = relativistic_lsgan_d(real, fake_logits)
    return loss, (model_state, {"d_global": loss})

  def d_local_loss(params, model_state, batch, key):
    k_g, k_p, k_q, k_d = jax.random.split(key, 4)
    out, _ = fake(params, model_state, batch, k_g)
    real = random_patches(k_p, batch["reference"], num=num_patches, size=patch_size)
    fakes = random_patches(k_q, jax.lax.stop_gradient(out), num=num_patches, size=patch_size)
    logits, model_state = run("d_local", params, model_state, jnp.concatenate([real, fakes]), k_d)
    real_logits, fake_logits = jnp.split(logits, 2)
    loss = lsgan_d(real_logits, fake_logits)
    return loss, (model_state, {"d_local": loss})

  def generator_loss(params, model_state, batch, key):
    k_g, k_p, k_dg, k_dl = jax.random.split(key, 4)
    out, model_state = fake(params, model_state, batch, k_g)
    both = jnp.concatenate([batch["reference"], out])
    logits, _ = run("d_global", params, model_state, both, k_dg)
    real, fake_logits = jnp.split(logits, 2)
    g_global = relativistic_lsgan_g(real, fake_logits)
    fake_patches = random_patches(k_p, out, num=num_patches, size=patch_size)
    g_local = lsgan_g(run("d_local", params, model_state, fake_patches, k_dl)[0])
    in_patches = random_patches(k_p, batch["image"], num=num_patches, size=patch_size)
    sfp = (self_feature_preserving(feature_fn, batch["image"], out) +
           self_feature_preserving(feature_fn, in_patches, fake_patches))
    loss = g_global + g_local + sfp_weight * sfp
    return loss, (model_state, {"g_global": g_global, "g_local": g_local, "sfp": sfp})

  return Game({"d_global": d_global_loss, "d_local": d_local_loss,
               "generator": generator_loss}, order="alternating", model="generator",
              info={"features": description})

"""AugMix (Hendrycks et al., ICLR 2020): mixtures of random augmentation chains, and its JSD loss.

    x_aug = augmix(key, images)                  # (N, H, W, C) in [0, 1] -> same
    loss = ce(logits_clean, y) + 12 * jsd_consistency(logits_clean, logits_aug1, logits_aug2)

Each image gets its own key. For each of `width` chains, a depth d ~ U{lo..hi} and d ops drawn
uniformly from `ops.OPS` (with AugMix's random magnitudes for `severity`) are applied; the chain
results are mixed with weights w ~ Dirichlet(alpha), and the mix is blended with the original
by m ~ Beta(alpha, alpha): x_aug = (1 - m) x + m sum_i w_i chain_i(x). Shapes are fixed: every
chain runs max-depth steps through `lax.switch`, and steps past its depth are masked out, so
the function is jit- and vmap-compatible. Mixing in [0, 1] pixel space equals the paper's mixing
of normalized tensors, since normalization is affine and the weights are convex.
"""
import jax
import jax.numpy as jnp
from jax import lax

from rvjax import validate
from rvjax.augment import ops


def _depth_range(depth):
  if isinstance(depth, int) and not isinstance(depth, bool):
    lo = hi = depth
  else:
    try:
      lo, hi = (int(d) for d in depth)
    except (TypeError, ValueError):
      raise ValueError(f"depth must be an int or a (min, max) pair, got {depth!r}.") from None
  if not 1 <= lo <= hi:
    raise ValueError(f"depth must satisfy 1 <= min <= max, got {depth!r}.")
  return lo, hi


def mixing_weights(key: jax.Array, width: int, alpha: float) -> tuple[jax.Array, jax.Array]:
  """AugMix's random convex weights of one image: w (width,) ~ Dirichlet(alpha) over the chains
  and the skip weight m ~ Beta(alpha, alpha) of the mix (x_aug = (1 - m) x + m sum_i w_i chain_i).

  One gamma draw serves both: Dirichlet = normalized gammas, Beta(a, a) = G1 / (G1 + G2); in log
  space for small alpha (and one sampler to compile instead of two).
  """
  log_g = jax.random.loggamma(key, jnp.full((width + 2,), alpha, jnp.float32))
  return jax.nn.softmax(log_g[:width]), jax.nn.sigmoid(log_g[width] - log_g[width + 1])


def augmix(key: jax.Array, images: jax.Array, *, width: int = 3, depth=(1, 3),
           severity: float = 3, alpha: float = 1.0) -> jax.Array:
  """AugMix of a batch of images.

  Args:
    key: a jax.random key; split into one key per image.
    images: float (N, H, W, C) in [0, 1].
    width: number of augmentation chains mixed (static, >= 1).
    depth: ops per chain, an int or an inclusive (min, max) range sampled uniformly per chain.
    severity: magnitude bound of the ops, in (0.1, 10] (AugMix's levels), static.
    alpha: Dirichlet and Beta concentration, > 0.

  Returns:
    Augmented images, same shape and dtype, values in [0, 1].
  """
  validate.check_images(images)
  validate.check_positive(width, "width", integer=True)
  lo, hi = _depth_range(depth)
  if not 0.1 < severity <= 10:
    raise ValueError(f"severity must lie in (0.1, 10], got {severity!r}.")
  validate.check_positive(alpha, "alpha")

  def chain(k, img):
    k_depth, k_steps = jax.random.split(k)
    d = jax.random.randint(k_depth, (), lo, hi + 1)
    step_keys = jax.random.split(k_steps, hi)

    def step(j, aug):
      k_op, k_mag = jax.random.split(step_keys[j])
      index = jax.random.randint(k_op, (), 0, len(ops.OPS))
      new = ops.apply_op(k_mag, aug, index, severity)
      return jnp.where(j < d, new, aug)

    return lax.fori_loop(0, hi, step, img)

  def one(k, img):
    k_mix, k_chains = jax.random.split(k)
    weights, m = mixing_weights(k_mix, width, alpha)
    chains = jax.vmap(chain, in_axes=(0, None))(jax.random.split(k_chains, width), img)
    mix = jnp.tensordot(weights, chains, axes=1)
    return jnp.clip((1 - m) * img + m * mix, 0.0, 1.0)

  x = images.astype(jnp.float32)
  out = jax.vmap(one)(jax.random.split(key, x.shape[0]), x)
  return out.astype(images.dtype)


def jsd_consistency(logits_clean: jax.Array, logits_aug1: jax.Array,
                    logits_aug2: jax.Array) -> jax.Array:
  """Jensen-Shannon consistency of AugMix: mean_i KL(p_i || M) over the three predictions.

  p_i = softmax(logits_i) for logits of shape (N, K); M = clip(mean_i p_i, 1e-7, 1) as in the
  paper's code; each KL is summed over classes and averaged over the batch. Returns a scalar
  >= 0 (up to the clipping), 0 for identical logits. The paper weights it by lambda = 12.
  """
  logs = [jax.nn.log_softmax(jnp.asarray(l, jnp.float32), axis=-1)
          for l in (logits_clean, logits_aug1, logits_aug2)]
  probs = [jnp.exp(l) for l in logs]
  log_mix = jnp.log(jnp.clip((probs[0] + probs[1] + probs[2]) / 3.0, 1e-7, 1.0))
  kls = [jnp.mean(jnp.sum(p * (l - log_mix), axis=-1)) for p, l in zip(probs, logs)]
  return (kls[0] + kls[1] + kls[2]) / 3.0

"""Fixed feature networks phi for perceptual losses (EnlightenGAN's self feature-preserving loss).

`resolve(spec) -> (feature_fn, description)`; every result must name the description:
  "vgg16:PATH"   VGG-16 (Simonyan & Zisserman) up to relu5_1, as EnlightenGAN uses, with ImageNet
                 weights from a local .npz the user supplies: keys "conv{b}_{i}/kernel"
                 (3, 3, in, out; HWIO) and "conv{b}_{i}/bias" for the 11 convs up to conv5_1;
                 inputs normalized inside by the ImageNet mean/std. rvjax never downloads.
  "digits_cnn"   the fallback when the user has no VGG file: rvjax's `cnn` classifier trained here
                 on scikit-learn's digits (FALLBACK_STEPS Adam steps, seed 0, deterministic),
                 its first two conv stages (BN running statistics, ReLU) applied to the image
                 luma. Far weaker than VGG-16: a generic edge/stroke detector, not an ImageNet one.
  "pixels"       no network: the image itself (the SFP loss then compares instance-normalized
                 pixels); the `:tiny` test configs' stand-in, which costs no training.
Features are (N, h, w, d) float32 of (N, H, W, 3) images in [0, 1].
"""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvjax.models import layers

VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512,))
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
FALLBACK_STEPS, FALLBACK_WIDTHS = 300, (32, 64)


class VGG16Features(nn.Module):
  """VGG-16's convolutions up to relu5_1 (2x2 max-pools between blocks; a block's last conv,
  relu and the pool are one `layers.ConvReluPool`, same parameters and values)."""

  @nn.compact
  def __call__(self, x):
    x = (x - jnp.asarray(IMAGENET_MEAN)) / jnp.asarray(IMAGENET_STD)
    for b, widths in enumerate(VGG16_BLOCKS, 1):
      for i, width in enumerate(widths, 1):
        name = f"conv{b}_{i}"
        if i == len(widths) and b < len(VGG16_BLOCKS):
          x = layers.ConvReluPool(width, (3, 3), padding="SAME", name=name)(x)
        else:
          x = nn.relu(nn.Conv(width, (3, 3), padding="SAME", name=name)(x))
    return x


def vgg16(path: str):
  """feature_fn of VGG-16 with the weights of `path` (.npz, see the module docstring)."""
  model = VGG16Features()
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))))
  try:
    with np.load(path, allow_pickle=False) as f:
      stored = dict(f)
  except (OSError, ValueError) as e:
    raise ValueError(f"VGG-16 weights {path!r} are not a readable .npz ({e}).") from None
  params = {}
  for layer, leaves in shapes["params"].items():
    params[layer] = {}
    for leaf, shape in leaves.items():
      key = f"{layer}/{leaf}"
      if key not in stored or stored[key].shape != shape.shape:
        raise ValueError(f"VGG-16 weights {path!r}: {key} missing or not of shape {shape.shape}.")
      params[layer][leaf] = jnp.asarray(stored[key], jnp.float32)
  return lambda images: model.apply({"params": params}, images)


@functools.cache
def _digits_trunk_variables():
  from rvjax import data as data_lib, models
  ds = data_lib.load("digits", "train")
  model = models.create("cnn", num_classes=10, widths=FALLBACK_WIDTHS)
  variables = model.init(jax.random.key(0), ds.images[:1], train=False)
  tx = optax.adam(3e-3)
  images, labels = jnp.asarray(ds.images), jnp.asarray(ds.labels)

  def loss(params, batch_stats, x, y):
    logits, new = model.apply({"params": params, "batch_stats": batch_stats}, x, train=True,
                              mutable=["batch_stats"])
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new["batch_stats"]

  def step(carry, idx):
    params, batch_stats, opt_state = carry
    (_, batch_stats), grads = jax.value_and_grad(loss, has_aux=True)(
        params, batch_stats, images[idx], labels[idx])
    updates, opt_state = tx.update(grads, opt_state)
    return (optax.apply_updates(params, updates), batch_stats, opt_state), None

  idx = np.random.default_rng(0).integers(0, len(ds.labels), (FALLBACK_STEPS, 64))
  carry = (variables["params"], variables["batch_stats"], tx.init(variables["params"]))
  (params, batch_stats, _), _ = jax.jit(lambda c, i: jax.lax.scan(step, c, i))(
      carry, jnp.asarray(idx))
  return model, {"params": params, "batch_stats": batch_stats}


def digits_cnn():
  """feature_fn of the fallback network (see the module docstring)."""
  model, variables = _digits_trunk_variables()

  def feature_fn(images):
    luma = jnp.mean(images, axis=-1, keepdims=True)
    _, inter = model.apply(variables, luma, train=False, capture_intermediates=True,
                           mutable=["intermediates"])
    return nn.relu(inter["intermediates"][f"bn{len(FALLBACK_WIDTHS) - 1}"]["__call__"][0])

  return feature_fn


def resolve(spec: str):
  """(feature_fn, description) of "vgg16:PATH", "digits_cnn" (also for an empty spec) or
  "pixels"."""
  if spec.startswith("vgg16:"):
    path = spec.split(":", 1)[1]
    return vgg16(path), f"VGG-16 relu5_1, weights {path}"
  if spec == "pixels":
    return (lambda images: images), "pixels (no feature network; tiny test configs)"
  if spec in ("", "digits_cnn"):
    return digits_cnn(), (f"digits_cnn fallback (rvjax cnn {FALLBACK_WIDTHS}, {FALLBACK_STEPS} "
                          "Adam steps on sklearn digits, no VGG weights given)")
  raise ValueError(f"feature network {spec!r}: give 'vgg16:PATH' (a local .npz), "
                   "'digits_cnn' or 'pixels'.")

"""Standard training-time augmentation, applied to the batch before any objective.

`config.augment` names a transform `f(key, images) -> images` (images (B, H, W, C) in [0, 1]):
"" (none), "flip" (left-right with p = 1/2) or "crop_flip" (pad 4 px with zeros, random crop,
then flip: the CIFAR recipe of He et al. 2016 used by the adversarial-training and
uncertainty-baselines settings). Attacks and consistency losses then see the augmented images.
"""
import jax

from rvjax import augment, validate


def crop_flip(key, images):
  """Random 4-px-padded crop, then random left-right flip; same shape, values in [0, 1]."""
  k_crop, k_flip = jax.random.split(key)
  return augment.random_flip(k_flip, augment.random_crop(k_crop, images, padding=4))


TRANSFORMS = {"flip": augment.random_flip, "crop_flip": crop_flip}


def wrap(objective, name: str):
  """`objective` evaluated on the batch transformed by TRANSFORMS[name] ("" = unchanged)."""
  if not name:
    return objective
  validate.check_choice(name, "augment", TRANSFORMS)
  transform = TRANSFORMS[name]

  def augmented(params, model_state, batch, key):
    k_aug, k_obj = jax.random.split(key)
    return objective(params, model_state, {**batch, "image": transform(k_aug, batch["image"])},
                     k_obj)

  return augmented

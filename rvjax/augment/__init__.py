"""Data augmentation: AugMix and its ops, random crop / flip.

`augmix(key, images)` and `jsd_consistency(...)` live in `augmix`; the per-image ops (`OPS`:
autocontrast, equalize, posterize, rotate, solarize, shear_x/y, translate_x/y) and the batched
`random_crop` / `random_flip` in `ops`.
"""
from rvjax.augment.augmix import augmix, jsd_consistency, mixing_weights
from rvjax.augment.ops import OPS, random_crop, random_flip

__all__ = ["OPS", "augmix", "jsd_consistency", "mixing_weights", "random_crop", "random_flip"]

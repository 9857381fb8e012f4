"""rvjax: pure-functional JAX/Flax research code for trustworthy computer vision.

`import rvjax` gives the library floors (data, models, metrics, attacks, certify, corruptions,
degrade, restore, augment, uncertainty); the training core is `rvjax.train` (imported on demand:
it pulls in orbax).
"""
from rvjax import (attacks, augment, certify, corruptions, data, degrade, metrics, models, restore,
                   uncertainty, validate)

__all__ = ["attacks", "augment", "certify", "corruptions", "data", "degrade", "metrics", "models",
           "restore", "uncertainty", "validate"]

"""rvjax: pure-functional JAX/Flax research code for trustworthy computer vision.

`import rvjax` gives the library floors (data, models, metrics, attacks, corruptions, augment,
uncertainty); the training core is `rvjax.train` (imported on demand: it pulls in orbax).
"""
from rvjax import attacks, augment, corruptions, data, metrics, models, uncertainty, validate

__all__ = ["attacks", "augment", "corruptions", "data", "metrics", "models", "uncertainty",
           "validate"]

"""rvjax: pure-functional JAX/Flax research code for trustworthy computer vision.

`import rvjax` gives the library floors (data, models, metrics, attacks, certify, corruptions,
augment, uncertainty); the training core is `rvjax.train` (imported on demand: it pulls in orbax).
"""
from rvjax import (attacks, augment, certify, corruptions, data, metrics, models, uncertainty,
                   validate)

__all__ = ["attacks", "augment", "certify", "corruptions", "data", "metrics", "models",
           "uncertainty", "validate"]

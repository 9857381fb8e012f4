"""rvjax.metrics: classification, calibration, OOD and image-quality metrics.

Classification/calibration metrics take unpadded arrays, or an optional `weights` (N,) mask that
excludes padded rows. Calibration results are fractions in [0, 1], not percent. OOD scores follow
"higher = more in-distribution" (see `rvjax.metrics.ood`).
"""
from rvjax.metrics.calibration import adaptive_ece, bin_edges, calibration_bins, classwise_ece, ece
from rvjax.metrics.classification import NLL_EPS, accuracy, brier, nll
from rvjax.metrics.energy import hyperspherical_energy
from rvjax.metrics.image_quality import psnr, rgb_to_y, ssim
from rvjax.metrics.no_reference import niqe
from rvjax.metrics.ood import (entropy, fpr_at_tpr, max_softmax, mutual_information, ood,
                               ood_scores)

__all__ = [
    "accuracy", "nll", "brier", "NLL_EPS",
    "ece", "adaptive_ece", "classwise_ece", "calibration_bins", "bin_edges",
    "ood", "fpr_at_tpr", "max_softmax", "entropy", "mutual_information", "ood_scores",
    "psnr", "ssim", "rgb_to_y", "niqe", "hyperspherical_energy",
]

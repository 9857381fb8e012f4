"""rvjax.poisoning: clean-label feature-collision poisons and feature-space filtering defences.

The evaluator that fine-tunes a victim on clean data plus poisons and reports the attack's
success is rvjax.evaluators.poisoning.
"""
from rvjax.poisoning import defences, feature_collision
from rvjax.poisoning.defences import knn_label_filter
from rvjax.poisoning.feature_collision import craft, forward_backward_step, penultimate, watermark

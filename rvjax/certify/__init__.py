"""rvjax.certify: certified robustness.

Bound propagation for flax classifiers (`bounds`: IBP, CROWN, margins, certified accuracy),
an exact MILP worst case for small ReLU MLPs (`exact`) and randomized smoothing (`smoothing`).
"""
from rvjax.certify.bounds import (certified, certified_accuracy, interval_bounds, linear_bounds,
                                  margin_lower_bounds, margin_spec)
from rvjax.certify.smoothing import smooth_certify

__all__ = ["certified", "certified_accuracy", "interval_bounds", "linear_bounds",
           "margin_lower_bounds", "margin_spec", "smooth_certify"]

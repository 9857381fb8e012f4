"""rvjax.uncertainty: deep ensembles (stacked members), MC dropout, temperature scaling.

Nothing here imports rvjax.train: the training loop hands these functions its single-member
init, step and logits functions (see `ensemble`).
"""
from rvjax.uncertainty import ensemble, mc_dropout
from rvjax.uncertainty.temperature import apply_temperature, fit_temperature

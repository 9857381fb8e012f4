"""rvjax.uncertainty: deep ensembles (stacked members), MC dropout, temperature scaling, SNGP.

Nothing here imports rvjax.train: the training loop hands these functions its single-member
init, step and logits functions (see `ensemble`).
"""
from rvjax.uncertainty import ensemble, mc_dropout, sngp
from rvjax.uncertainty.temperature import apply_temperature, fit_temperature

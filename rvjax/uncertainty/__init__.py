"""rvjax.uncertainty: temperature scaling (ensembles and MC dropout to come)."""
from rvjax.uncertainty.temperature import apply_temperature, fit_temperature

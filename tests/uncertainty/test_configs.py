"""The uncertainty configs: strict args, locked, and the fields the loop reads."""
import pytest

from configs import digits_ensemble, digits_mc_dropout, digits_temperature

CONFIGS = (digits_ensemble, digits_mc_dropout, digits_temperature)


@pytest.mark.parametrize("module", CONFIGS)
def test_configs_are_strict_and_locked(module):
  for arg in (None, "tiny"):
    config = module.get_config(arg)
    with pytest.raises(AttributeError):
      config.ensemble.nope = 1
    assert config.evals.calib.type == "calibration"
  with pytest.raises(ValueError, match="Unknown config arg 'nope'"):
    module.get_config("nope")


def test_config_fields():
  assert digits_ensemble.get_config().ensemble.size == 5
  assert digits_ensemble.get_config("size=3,formulation=vmap").ensemble.to_dict() == {
      "size": 3, "formulation": "vmap", "shared_batch": False}
  mc = digits_mc_dropout.get_config("placement=head,samples=8")
  assert mc.mc_dropout.samples == 8 and mc.model.kwargs.dropout_placement == "head"
  assert digits_temperature.get_config().calibrate_temperature
  assert digits_temperature.get_config().ensemble.size == 1

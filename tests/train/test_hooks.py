"""Hooks between steps: changing group learning rates and stopping early."""
import numpy as np
import pytest

from configs import digits_cnn
from rvjax.train import hooks, loop, optim, writers

pytestmark = pytest.mark.usefixtures("fast_compile")


@hooks.register("test_halve_lr_then_stop")
class HalveThenStop:
  def __init__(self, stop_at: int):
    self.stop_at = stop_at

  def __call__(self, step, state, ctx):
    scales = optim.lr_scales(state.opt_state)
    new = optim.set_lr_scales(state.opt_state, {g: float(v) / 2 for g, v in scales.items()})
    val_logits = ctx.predict_fn(state, ctx.val_ds.images[:32])
    return hooks.HookResult(state.replace(opt_state=new), stop=step >= self.stop_at,
                            metrics={"scale": float(scales["all"]) / 2,
                                     "val_batch_acc": float(np.mean(
                                         np.argmax(val_logits, -1) == ctx.val_ds.labels[:32]))})


def test_hook_changes_lr_and_stops_early(tmp_path):
  config = digits_cnn.get_config("tiny")
  with config.unlocked():
    config.schedule.name = "constant"
    config.schedule.warmup_steps = 0
    config.hooks = {"policy": {"type": "test_halve_lr_then_stop", "every_steps": 2, "stop_at": 4}}
  summary = loop.train_and_evaluate(config, str(tmp_path))
  assert summary["steps"] == 4 and "test/accuracy" in summary
  records = writers.read_metrics(str(tmp_path))
  assert [r["policy/scale"] for r in records if "policy/scale" in r] == [0.5, 0.25]
  lrs = [r["train/lr/all"] for r in records if "train/lr/all" in r]
  # Logged per window: steps 1-2 ran at scale 1, steps 3-4 at 1/2 (the hook ran after step 2).
  np.testing.assert_allclose(lrs[-1], 3e-3 * np.mean([1, 1, 0.5, 0.5]), rtol=1e-5)
  # Rerunning an early-stopped run does not train on.
  again = loop.train_and_evaluate(config, str(tmp_path))
  assert again["steps"] == 4


def test_unknown_hook_type():
  import pytest
  with pytest.raises(ValueError, match="Unknown hook type 'nope'"):
    hooks.create("nope")

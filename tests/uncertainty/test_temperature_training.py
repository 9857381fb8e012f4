"""Temperature scaling in the loop: T fitted on val after training, saved, used by every eval."""
import os

import jax
import numpy as np
import pytest

from configs import digits_temperature
from rvjax import data as data_lib
from rvjax import metrics
from rvjax.evaluators import predictions
from rvjax.train import checkpoint, loop, writers

pytestmark = pytest.mark.usefixtures("fast_compile")

STEPS = 120


@pytest.fixture(scope="module")
def calibrated_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("ts"))
  config = digits_temperature.get_config("tiny")
  with config.unlocked():
    config.total_steps = STEPS
    config.optimizer.lr = 1e-2
    config.schedule.update(name="constant", warmup_steps=0)
    config.checkpoint.every_steps = STEPS
    config.log_every_steps = STEPS
  summary = loop.train_and_evaluate(config, workdir)
  train_ds = data_lib.load_split(config.data, "train")
  model, _, tx, _, _ = loop.build(config, train_ds)
  mesh = loop.make_mesh(config)
  shape = (config.batch_size,) + train_ds.images.shape[1:]
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"))
  state, _ = ckpt.restore(loop.abstract_state(config, model, tx, shape, mesh))
  val_ds = data_lib.load_split(config.data, "val")
  return workdir, summary, state, loop.make_predict_fn(config, model, mesh), mesh, val_ds


def val_metrics(predict_fn, state, mesh, val_ds):
  logits = predictions.collect_logits(predict_fn, state, val_ds, batch_size=64, mesh=mesh)
  probs = predictions.softmax(logits)
  return float(metrics.ece(probs, val_ds.labels)), float(metrics.nll(probs, val_ds.labels))


def test_fitted_temperature_is_saved_and_used_by_evals(calibrated_run):
  workdir, summary, state, predict_fn, mesh, val_ds = calibrated_run
  logged = [r["calibration/temperature"] for r in writers.read_metrics(workdir)
            if "calibration/temperature" in r]
  assert len(logged) == 1 and logged[0] != 1.0
  assert float(state.temperature) == pytest.approx(logged[0], rel=1e-6)  # In the checkpoint.
  ece_t, nll_t = val_metrics(predict_fn, state, mesh, val_ds)
  assert summary["calib_val/ece"] == pytest.approx(ece_t, abs=1e-6)
  assert summary["val/loss"] == pytest.approx(nll_t, rel=1e-5)
  _, nll_1 = val_metrics(predict_fn, state.replace(temperature=np.float32(1.0)), mesh, val_ds)
  assert nll_t <= nll_1  # T minimizes the val NLL.


def test_overconfident_model_gets_temperature_above_one(calibrated_run):
  """Logits scaled x10 (head kernel and bias): T > 1, and val ECE and NLL fall."""
  _, _, state, predict_fn, mesh, val_ds = calibrated_run
  head = jax.tree.map(lambda p: p * 10.0, state.params["head"])
  overconfident = state.replace(params={**state.params, "head": head},
                                temperature=np.float32(1.0))
  ece_1, nll_1 = val_metrics(predict_fn, overconfident, mesh, val_ds)
  fitted, t = loop.fit_temperature(predict_fn, overconfident, val_ds, mesh, batch_size=64)
  assert t > 1.5 and float(fitted.temperature) == pytest.approx(t)
  ece_t, nll_t = val_metrics(predict_fn, fitted, mesh, val_ds)
  assert ece_t < 0.5 * ece_1 and nll_t < 0.5 * nll_1, (ece_1, ece_t, nll_1, nll_t)
  accuracy = lambda s: np.mean(predictions.collect_logits(
      predict_fn, s, val_ds, batch_size=64, mesh=mesh).argmax(-1) == val_ds.labels)
  assert accuracy(fitted) == accuracy(overconfident) > 0.5  # Scaling keeps the argmax.

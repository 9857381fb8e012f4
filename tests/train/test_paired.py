"""A paired image-to-image task through the loop: Train400 patches, on-device noise, resume."""
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import common
from rvjax import models
from rvjax.data import image_folder
from rvjax.train import loop, workdir as workdir_lib, writers

pytestmark = pytest.mark.usefixtures("fast_compile")

SIGMA = 25.0
TRAIN400 = image_folder.restoration_dir("Train400")
pytestmark = pytest.mark.skipif(not os.path.isdir(TRAIN400), reason=f"{TRAIN400} is absent")


class TinyDenoiser(nn.Module):
  """Two 3x3 convolutions predicting the noise (DnCNN's residual form), no classes; the last is
  zero-initialized, so the model starts as the identity."""
  features: int = 4

  @nn.compact
  def __call__(self, x, *, train):
    del train
    hidden = nn.relu(nn.Conv(self.features, (3, 3))(x))
    return x - nn.Conv(x.shape[-1], (3, 3), kernel_init=nn.initializers.zeros)(hidden)


def noise(key, images, *, sigma):
  """Gaussian noise of std sigma / 255, unclipped (the DnCNN training degradation)."""
  return images + sigma / 255.0 * jax.random.normal(key, images.shape, images.dtype)


def paired_config(**overrides):
  """The `:tiny` paired config: 16x16 grayscale Train400 patches, batch 8, 6 Adam steps."""
  c = common.base()
  c.task = "paired"
  c.data = ml_collections.ConfigDict({"name": "image_folder", "data_dir": "", "kwargs": {
      "folders": {"train": "Train400"}, "patch": 16, "channels": 1}})
  c.model.name = "tiny_denoiser"
  c.objective.name = "restoration"
  c.degrade = ml_collections.ConfigDict({"name": f"{__name__}.noise",
                                         "kwargs": {"sigma": SIGMA}})
  c.evals = ml_collections.ConfigDict()
  c.optimizer.update(name="adam", lr=3e-3)
  c.schedule.update(name="constant", warmup_steps=0)
  c.batch_size, c.total_steps, c.log_every_steps, c.checkpoint.every_steps = 8, 6, 2, 2
  c.progress = False
  c.update(overrides)
  return c


@pytest.fixture(scope="module", autouse=True)
def tiny_denoiser():
  with pytest.MonkeyPatch.context() as mp:
    mp.setitem(models._REGISTRY, "tiny_denoiser", (TinyDenoiser, {}))
    yield


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("paired"))
  return workdir, loop.train_and_evaluate(paired_config(), workdir, write_report=False)


def test_paired_run_trains_on_fresh_noise_and_predicts_images(reference):
  workdir, summary = reference
  assert summary["steps"] == 6
  logs = [r for r in writers.read_metrics(workdir) if "train/loss" in r]
  # The denoiser starts as the identity, so its l2 loss over 6 small steps is about the noise
  # variance (8 x 16 x 16 draws a step); without the on-device degradation it would be 0.
  assert [r["step"] for r in logs] == [6]
  assert 0.7 * (SIGMA / 255) ** 2 < logs[0]["train/loss"] < 1.1 * (SIGMA / 255) ** 2, logs
  config, model, state, mesh = loop.restore_workdir(workdir)
  assert config.task == "paired" and int(state.step) == 6
  clean = image_folder.patch_batch(image_folder.read_folder(TRAIN400, channels=1)[:4], 0, 0,
                                   patch=16, batch_size=8)
  out = loop.make_predict_fn(config, model, mesh)(state, jnp.asarray(clean))
  assert out.shape == clean.shape  # An image, not logits: nothing assumes classes.


def test_paired_resume_is_bit_identical(reference, tmp_path):
  workdir, _ = reference
  crashed = str(tmp_path / "crashed")
  with pytest.raises(loop.InjectedFailure):
    loop.train_and_evaluate(paired_config(fail_at_step=3), crashed, write_report=False)
  summary = loop.train_and_evaluate(paired_config(), crashed, write_report=False)
  assert summary["source"].startswith("resumed")
  want, got = loop.restore_workdir(workdir)[2], loop.restore_workdir(crashed)[2]
  jax.tree.map(np.testing.assert_array_equal, got.params, want.params)
  jax.tree.map(np.testing.assert_array_equal, got.opt_state, want.opt_state)


def test_changed_degradation_is_refused(reference):
  workdir, _ = reference
  config = paired_config()
  config.degrade.kwargs.sigma = 50.0
  with pytest.raises(workdir_lib.WorkdirError, match="degrade.kwargs.sigma: 25.0 -> 50.0"):
    loop.train_and_evaluate(config, workdir, write_report=False)


def test_paired_task_refuses_an_ensemble():
  config = paired_config()
  config.ensemble.size = 2
  with pytest.raises(ValueError, match="does not train ensembles"):
    loop.build(config, image_folder.Folder([np.zeros((20, 20, 1), np.float32)] * 8))

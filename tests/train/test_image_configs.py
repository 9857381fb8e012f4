"""The image-to-image configs train for a few steps through the one loop and evaluate: the eval's
degraded-input scores are pinned to independent references, so a config whose degradation,
folder, channel or crop settings are wired wrongly fails."""
import numpy as np
import pytest
from PIL import Image
from skimage import metrics as skm

import rvjax.degrade as D
from configs import lowlight_zerodce, restoration_deblur, restoration_dncnn, restoration_sr
from rvjax.data import image_folder, lowlight
from launch import restore as restore_cli
from rvjax.train import loop, step as step_lib

pytestmark = pytest.mark.usefixtures("fast_compile")


def _train(config, tmp_path):
  summary = loop.train_and_evaluate(config, str(tmp_path / "w"))
  assert summary["steps"] == config.total_steps
  return summary


def test_dncnn_tiny_trains_scores_bsd68_noise_and_restores_a_folder(tmp_path):
  """Then launch.restore --workdir restores a folder with the trained net: the PNGs are the
  eval-mode outputs (8-bit), and an RGB folder is refused for this 1-channel restorer."""
  s = _train(restoration_dncnn.get_config("tiny,sigma=25"), tmp_path)
  # AWGN of std 25/255 on the first BSD68 image, unclipped then clipped for scoring: ~20.2 dB.
  assert 19.9 < s["bsd68/psnr_input"] < 20.6
  assert np.isfinite(s["bsd68/psnr"])
  noisy = np.random.default_rng(0).random((24, 20, 1)).astype(np.float32)
  (tmp_path / "in").mkdir()
  Image.fromarray(np.round(noisy[..., 0] * 255).astype(np.uint8)).save(tmp_path / "in" / "n.png")
  restore = restore_cli.workdir_restorer(str(tmp_path / "w"))
  restore_cli.run(str(tmp_path / "in"), str(tmp_path / "out"), restore)
  _, model, state, _ = loop.restore_workdir(str(tmp_path / "w"))
  x = np.round(noisy * 255) / 255
  want = np.asarray(step_lib.eval_logits(model.apply, state, x[None]))[0, ..., 0]
  got = np.asarray(Image.open(tmp_path / "out" / "n.png"), np.float32) / 255
  np.testing.assert_allclose(got, np.clip(want, 0, 1), atol=0.5 / 255 + 1e-6)
  with pytest.raises(ValueError, match="1-channel"):
    restore(np.zeros((1, 8, 8, 3), np.float32))


def test_sr_tiny_input_is_bicubic_on_y(tmp_path):
  """Set5 'baby' x2 bicubic on Y with a 2-pixel crop: 37.07 dB in the SRCNN/VDSR tables."""
  s = _train(restoration_sr.get_config("tiny,model=srcnn,scale=2"), tmp_path)
  np.testing.assert_allclose(s["set5/psnr_input"], 37.07, atol=0.1)


def test_deblur_tiny_input_is_the_blurred_noisy_image(tmp_path):
  c = restoration_deblur.get_config("tiny")
  s = _train(c, tmp_path)
  im = image_folder.read_folder(image_folder.restoration_dir("BSD68"), channels=1)[0]
  import jax
  y = np.asarray(D.blur_noise(jax.random.fold_in(jax.random.key(0), 0), im[None],
                              kernel=np.asarray(c.degrade.kwargs.kernel), sigma=2.0))[0]
  want = skm.peak_signal_noise_ratio(im, np.clip(y, 0, 1), data_range=1.0)
  np.testing.assert_allclose(s["bsd68/psnr_input"], want, rtol=1e-4)


def test_zerodce_tiny_trains_on_the_offline_lowlight_set(tmp_path, monkeypatch):
  monkeypatch.setattr(lowlight, "PHOTOS_A", ())
  monkeypatch.setattr(lowlight, "PHOTOS_B", ())
  lowlight.prepare(str(tmp_path / "ll"), limit=8)  # 4 images in A: one tiny batch
  s = _train(lowlight_zerodce.get_config(f"tiny,data={tmp_path / 'll'}"), tmp_path)
  assert s["lowlight/psnr_input"] < 15  # exposure 0.15, gamma 2: far from the clean photo
  assert np.isfinite(s["lowlight/psnr"])


def test_config_args_are_checked():
  with pytest.raises(ValueError, match="sigma must be"):
    restoration_dncnn.get_config("sigma=30")
  with pytest.raises(ValueError, match="scale must be"):
    restoration_sr.get_config("scale=5")
  with pytest.raises(ValueError, match="data is required"):
    lowlight_zerodce.get_config("tiny")
  blind = restoration_dncnn.get_config("sigma=blind,budget=20")
  assert blind.model.name == "dncnn_b" and blind.degrade.kwargs.sigma_max == 55.0
  assert blind.batch_size == 16 and 500 < blind.total_steps < 800


def test_deblur_budget_builds_the_cpu_sized_xu_network():
  """The CPU variant's sizes reach the model (a misspelt or dropped kwarg would fall back to the
  paper's 121-tap, 512-channel net) and its steps follow the budget."""
  import jax
  import jax.numpy as jnp
  from rvjax import models
  c = restoration_deblur.get_config("budget=5")
  assert c.total_steps == int(5 * 60 / restoration_deblur.CPU_SECONDS_PER_STEP)
  model = models.create(c.model.name, **c.model.kwargs)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 48, 48, 1)),
                                             train=False))["params"]
  assert shapes["deconv_rows"]["kernel"].shape == (1, 41, 1, 16)
  assert shapes["denoise_1"]["kernel"].shape == (5, 5, 1, 64)

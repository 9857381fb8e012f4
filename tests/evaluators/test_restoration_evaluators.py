"""The restoration-quality and enhance-then-classify evaluators against hand computations."""
import os
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from skimage import metrics as skm

import rvjax.degrade as D
import rvjax.restore as R
from rvjax import data as data_lib
from rvjax import evaluators, metrics, sharding
from rvjax.report import records

STATE = types.SimpleNamespace(step=np.int32(0))


def _folder(tmp_path, shapes, mode="L"):
  rng = np.random.default_rng(0)
  ims = []
  for i, shape in enumerate(shapes):
    u8 = rng.integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(u8, mode).save(tmp_path / f"im{i}.png")
    ims.append(u8.astype(np.float32) / 255)
  return str(tmp_path), ims


def test_restoration_eval_matches_skimage_with_fixed_noise(tmp_path):
  """Identity restorer on noisy copies: the degraded inputs are drawn with fold_in(key(seed), i)
  per image (a different key or shared noise fails), scored clipped, as skimage scores them."""
  folder, ims = _folder(tmp_path, [(24, 20), (20, 28)])
  ev = evaluators.create("restoration", lambda s, x: x, folder=folder, seed=3, crop=2,
                         degrade={"name": "rvjax.degrade.gaussian_noise",
                                  "kwargs": {"sigma": 25.0}})
  r = dict(ev.run(STATE))
  want_psnr, want_ssim = [], []
  for i, im in enumerate(ims):
    x = im[..., None][None]
    y = np.clip(np.asarray(D.gaussian_noise(jax.random.fold_in(jax.random.key(3), i), x,
                                            sigma=25.0))[0, 2:-2, 2:-2, 0], 0, 1)
    ref = im[2:-2, 2:-2]
    want_psnr.append(skm.peak_signal_noise_ratio(ref, y, data_range=1.0))
    want_ssim.append(skm.structural_similarity(ref, y, data_range=1.0, gaussian_weights=True,
                                               sigma=1.5, use_sample_covariance=False))
  np.testing.assert_allclose(r["psnr_per_image"], want_psnr, rtol=1e-4)
  np.testing.assert_allclose(r["ssim_per_image"], want_ssim, rtol=1e-3, atol=1e-4)
  np.testing.assert_allclose(r["psnr"], r["psnr_input"], rtol=1e-6)
  assert 19 < r["psnr"] < 22  # sigma 25: about 20.2 dB


def test_restoration_eval_keeps_centre_crops_for_the_report(tmp_path):
  """With the run's workdir and the eval's name, the first `samples` images are saved as centre
  crops: the identity restorer's output equals the clipped degraded input, and the clean crop
  is the image's own centre (a crop at another place, or unclipped noise, fails)."""
  (tmp_path / "ims").mkdir()
  folder, ims = _folder(tmp_path / "ims", [(24, 20), (20, 28), (22, 22)])
  work = str(tmp_path / "run")
  ev = evaluators.create("restoration", lambda s, x: x, folder=folder, samples=2, sample_size=16,
                         workdir=work, name="bsd",
                         degrade={"name": "rvjax.degrade.gaussian_noise", "kwargs": {"sigma": 50.0}})
  dict(ev.run(STATE))
  got = records.read_samples(work, "bsd")
  assert list(got) == ["degraded", "restored", "clean"]
  assert all(v.shape == (2, 16, 16, 1) for v in got.values())
  np.testing.assert_allclose(got["clean"][0, ..., 0], ims[0][4:20, 2:18])
  np.testing.assert_allclose(got["clean"][1, ..., 0], ims[1][2:18, 6:22])
  np.testing.assert_array_equal(got["restored"], got["degraded"])
  assert got["degraded"].min() >= 0 and got["degraded"].max() <= 1
  assert np.abs(got["degraded"] - got["clean"]).mean() > 0.05
  # Without the context (benchmarks calling run() directly) nothing is written.
  dict(evaluators.create("restoration", lambda s, x: x, folder=folder, name="x").run(STATE))
  assert records.read_samples(str(tmp_path), "x") == {} and not os.path.exists(
      os.path.join(str(tmp_path), records.SAMPLES_DIR))


def test_restoration_eval_sr_crops_the_reference_and_scores_y(tmp_path):
  """x3 SR input of RGB images whose sides are not multiples of 3: the reference is cropped
  top-left to the input's size; a restorer 1e-3 off the clean Y scores 60 dB."""
  folder, ims = _folder(tmp_path, [(19, 20, 3)], mode="RGB")
  y = np.round(np.asarray(metrics.rgb_to_y(ims[0][None]))[0] * 255) / 255
  oracle = lambda s, x: jnp.asarray(y[None, :x.shape[1], :x.shape[2]] + 1e-3)
  ev = evaluators.create("restoration", oracle, folder=folder, y_channel=True, crop=3,
                         degrade={"name": "rvjax.degrade.sr_input", "kwargs": {"factor": 3}})
  r = dict(ev.run(STATE))
  np.testing.assert_allclose(r["psnr"], 60.0, atol=1e-2)  # 10 log10(1 / 1e-6)
  bicubic = np.asarray(D.sr_input(None, jnp.asarray(y)[None], factor=3))[0]
  assert bicubic.shape == (18, 18, 1)
  want = skm.peak_signal_noise_ratio(y[3:15, 3:15], np.clip(bicubic[3:15, 3:15], 0, 1), data_range=1)
  np.testing.assert_allclose(r["psnr_input"], want, rtol=1e-4)


def _centroid_classifier(train):
  means = jnp.asarray(np.stack([train.images[train.labels == k].mean(0)
                                for k in range(train.num_classes)]))
  return lambda state, x: -jnp.sum((x[:, None] - means[None]) ** 2, axis=(2, 3, 4))


def test_enhance_classify_accuracy_on_degraded_and_restored(digits_data):
  """Accuracies equal the classifier's on images degraded / restored by hand (a restorer that is
  not applied, or a degradation drawn with another key, changes them); an oracle restorer that
  returns the clean images gives the clean accuracy."""
  train = data_lib.load("digits", "train")
  test = data_lib.load("digits", "test")
  predict = _centroid_classifier(train)
  clean = jnp.asarray(test.images[:100])
  ev = evaluators.create(
      "enhance_classify", predict, data=digits_data, mesh=sharding.make_mesh(), batch_size=32,
      num_examples=100, seed=5,
      degradations={"dark": {"name": "rvjax.degrade.low_light",
                             "kwargs": {"exposure": 0.15, "gamma": 2.0}}},
      restorers={"gamma": {"fn": "rvjax.restore.gamma_brighten", "kwargs": {"target_mean": 0.3}},
                 "oracle": lambda x: clean})
  r = dict(ev.run(STATE))
  acc = lambda x: float(np.mean(np.argmax(predict(None, x), -1) == test.labels[:100]))
  dark = D.low_light(jax.random.fold_in(jax.random.key(5), 0), clean, exposure=0.15, gamma=2.0)
  np.testing.assert_allclose(r["clean/accuracy"], acc(clean))
  np.testing.assert_allclose(r["dark/accuracy"], acc(dark))
  np.testing.assert_allclose(r["dark/gamma/accuracy"],
                             acc(R.gamma_brighten(dark, target_mean=0.3)))
  np.testing.assert_allclose(r["dark/oracle/accuracy"], r["clean/accuracy"])
  assert r["dark/accuracy"] < r["dark/gamma/accuracy"] < r["clean/accuracy"]
  np.testing.assert_allclose(r["dark/psnr"],
                             np.mean(np.asarray(metrics.psnr(dark, clean))), rtol=1e-5)
  with pytest.raises(ValueError, match="restorer 'bad'"):
    evaluators.create("enhance_classify", predict, data=digits_data, mesh=sharding.make_mesh(),
                      batch_size=32, degradations={"dark": {"name": "rvjax.degrade.low_light"}},
                      restorers={"bad": {"kwargs": {}}})

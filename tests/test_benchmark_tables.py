"""The restoration tables' method wiring (benchmarks/bsd68_denoise.py, set5_sr.py): named trained
restorers, and the deblurring mode's input and classical deconvolution; the interleaved timing
of benchmarks/common.py."""
import jax
import numpy as np
import pytest

import rvjax.degrade as D
import rvjax.restore as R
from benchmarks import bsd68_denoise, common
from rvjax.degrade import kernels


def test_workdirs_are_named_and_names_cannot_clash():
  got = bsd68_denoise.parse_workdirs(["/r/a", "dncnn=/r/b=c"], ("noisy",))
  assert got == {"workdir": "/r/a", "dncnn": "/r/b=c"}
  with pytest.raises(SystemExit, match="'dncnn'"):
    bsd68_denoise.parse_workdirs(["dncnn=/a", "dncnn=/b"])
  with pytest.raises(SystemExit, match="'noisy'"):
    bsd68_denoise.parse_workdirs(["noisy=/a"], bsd68_denoise.CLASSICAL)


def test_deblur_mode_blurs_then_noises_and_deconvolves_with_the_true_kernel():
  """The --blur input is blur_noise with the image's key (not plain AWGN), and method "wiener"
  is rvjax.restore.wiener with that kernel and the chosen balance."""
  x = np.random.default_rng(0).random((20, 24, 1)).astype(np.float32)
  k = np.asarray(kernels.gaussian(5, 1.0))
  key = jax.random.key(3)
  y = bsd68_denoise.degrade(key, x, 2.0, k)
  np.testing.assert_allclose(y, np.asarray(D.blur_noise(key, x[None], kernel=k, sigma=2.0))[0])
  assert not np.allclose(y, bsd68_denoise.degrade(key, x, 2.0, None), atol=1e-3)
  out = bsd68_denoise.restorer("wiener", 2.0, {}, k)(y[None])
  want = R.wiener(y[None], kernel=k, balance=bsd68_denoise.DECONV_BALANCE["wiener"])
  np.testing.assert_allclose(out, want)
  with pytest.raises(SystemExit, match="needs --blur"):
    bsd68_denoise.restorer("tikhonov", 2.0, {}, None)


def test_fastest_interleaved_calls_each_once_per_round_and_keeps_the_fastest(monkeypatch):
  """On a scripted clock: one warm-up call each (not counted, though fastest here), then rounds
  of a, b in turn; each result is that call's smallest duration, not its median or the first."""
  clock, order = [0.0], []
  durations = {"a": iter([1, 9, 5, 7]), "b": iter([1, 4, 8, 3])}

  def call(name):
    def fn():
      order.append(name)
      clock[0] += next(durations[name])
    return fn

  monkeypatch.setattr(common.time, "perf_counter", lambda: clock[0])
  assert common.fastest_interleaved([(call("a"), ()), (call("b"), ())], rounds=3) == [5, 3]
  assert order == ["a", "b"] + ["a", "b"] * 3
  with pytest.raises(ValueError, match="rounds must be at least 1, got 0"):
    common.fastest_interleaved([(call("a"), ())], rounds=0)

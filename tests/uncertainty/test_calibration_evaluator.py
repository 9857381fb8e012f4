"""The "calibration" evaluator: rvjax.metrics values on the predict_fn's logits, reliability
bins, and the post-hoc temperature fitted on held-out data."""
import types

import jax.numpy as jnp
import numpy as np
import pytest

from rvjax import data as data_lib
from rvjax import evaluators, metrics, sharding, uncertainty
from rvjax.evaluators import predictions


def _least_squares_weights(scale=20.0):
  """A linear classifier fitted to the first 200 training digits, its logits scaled to be
  overconfident: accurate enough that the best temperature is well inside (0.01, 100) and
  differs between splits."""
  train = data_lib.load("digits", "train")
  x = train.images[:200].reshape(200, -1)
  w = np.linalg.lstsq(x, np.eye(10)[train.labels[:200]], rcond=None)[0]
  return (scale * w).astype(np.float32)


W = _least_squares_weights()
STATE = types.SimpleNamespace(step=np.int32(7))


def predict_fn(state, images):
  """A fixed linear classifier; `state` carries nothing but its step."""
  del state
  return jnp.reshape(images, (images.shape[0], -1)) @ W


def _logits(data, split):
  ds = data_lib.load_split(data, split)  # 360 test examples: the last batch is padded.
  return np.reshape(ds.images, (len(ds), -1)) @ W, ds.labels


def test_values_match_metrics_on_the_same_logits(digits_data):
  ev = evaluators.create("calibration", predict_fn, data=digits_data, mesh=sharding.make_mesh(),
                         split="test", batch_size=64, num_bins=10, temperature_split="val")
  results = dict(ev.run(STATE))
  logits, labels = _logits(digits_data, "test")
  probs = predictions.softmax(logits)
  want = {"accuracy": metrics.accuracy(probs, labels), "nll": metrics.nll(probs, labels),
          "brier": metrics.brier(probs, labels), "ece": metrics.ece(probs, labels, num_bins=10),
          "adaptive_ece": metrics.adaptive_ece(probs, labels, num_bins=10),
          "classwise_ece": metrics.classwise_ece(probs, labels, num_bins=10)}
  for k, v in want.items():
    np.testing.assert_allclose(results[k], float(v), rtol=1e-5, atol=1e-6, err_msg=k)
  # Reliability bins: counts are the examples per equal-width confidence bin.
  conf = probs.max(-1)
  np.testing.assert_array_equal(results["reliability/count"],
                                np.histogram(conf, bins=np.linspace(0, 1, 11))[0])
  # The temperature is fitted on val (not test) and the ts/ metrics use logits / T.
  t = uncertainty.fit_temperature(*_logits(digits_data, "val"))
  np.testing.assert_allclose(results["ts/temperature"], t, rtol=1e-5)
  scaled = predictions.softmax(logits / t)
  np.testing.assert_allclose(results["ts/ece"], metrics.ece(scaled, labels, num_bins=10),
                             rtol=1e-4, atol=1e-6)
  assert 1.5 < t < 90  # Overconfident W, fit inside the bounds: a fit returning 1 would fail.
  t_test = uncertainty.fit_temperature(logits, labels)
  assert abs(t_test - t) > 1e-3 * t  # Fitting on the evaluated split would be caught above.
  assert results["ts/nll"] < results["nll"]


def test_temperature_split_must_be_held_out(digits_data):
  with pytest.raises(ValueError, match="temperature_split='test' is the evaluated split"):
    evaluators.create("calibration", predict_fn, data=digits_data, mesh=sharding.make_mesh(),
                      split="test", batch_size=64, temperature_split="test")

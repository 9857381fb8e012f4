"""The "calibration" evaluator: rvjax.metrics values on the predict_fn's logits, and its diagram."""
import os
import types

import jax.numpy as jnp
import numpy as np

from rvjax import evaluators, metrics, sharding
from rvjax.evaluators import predictions

W = np.random.default_rng(0).normal(size=(64, 10)).astype(np.float32) * 3


def predict_fn(state, images):
  """A fixed linear classifier; `state` carries nothing but its step."""
  del state
  return jnp.reshape(images, (images.shape[0], -1)) @ W


def test_values_match_metrics_on_the_same_logits(tmp_path, digits_data):
  ev = evaluators.create("calibration", predict_fn, data=digits_data, mesh=sharding.make_mesh(),
                         split="test", batch_size=64, num_bins=10, workdir=str(tmp_path))
  results = dict(ev.run(types.SimpleNamespace(step=np.int32(7))))
  ds = predictions.load_split(digits_data, "test")  # 360 examples: the last batch is padded.
  probs = predictions.softmax(np.reshape(ds.images, (len(ds), -1)) @ W)
  want = {"accuracy": metrics.accuracy(probs, ds.labels), "nll": metrics.nll(probs, ds.labels),
          "brier": metrics.brier(probs, ds.labels),
          "ece": metrics.ece(probs, ds.labels, num_bins=10),
          "adaptive_ece": metrics.adaptive_ece(probs, ds.labels, num_bins=10),
          "classwise_ece": metrics.classwise_ece(probs, ds.labels, num_bins=10)}
  assert list(results) == list(want)
  for k, v in want.items():
    np.testing.assert_allclose(results[k], float(v), rtol=1e-5, atol=1e-6, err_msg=k)
  assert 0 < results["ece"] < 1 and results["accuracy"] > 0.1
  path = os.path.join(tmp_path, "plots", "reliability_test_7.png")
  assert ev.diagram_path(7) == path and os.path.getsize(path) > 1000
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_without_workdir_writes_nothing(tmp_path, monkeypatch, digits_data):
  monkeypatch.chdir(tmp_path)
  ev = evaluators.create("calibration", predict_fn, data=digits_data, mesh=sharding.make_mesh(),
                         split="val", batch_size=64)
  assert len(dict(ev.run(types.SimpleNamespace(step=np.int32(0))))) == 6
  assert ev.diagram_path(0) is None and not os.listdir(tmp_path)

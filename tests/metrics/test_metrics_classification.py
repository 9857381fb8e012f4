"""accuracy, nll, brier against numpy formulas and scikit-learn."""
import jax
import numpy as np
from sklearn.metrics import brier_score_loss, log_loss

from rvjax import metrics


def _data(n=200, k=5, seed=0):
  rng = np.random.default_rng(seed)
  logits = rng.normal(size=(n, k)).astype(np.float32) * 2
  probs = np.exp(logits - logits.max(1, keepdims=True))
  probs = (probs / probs.sum(1, keepdims=True)).astype(np.float32)
  labels = rng.integers(0, k, size=n).astype(np.int32)
  return logits, probs, labels


def test_accuracy_matches_numpy_on_logits_and_probs():
  logits, probs, labels = _data()
  want = np.mean(logits.argmax(1) == labels)
  np.testing.assert_allclose(metrics.accuracy(logits, labels), want, rtol=1e-6)
  np.testing.assert_allclose(metrics.accuracy(probs, labels), want, rtol=1e-6)


def test_nll_matches_numpy_and_sklearn():
  _, probs, labels = _data()
  want = -np.mean(np.log(probs[np.arange(len(labels)), labels]))
  got = metrics.nll(probs, labels)
  p64 = probs.astype(np.float64)
  np.testing.assert_allclose(got, want, rtol=1e-5)
  np.testing.assert_allclose(got, log_loss(labels, p64 / p64.sum(1, keepdims=True), labels=range(5)),
                             rtol=1e-5)


def test_nll_clips_zero_probability():
  probs = np.array([[1.0, 0.0], [0.5, 0.5]], np.float32)
  got = metrics.nll(probs, np.array([1, 0], np.int32))
  np.testing.assert_allclose(got, (-np.log(metrics.NLL_EPS) + np.log(2)) / 2, rtol=1e-5)


def test_brier_matches_numpy_and_sklearn_binary():
  _, probs, labels = _data()
  onehot = np.eye(5)[labels]
  want = np.mean(np.sum((probs - onehot) ** 2, 1))
  np.testing.assert_allclose(metrics.brier(probs, labels), want, rtol=1e-5)
  # Binary: sklearn's brier_score_loss is mean (p1 - y)^2, i.e. half our sum over both classes.
  _, p2, y2 = _data(k=2, seed=1)
  np.testing.assert_allclose(metrics.brier(p2, y2), 2 * brier_score_loss(y2, p2[:, 1]), rtol=1e-5)


def test_weights_mask_out_padded_rows():
  logits, probs, labels = _data(n=50)
  pad_p = np.concatenate([probs, np.zeros((7, 5), np.float32)])  # padded rows are not probabilities
  pad_l = np.concatenate([labels, -np.ones(7, np.int32)])
  mask = np.r_[np.ones(50), np.zeros(7)].astype(np.float32)
  for fn in (metrics.accuracy, metrics.nll, metrics.brier):
    np.testing.assert_allclose(fn(pad_p, pad_l, weights=mask), fn(probs, labels), rtol=1e-6)


def test_jit_compatible():
  _, probs, labels = _data()
  for fn in (metrics.accuracy, metrics.nll, metrics.brier):
    np.testing.assert_allclose(jax.jit(fn)(probs, labels), fn(probs, labels), rtol=1e-6)

"""ece, adaptive_ece, classwise_ece against direct numpy loops; bin-edge conventions."""
import jax
import numpy as np
import pytest

from rvjax import metrics


def _edges(b):
  return (np.arange(b + 1) / b).astype(np.float32)


def ref_ece(probs, labels, b):
  """Loop over bins (lo, hi], first bin [0, hi]: the documented convention."""
  conf = probs.max(1).astype(np.float32)
  correct = probs.argmax(1) == labels
  e, total = _edges(b), 0.0
  for i in range(b):
    inb = (conf <= e[i + 1]) & ((conf > e[i]) if i > 0 else True)
    if i == b - 1:
      inb |= conf > 1  # rounding above 1 goes to the last bin
    if inb.sum():
      total += inb.mean() * abs(correct[inb].mean() - conf[inb].mean())
  return total


def ref_adaptive(probs, labels, b):
  conf = probs.max(1)
  correct = (probs.argmax(1) == labels).astype(float)
  order = np.argsort(conf, kind="stable")
  conf, correct, n = conf[order], correct[order], len(conf)
  total = 0.0
  for i in range(b):
    inb = (np.arange(n) * b) // n == i
    if inb.sum():
      total += inb.mean() * abs(correct[inb].mean() - conf[inb].mean())
  return total


def _sce_class(p, hit, b):
  e, total = _edges(b), 0.0
  for i in range(b):
    inb = (p <= e[i + 1]) & ((p > e[i]) if i > 0 else True)
    if inb.sum():
      total += inb.mean() * abs(hit[inb].mean() - p[inb].mean())
  return total


def _data(n=500, k=4, seed=0, scale=2.0):
  rng = np.random.default_rng(seed)
  z = rng.normal(size=(n, k)) * scale
  p = np.exp(z - z.max(1, keepdims=True))
  p = (p / p.sum(1, keepdims=True)).astype(np.float32)
  labels = rng.integers(0, k, size=n).astype(np.int32)
  return p, labels


@pytest.mark.parametrize("b", [1, 10, 15])
def test_ece_matches_numpy_loop(b):
  p, y = _data()
  np.testing.assert_allclose(metrics.ece(p, y, num_bins=b), ref_ece(p, y, b), atol=1e-6)


def test_ece_one_bin_is_accuracy_minus_confidence():
  p, y = _data(seed=3)
  want = abs(np.mean(p.argmax(1) == y) - p.max(1).mean())
  np.testing.assert_allclose(metrics.ece(p, y, num_bins=1), want, atol=1e-6)


def test_bin_edges_upper_inclusive_and_one_in_last_bin():
  # Binary confidences exactly on edges of 5 bins (0.6, 0.8), inside (0.5, 0.7), and 1.0.
  conf = np.array([0.6, 0.8, 1.0, 0.7, 0.5], np.float32)
  p = np.stack([conf, 1 - conf], 1)
  y = np.zeros(5, np.int32)
  s = metrics.calibration_bins(p, y, num_bins=5)
  # (0.4, 0.6] holds 0.5 and 0.6; (0.6, 0.8] holds 0.7 and 0.8; (0.8, 1] holds 1.0.
  np.testing.assert_array_equal(np.asarray(s["count"]), [0, 0, 2, 2, 1])
  np.testing.assert_allclose(s["confidence"], [0, 0, 0.55, 0.75, 1.0], atol=1e-6)
  np.testing.assert_allclose(s["accuracy"], [0, 0, 1, 1, 1])
  np.testing.assert_allclose(metrics.ece(p, y, num_bins=5), ref_ece(p, y, 5), atol=1e-7)


def test_every_inner_edge_goes_to_the_lower_bin():
  b = 10
  conf = np.array([k / b for k in range(5, b + 1)], np.float32)  # 0.5 .. 1.0, all on edges
  p = np.stack([conf, 1 - conf], 1)
  s = metrics.calibration_bins(p, np.zeros(len(conf), np.int32), num_bins=b)
  np.testing.assert_array_equal(np.asarray(s["count"]), [0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
  # Confidence 0.5 is on the edge 5/10: bin 4 = (0.4, 0.5]; 1.0 in the last bin.
  np.testing.assert_allclose(s["confidence"][4], 0.5)
  np.testing.assert_allclose(s["confidence"][9], 1.0)


def test_all_confident_and_correct_gives_zero():
  ones = np.tile(np.array([[1.0, 0.0]], np.float32), (4, 1))
  y = np.zeros(4, np.int32)
  assert float(metrics.ece(ones, y)) == 0.0
  assert float(metrics.adaptive_ece(ones, y)) == 0.0
  # Class 1 has p = 0 everywhere: the closed first bin [0, 1/B] holds it, again no error.
  assert float(metrics.classwise_ece(ones, y)) == 0.0


def test_classwise_probability_zero_and_edges_match_loop():
  p = np.array([[0.0, 0.2, 0.8], [0.4, 0.6, 0.0], [0.2, 0.2, 0.6], [1.0, 0.0, 0.0]], np.float32)
  y = np.array([2, 0, 1, 0], np.int32)
  want = np.mean([_sce_class(p[:, k], y == k, 5) for k in range(3)])
  np.testing.assert_allclose(metrics.classwise_ece(p, y, num_bins=5), want, atol=1e-7)


def test_ece_of_calibrated_samples_is_small():
  rng = np.random.default_rng(0)
  p, _ = _data(n=20000, seed=1)
  # Labels drawn from the predicted distribution: calibrated by construction.
  y = (rng.random((len(p), 1)) > np.cumsum(p, 1)).sum(1).astype(np.int32)
  assert float(metrics.ece(p, y)) < 0.02
  assert float(metrics.adaptive_ece(p, y)) < 0.02
  assert float(metrics.classwise_ece(p, y)) < 0.01
  # And an overconfident version is clearly miscalibrated.
  q = p ** 4 / np.sum(p ** 4, 1, keepdims=True)
  assert float(metrics.ece(q, y)) > 0.1


@pytest.mark.parametrize("n,b", [(500, 15), (450, 15), (7, 15), (100, 1)])
def test_adaptive_ece_matches_numpy_loop(n, b):
  p, y = _data(n=n, seed=2)
  np.testing.assert_allclose(metrics.adaptive_ece(p, y, num_bins=b), ref_adaptive(p, y, b),
                             atol=1e-6)


def test_adaptive_bins_are_equal_mass():
  p, y = _data(n=450, seed=5)
  conf = np.sort(p.max(1))
  correct = (p.argmax(1) == y)[np.argsort(p.max(1), kind="stable")]
  want = np.mean([abs(c.mean() - a.mean())
                  for c, a in zip(np.array_split(conf, 15), np.array_split(correct, 15))])
  np.testing.assert_allclose(metrics.adaptive_ece(p, y), want, atol=1e-6)


@pytest.mark.parametrize("b", [1, 15])
def test_classwise_ece_matches_numpy_loop(b):
  p, y = _data(seed=4)
  want = np.mean([_sce_class(p[:, k], y == k, b) for k in range(p.shape[1])])
  np.testing.assert_allclose(metrics.classwise_ece(p, y, num_bins=b), want, atol=1e-6)


def test_weights_equal_unpadded_and_jit():
  p, y = _data(n=300, seed=6)
  pad_p = np.concatenate([p, np.zeros((20, 4), np.float32)])
  pad_y = np.concatenate([y, np.zeros(20, np.int32)])
  mask = np.r_[np.ones(300), np.zeros(20)].astype(np.float32)
  for fn in (metrics.ece, metrics.adaptive_ece, metrics.classwise_ece):
    want = fn(p, y)
    np.testing.assert_allclose(fn(pad_p, pad_y, weights=mask), want, atol=1e-6)
    jitted = jax.jit(lambda a, b, w: fn(a, b, weights=w, num_bins=15))
    np.testing.assert_allclose(jitted(pad_p, pad_y, mask), want, atol=1e-6)

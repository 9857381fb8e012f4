"""Bad inputs raise ValueError naming the problem; value checks are skipped under jit."""
import jax
import numpy as np
import pytest

from rvjax import metrics

P = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
Y = np.array([0, 2], np.int32)
PROB_FNS = [metrics.nll, metrics.brier, metrics.ece, metrics.adaptive_ece, metrics.classwise_ece]


@pytest.mark.parametrize("fn", PROB_FNS)
def test_probabilities_must_sum_to_one(fn):
  with pytest.raises(ValueError, match="sum to 1"):
    fn(P * 1.1, Y)


@pytest.mark.parametrize("fn", PROB_FNS)
def test_probabilities_must_be_non_negative(fn):
  bad = np.array([[1.2, -0.2, 0.0], [0.1, 0.1, 0.8]], np.float32)
  with pytest.raises(ValueError, match="negative"):
    fn(bad, Y)


@pytest.mark.parametrize("fn", PROB_FNS + [metrics.accuracy])
def test_label_length_mismatch(fn):
  with pytest.raises(ValueError, match="lengths must match"):
    fn(P, np.array([0, 1, 2], np.int32))
  with pytest.raises(ValueError, match="lengths must match"):  # static: also under jit
    jax.jit(fn)(P, np.array([0], np.int32))


@pytest.mark.parametrize("fn", PROB_FNS + [metrics.accuracy])
def test_labels_out_of_range(fn):
  with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
    fn(P, np.array([0, 3], np.int32))
  with pytest.raises(ValueError, match="integers"):
    fn(P, np.array([0.0, 1.0], np.float32))


@pytest.mark.parametrize("fn", [metrics.ece, metrics.adaptive_ece, metrics.classwise_ece,
                                metrics.calibration_bins])
def test_num_bins_must_be_positive(fn):
  with pytest.raises(ValueError, match="num_bins"):
    fn(P, Y, num_bins=0)
  with pytest.raises(ValueError, match="num_bins"):
    fn(P, Y, num_bins=2.5)


def test_shapes_and_weights():
  with pytest.raises(ValueError, match=r"shape \(N, K\)"):
    metrics.ece(P[0], Y)
  with pytest.raises(ValueError, match="weights must have shape"):
    metrics.ece(P, Y, weights=np.ones(3, np.float32))
  with pytest.raises(ValueError, match="weights must be >= 0"):
    metrics.ece(P, Y, weights=np.array([1.0, -1.0], np.float32))
  with pytest.raises(ValueError, match="weights sum to 0"):
    metrics.nll(P, Y, weights=np.zeros(2, np.float32))


def test_value_checks_skipped_under_jit():
  # Traced values cannot be checked; the result is computed on whatever was passed.
  assert np.isfinite(float(jax.jit(metrics.nll)(P * 1.1, Y)))


def test_score_functions_reject_non_probabilities():
  with pytest.raises(ValueError, match="sum to 1"):
    metrics.entropy(P * 2)
  with pytest.raises(ValueError, match="member_probs must have rank 3"):
    metrics.mutual_information(P)
  with pytest.raises(ValueError, match="negative"):
    metrics.max_softmax(P - 0.2)


def test_ood_bad_scores():
  with pytest.raises(ValueError, match="score_in is empty"):
    metrics.ood(np.array([]), np.array([1.0]))
  with pytest.raises(ValueError, match="score_out must be a rank-1"):
    metrics.ood(np.array([1.0]), np.ones((2, 2)))
  with pytest.raises(ValueError, match="NaN or inf"):
    metrics.ood(np.array([1.0, np.nan]), np.array([1.0]))
  with pytest.raises(ValueError, match="tpr must lie"):
    metrics.fpr_at_tpr(np.array([1.0]), np.array([1.0]), tpr=0.0)


def test_image_quality_bad_inputs():
  x = np.zeros((1, 16, 16, 3), np.float32)
  with pytest.raises(ValueError, match="same shape"):
    metrics.psnr(x, x[:, :8])
  with pytest.raises(ValueError, match="rank-4 NHWC"):
    metrics.ssim(x[0], x[0])
  with pytest.raises(ValueError, match="at least 11x11"):
    metrics.ssim(x[:, :10], x[:, :10])
  with pytest.raises(ValueError, match="floating point"):
    metrics.psnr(x.astype(np.uint8), x.astype(np.uint8))
  with pytest.raises(ValueError, match="data_range must be > 0"):
    metrics.psnr(x, x, data_range=0.0)

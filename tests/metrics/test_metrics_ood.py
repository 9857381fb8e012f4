"""ood against scikit-learn; fpr95 against a numpy threshold computation; score functions."""
import jax
import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from rvjax import metrics


def _sk(s_in, s_out):
  y = np.r_[np.ones(len(s_in)), np.zeros(len(s_out))]
  s = np.r_[s_in, s_out]
  fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
  return dict(auroc=roc_auc_score(y, s), aupr_in=average_precision_score(y, s),
              aupr_out=average_precision_score(1 - y, -s),
              fpr95=fpr[np.argmax(tpr >= 0.95)])


@pytest.mark.parametrize("n_in,n_out,ties", [(300, 200, False), (100, 257, True), (20, 20, True)])
def test_ood_matches_sklearn(n_in, n_out, ties):
  rng = np.random.default_rng(n_in)
  s_in = rng.normal(1.0, 1.0, n_in)
  s_out = rng.normal(0.0, 1.0, n_out)
  if ties:  # quantized scores produce many ties, across and within the two sets
    s_in, s_out = np.round(s_in * 2) / 2, np.round(s_out * 2) / 2
  got, want = metrics.ood(s_in, s_out), _sk(s_in, s_out)
  for key in want:
    np.testing.assert_allclose(got[key], want[key], atol=1e-12, err_msg=key)


def test_fpr95_numpy_threshold():
  rng = np.random.default_rng(1)
  s_in, s_out = rng.random(1000), rng.random(400) * 0.8
  t = np.sort(s_in)[::-1][int(np.ceil(0.95 * 1000)) - 1]  # the 950-th largest in-score
  assert np.mean(s_in >= t) >= 0.95
  np.testing.assert_allclose(metrics.ood(s_in, s_out)["fpr95"], np.mean(s_out >= t))
  np.testing.assert_allclose(metrics.fpr_at_tpr(s_in, s_out, 0.95), np.mean(s_out >= t))


def test_perfect_and_reversed_separation():
  s_in, s_out = np.arange(10.0) + 100, np.arange(7.0)
  r = metrics.ood(s_in, s_out)
  assert r == dict(auroc=1.0, aupr_in=1.0, aupr_out=1.0, fpr95=0.0)
  r = metrics.ood(s_out, s_in)
  assert r["auroc"] == 0.0 and r["fpr95"] == 1.0


def test_scores_entropy_mutual_information():
  rng = np.random.default_rng(0)
  m = rng.dirichlet(np.ones(4), size=(3, 6)).astype(np.float32)  # (M, N, K)
  p = m.mean(0)
  h = lambda q: -np.sum(np.where(q > 0, q * np.log(np.where(q > 0, q, 1)), 0), -1)
  np.testing.assert_allclose(metrics.max_softmax(p), p.max(1), rtol=1e-6)
  np.testing.assert_allclose(metrics.entropy(p), h(p), rtol=1e-5)
  np.testing.assert_allclose(metrics.mutual_information(m), h(p) - h(m).mean(0), atol=1e-6)
  # 0 log 0 = 0; identical members carry no mutual information.
  np.testing.assert_allclose(metrics.entropy(np.array([[1.0, 0.0]], np.float32)), [0.0])
  np.testing.assert_allclose(metrics.mutual_information(np.stack([p, p])), 0.0, atol=1e-6)
  s = metrics.ood_scores(member_probs=m)
  np.testing.assert_allclose(s["neg_entropy"], -h(p), rtol=1e-5)
  np.testing.assert_allclose(s["neg_mutual_information"], -(h(p) - h(m).mean(0)), atol=1e-6)
  np.testing.assert_allclose(jax.jit(metrics.mutual_information)(m), metrics.mutual_information(m),
                             atol=1e-6)


def test_score_sign_higher_is_in_distribution():
  confident = np.array([[0.97, 0.01, 0.01, 0.01]] * 5, np.float32)
  uniform = np.full((5, 4), 0.25, np.float32)
  for name in ("max_softmax", "neg_entropy"):
    s_in = metrics.ood_scores(confident)[name]
    s_out = metrics.ood_scores(uniform)[name]
    assert metrics.ood(s_in, s_out)["auroc"] == 1.0, name

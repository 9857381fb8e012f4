"""The OOD evaluator on a linear digits classifier: sets, scores, metrics, open-set rules."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import scipy.special

from rvjax import data, evaluators, metrics, sharding
from rvjax.evaluators import ood

HELDOUT = (8, 9)
DATA = ml_collections.ConfigDict({"name": "digits", "data_dir": "",
                                  "kwargs": {"exclude_classes": HELDOUT}})
PLAIN = ml_collections.ConfigDict({"name": "digits", "data_dir": "", "kwargs": {}})
SETS = ("skimage_photos", "uniform_noise", "open_set")


@pytest.fixture(scope="module")
def params():
  """Least-squares linear classifier on flattened digits of classes 0..7 (10 outputs)."""
  train = data.load("digits", "train", exclude_classes=HELDOUT)
  feats = np.c_[train.images.reshape(len(train), -1), np.ones(len(train))]
  coef = np.linalg.lstsq(feats, np.eye(10)[train.labels] * 3, rcond=None)[0].astype(np.float32)
  return {"w": jnp.asarray(coef[:-1]), "b": jnp.asarray(coef[-1])}  # logits unsaturated in f32


def linear(s, x):
  return x.reshape(x.shape[0], -1) @ s["w"] + s["b"]


def members(s, x):
  """Three "members": the classifier at three logit scales, (3, B, K)."""
  z = linear(s, x)
  return jnp.stack([z, 0.5 * z, 2.0 * z])


@pytest.fixture(scope="module")
def run(params):
  ev = evaluators.create("ood", jax.jit(linear), data=DATA, mesh=sharding.make_mesh(),
                         sets=SETS, num_ood=100, batch_size=64, seed=1,
                         member_logits_fn=jax.jit(members))
  return ev, dict(ev.run(params))


def ood_images(name):
  """The OOD images of the `run` evaluator, rebuilt from the documented recipe."""
  if name == "open_set":
    test = data.load("digits", "test")
    return test.images[np.isin(test.labels, HELDOUT)]
  rng = np.random.default_rng([1, SETS.index(name)])
  if name == "uniform_noise":
    return rng.random((100, 8, 8, 1), np.float32)
  return ood.photo_crops(rng, 100, (8, 8, 1))


def direct_scores(params, images):
  """MSP, -entropy and -MI by their textbook formulas in float64 numpy."""
  softmax = lambda z: scipy.special.softmax(np.asarray(z, np.float64), axis=-1)
  entropy = lambda p: -np.sum(p * np.log(p), -1)
  x = jnp.asarray(images)
  p, pm = softmax(linear(params, x)), softmax(members(params, x))
  return {"max_softmax": p.max(-1), "neg_entropy": -entropy(p),
          "neg_mutual_information": -(entropy(pm.mean(0)) - entropy(pm).mean(0))}


@pytest.mark.parametrize("name", SETS)
def test_metrics_equal_rvjax_metrics_ood_on_direct_scores(run, params, name):
  _, m = run
  ind = data.load("digits", "test", exclude_classes=HELDOUT)
  assert set(ind.labels) == set(range(8))
  s_in, s_out = direct_scores(params, ind.images), direct_scores(params, ood_images(name))
  assert set(s_in) == {"max_softmax", "neg_entropy", "neg_mutual_information"}
  for score in s_in:
    want = metrics.ood(np.asarray(s_in[score]), np.asarray(s_out[score]))
    for k, v in want.items():
      assert m[f"{name}/{score}/{k}"] == pytest.approx(v, abs=1e-9), (name, score, k)


def test_float64_scores_match_rvjax_metrics():
  logits = np.random.default_rng(0).normal(size=(3, 20, 10)) * 3
  got = ood.scores(logits[0], logits)
  probs = jax.nn.softmax(jnp.asarray(logits[0], jnp.float32))
  want = metrics.ood_scores(probs, member_probs=jax.nn.softmax(jnp.asarray(logits, jnp.float32)))
  got_mean = ood.scores(np.log(np.mean(jax.nn.softmax(logits), 0)), logits)
  np.testing.assert_allclose(np.exp(got["max_softmax"]), want["max_softmax"], atol=1e-6)
  np.testing.assert_allclose(got["neg_entropy"], want["neg_entropy"], atol=1e-5)
  np.testing.assert_allclose(got_mean["neg_mutual_information"], want["neg_mutual_information"],
                             atol=1e-5)


def test_confident_predictions_do_not_tie():
  logits = np.array([[30.0, 0.0], [40.0, 0.0], [50.0, 0.0]])  # p_max = 1.0 in float32
  assert len(set(np.asarray(metrics.max_softmax(jax.nn.softmax(logits))))) == 1
  for s in ood.scores(logits).values():
    assert s[0] < s[1] < s[2]
  assert metrics.ood(ood.scores(logits)["max_softmax"][1:], ood.scores(logits)["max_softmax"][:1]
                     )["auroc"] == 1.0


def test_sets_are_detected_and_named(run):
  ev, m = run
  assert set(ev.ood_sets) == set(SETS) and len(ev.ood_sets["open_set"]) == 71  # test 8s and 9s
  assert len(m) == 3 * 3 * 4


def test_photo_crops_shapes_and_range():
  rng = np.random.default_rng(0)
  gray, rgb = ood.photo_crops(rng, 5, (8, 8, 1)), ood.photo_crops(rng, 5, (16, 16, 3))
  assert gray.shape == (5, 8, 8, 1) and rgb.shape == (5, 16, 16, 3)
  assert gray.dtype == np.float32 and 0 <= gray.min() and rgb.max() <= 1
  assert gray.std() > 0.01  # not constant
  a = ood.photo_crops(np.random.default_rng(7), 3, (8, 8, 1))
  np.testing.assert_array_equal(a, ood.photo_crops(np.random.default_rng(7), 3, (8, 8, 1)))


def test_open_set_rules(params):
  mesh = sharding.make_mesh()
  ev = evaluators.create("ood", linear, data=PLAIN, mesh=mesh, sets=SETS[1:], num_ood=10)
  assert list(ev.ood_sets) == ["uniform_noise"]  # nothing held out: open_set skipped
  with pytest.raises(ValueError, match="held out"):
    evaluators.create("ood", linear, data=DATA, mesh=mesh, sets=("open_set",),
                      open_set_classes=(7, 8))
  ev = evaluators.create("ood", linear, data=DATA, mesh=mesh, sets=("open_set",),
                         open_set_classes=(9,))
  assert set(ev.ood_sets["open_set"].labels) == {9}
  with pytest.raises(ValueError, match="Unknown OOD set"):
    evaluators.create("ood", linear, data=PLAIN, mesh=mesh, sets=("photos",))

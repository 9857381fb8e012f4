"""Syn2real objectives: source files, ASG proxy-guidance KL, L2-SP, InfoNCE, CSG queue, a tiny row."""
import sys
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvjax import data, models, objectives
from rvjax.objectives import source as source_lib
from rvjax.objectives import syn2real
from rvjax.train import syn2real as runner

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from configs import syn2real_digits  # noqa: E402

WIDTHS = (4, 8, 8)  # the tiny config's CNN


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  """A tiny source model (rotation on real digits, 2 steps) and a new 10-way model."""
  root = tmp_path_factory.mktemp("sources")
  path = str(syn2real_digits.source_path(str(root), "digits"))
  runner.pretrain_source(path, "digits_rotation", "cnn", model_kwargs={"widths": WIDTHS},
                         steps=2, batch_size=16)
  src = source_lib.load(path)
  model = models.create("cnn", num_classes=10, widths=WIDTHS)
  ds = data.load("syndigits", "val", num=16)
  variables = model.init(jax.random.key(1), ds.images[:2], train=False)
  batch = {"image": jnp.asarray(ds.images), "label": jnp.asarray(ds.labels),
           "mask": jnp.ones(16, jnp.float32)}
  return dict(root=root, path=path, src=src, model=model, batch=batch,
              params=variables["params"], state={"batch_stats": variables["batch_stats"]})


def test_source_file_round_trip_and_errors(setup, tmp_path):
  src = setup["src"]
  assert src.task == "digits_rotation" and src.model.num_classes == 4
  with pytest.raises(FileExistsError, match="exists"):
    source_lib.save(setup["path"], "cnn", src.variables, num_classes=4)
  with pytest.raises(FileNotFoundError, match="does not exist"):
    source_lib.load(str(tmp_path / "missing.msgpack"))
  (tmp_path / "junk").write_bytes(b"not msgpack")
  with pytest.raises(ValueError, match="not an rvjax source model"):
    source_lib.load(str(tmp_path / "junk"))
  wider = models.create("cnn", num_classes=10, widths=(4, 8, 16))
  params = wider.init(jax.random.key(0), setup["batch"]["image"][:1], train=False)["params"]
  with pytest.raises(ValueError, match="does not match the model's backbone.*conv2"):
    objectives.create("syn2real", wider.apply, source=src)(
        params, {}, setup["batch"], jax.random.key(0))


def test_features_feed_the_head(setup):
  """The captured features are the head's input: head(features) reproduces the logits."""
  feats, logits = source_lib.features_and_logits(
      setup["model"].apply, {"params": setup["params"], **setup["state"]},
      setup["batch"]["image"], train=False)
  assert feats.shape == (16, WIDTHS[-1])
  np.testing.assert_allclose(source_lib.head_logits({"params": setup["params"]}, feats), logits,
                             atol=1e-5)


def test_asg_kl_is_zero_at_the_source_and_matches_numpy_after(setup):
  src, batch = setup["src"], setup["batch"]
  params, state = source_lib.warm_start(src, setup["params"], setup["state"])
  obj = objectives.create("syn2real", setup["model"].apply, source=src, guidance="kl", lam=2.0)
  loss, (new_state, m) = obj(params, state, batch, jax.random.key(0))
  assert abs(float(m["kl"])) < 1e-6  # same backbone, frozen BN: p_new == p_old
  jax.tree.map(np.testing.assert_array_equal, new_state, state)  # batch norm stays frozen
  moved = dict(params, conv2=jax.tree.map(lambda w: w + 0.3, params["conv2"]))
  loss, (_, m) = obj(moved, state, batch, jax.random.key(0))
  # Reference: KL(p_old || p_new) from numpy softmaxes of the source head.
  feats = lambda model, variables: source_lib.features_and_logits(
      model.apply, variables, batch["image"], train=False)[0]
  head = lambda f: np.asarray(source_lib.head_logits(src.variables, f), np.float64)
  soft = lambda z: np.exp(z - z.max(-1, keepdims=True)) / np.exp(
      z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)
  p_old = soft(head(feats(src.model, src.variables)))
  p_new = soft(head(feats(setup["model"], {"params": moved, **state})))
  kl = np.mean(np.sum(p_old * np.log(p_old / p_new), -1))
  assert kl > 1e-4
  np.testing.assert_allclose(float(m["kl"]), kl, rtol=1e-3)
  np.testing.assert_allclose(float(loss), float(m["ce"]) + 2.0 * kl, rtol=1e-3)


def test_l2_sp_and_feature_l2_terms(setup):
  src, batch = setup["src"], setup["batch"]
  params, state = source_lib.warm_start(src, setup["params"], setup["state"])
  moved = dict(params, conv0=jax.tree.map(lambda w: w + 0.1, params["conv0"]))
  n = sum(np.size(w) for w in jax.tree.leaves(params["conv0"]))
  obj = objectives.create("syn2real", setup["model"].apply, source=src, guidance="weight_l2")
  _, (_, m) = obj(moved, state, batch, jax.random.key(0))
  np.testing.assert_allclose(float(m["weight_l2"]), n * 0.01, rtol=1e-4)  # head not included
  obj = objectives.create("syn2real", setup["model"].apply, source=src, guidance="feature_l2")
  assert float(obj(params, state, batch, jax.random.key(0))[1][1]["feature_l2"]) < 1e-8
  assert float(obj(moved, state, batch, jax.random.key(0))[1][1]["feature_l2"]) > 1e-4
  with pytest.raises(ValueError, match="needs a source model"):
    objectives.create("syn2real", setup["model"].apply, guidance="kl")
  with pytest.raises(ValueError, match="guidance"):
    objectives.create("syn2real", setup["model"].apply, source=src, guidance="kd")


def test_info_nce_matches_numpy():
  rng = np.random.default_rng(0)
  unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)
  q, k, negs = unit(rng.normal(size=(6, 5))), unit(rng.normal(size=(6, 5))), unit(
      rng.normal(size=(9, 5)))
  mask = np.array([1, 1, 1, 1, 0, 1], np.float32)
  logits = np.concatenate([np.sum(q * k, -1, keepdims=True), q @ negs.T], -1) / 0.07
  per_row = -(logits[:, 0] - np.log(np.exp(logits).sum(-1)))
  expected = np.sum(per_row * mask) / mask.sum()
  np.testing.assert_allclose(syn2real.info_nce(q, k, negs, mask), expected, rtol=1e-5)


def test_info_nce_prefers_the_positive_key():
  """The loss falls as the positive key turns toward the query, and is lowest at the query."""
  rng = np.random.default_rng(1)
  unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)
  q, other, negs = unit(rng.normal(size=(4, 6))), unit(rng.normal(size=(4, 6))), unit(
      rng.normal(size=(20, 6)))
  losses = [float(syn2real.info_nce(q, unit(t * q + (1 - t) * other), negs, np.ones(4)))
            for t in (0.0, 0.5, 0.9, 1.0)]
  assert all(a > b for a, b in zip(losses, losses[1:])), losses
  assert losses[-1] < 0.5 * losses[0]


def test_attention_weights_sum_to_one_and_follow_the_numpy_formula():
  rng = np.random.default_rng(0)
  fmap = rng.uniform(0, 0.2, size=(3, 4, 5, 6)).astype(np.float32)
  fmap[0, 1, 2] += 2.0  # one salient location
  fmap[2] = 0.0  # an all-zero map falls back to uniform weights
  w = np.asarray(syn2real.attention_weights(fmap))
  np.testing.assert_allclose(w.sum((1, 2)), 1.0, rtol=1e-5)
  assert np.unravel_index(w[0].argmax(), w[0].shape) == (1, 2) and w[0].max() > 0.3
  assert w[1].std() > 0  # non-uniform on a non-uniform map
  np.testing.assert_allclose(w[2], 1 / 20)
  score = np.einsum("hwc,c->hw", fmap[1], fmap[1].mean((0, 1)))
  np.testing.assert_allclose(w[1], score / score.sum(), rtol=1e-5)
  np.testing.assert_allclose(syn2real.attentional_pool(fmap, w)[1],
                             np.einsum("hwc,hw->c", fmap[1], w[1]), rtol=1e-5)
  signed = fmap[1:2].copy()
  signed[0, 0, 0] = -3.0 * signed[0].mean((0, 1))  # points against the map's mean
  w_signed = np.asarray(syn2real.attention_weights(signed))[0]
  assert w_signed[0, 0] == 0.0  # clipped at 0, not |score|
  np.testing.assert_allclose(w_signed.sum(), 1.0, rtol=1e-5)


def _csg_state(setup, queue_size=40, dim=6):
  params, state = source_lib.warm_start(setup["src"], setup["params"], setup["state"])
  proj, csg_state = syn2real.init_csg(jax.random.key(0), WIDTHS[-1], dim=dim,
                                      queue_size=queue_size)
  return {**params, syn2real.PROJECTION: proj}, {**state, **csg_state}


def test_csg_queue_key_projection_and_gradients(setup):
  """FIFO queue, EMA key projection, gradients into the backbone and the projection head."""
  params, state = _csg_state(setup)
  queue = np.asarray(state[syn2real.QUEUE])
  moved = dict(params, projection=jax.tree.map(lambda w: w + 0.05, params["projection"]))
  obj = objectives.create("csg", setup["model"].apply, source=setup["src"], lam=1.0,
                          momentum=0.9)
  grads, (new_state, m) = jax.jit(jax.grad(
      lambda p: obj(p, state, setup["batch"], jax.random.key(0)), has_aux=True))(moved)
  new_queue = np.asarray(new_state[syn2real.QUEUE])
  assert new_queue.shape == (40, 6)
  np.testing.assert_allclose(np.linalg.norm(new_queue[:16], axis=-1), 1.0, atol=1e-5)
  np.testing.assert_array_equal(new_queue[16:], queue[:24])  # newest in front, oldest dropped
  jax.tree.map(lambda k, q, new: np.testing.assert_allclose(new, 0.9 * k + 0.1 * q, rtol=1e-5),
               state[syn2real.KEY_PROJECTION], moved["projection"],
               new_state[syn2real.KEY_PROJECTION])
  assert float(m["info_nce"]) > 0
  for part in ("conv2", "projection"):
    g = float(sum(jnp.sum(x ** 2) for x in jax.tree.leaves(grads[part])))
    assert np.isfinite(g) and g > 0, part
  with pytest.raises(ValueError, match="needs.*csg_queue"):
    obj(params, setup["state"], setup["batch"], jax.random.key(0))
  with pytest.raises(ValueError, match="apool"):
    objectives.create("csg", setup["model"].apply, source=setup["src"], apool="max")
  with pytest.raises(ValueError, match="momentum"):
    objectives.create("csg", setup["model"].apply, source=setup["src"], momentum=1.0)


@pytest.mark.parametrize("apool", ["model", "source", "none"])
def test_csg_query_and_key_are_projected_attention_pooled_maps(setup, apool):
  """At the warm start with unshifted views the model's map is the source's (so "model" and
  "source" attention agree): the query is
  projection(pool(map)) and the key the EMA key projection (momentum 0.5 of a moved head) of
  the same pooled map; the queue's new keys and the InfoNCE match numpy. A wrong pooling or
  projection on either side fails. "none" pools uniformly: the source features entering its
  head."""
  params, state = _csg_state(setup)
  params = dict(params, projection=jax.tree.map(lambda w: w + 0.05, params["projection"]))
  src, images = setup["src"], setup["batch"]["image"]
  obj = objectives.create("csg", setup["model"].apply, source=src, apool=apool, shift=0,
                          momentum=0.5)
  _, (new_state, m) = obj(params, state, setup["batch"], jax.random.key(0))
  fmap = np.asarray(source_lib.feature_map_and_logits(src.model.apply, src.variables, images,
                                                      train=False)[0], np.float64)
  if apool != "none":
    score = np.maximum(np.einsum("nhwc,nc->nhw", fmap, fmap.mean((1, 2))), 0)
    pooled = np.einsum("nhwc,nhw->nc", fmap, score / score.sum((1, 2), keepdims=True))
  else:
    pooled = np.asarray(source_lib.features_and_logits(src.model.apply, src.variables, images,
                                                       train=False)[0])
    np.testing.assert_allclose(pooled, fmap.mean((1, 2)), rtol=1e-5, atol=1e-6)

  def projected(p):
    p = jax.tree.map(np.asarray, p)
    z = np.maximum(pooled @ p["hidden"]["kernel"] + p["hidden"]["bias"], 0) @ p["out"][
        "kernel"] + p["out"]["bias"]
    return z / np.linalg.norm(z, axis=-1, keepdims=True)

  query = projected(params["projection"])
  key = projected(jax.tree.map(lambda k, q: 0.5 * (np.asarray(k) + np.asarray(q)),
                               state[syn2real.KEY_PROJECTION], params["projection"]))
  assert np.mean(np.sum(query * key, -1)) < 0.9999  # the EMA key head differs from the query's
  np.testing.assert_allclose(new_state[syn2real.QUEUE][:16], key, atol=1e-5)
  logits = np.concatenate([np.sum(query * key, -1, keepdims=True),
                           query @ np.asarray(state[syn2real.QUEUE]).T], -1) / 0.07
  nce = np.mean(np.log(np.exp(logits).sum(-1)) - logits[:, 0])
  np.testing.assert_allclose(float(m["info_nce"]), nce, rtol=1e-4)


def test_tiny_rows_run_and_bad_multipliers_are_refused(setup):
  res = runner.run(syn2real_digits.get_config(f"row=asg_pg,tiny,source=digits,"
                                              f"source_dir={setup['root']}"))
  assert 0 <= res["real_test/accuracy"] <= 1 and res["selected_step"] in (3, 6)
  assert res["energy/s2"] > res["energy/s1"] > 0
  res = runner.run(syn2real_digits.get_config(f"row=random_lr,tiny,source=digits,"
                                              f"source_dir={setup['root']}"))
  assert set(res["lr_scales"].values()) <= set(runner.LR_ACTIONS)
  res = runner.run(syn2real_digits.get_config(f"row=csg,tiny,source=digits,"
                                              f"source_dir={setup['root']}"))
  assert 0 <= res["real_test/accuracy"] <= 1
  with pytest.raises(ValueError, match="multipliers must be in"):
    runner.check_lr_scales({"head": 0.25})
  with pytest.raises(ValueError, match="Unknown row"):
    syn2real_digits.get_config("row=asg")


@pytest.mark.parametrize("target, shape", [("mnist", (28, 28, 1)), ("svhn", (32, 32, 3))])
def test_mnist_and_svhn_targets_through_tfds(tmp_path, target, shape):
  """syndigits render at the target's size and channels, the real test split is the (mocked)
  tfds set read from data_dir; a tiny scratch row trains and tests on MNIST."""
  tfds = pytest.importorskip("tensorflow_datasets")
  config = syn2real_digits.get_config(f"row=scratch,tiny,target={target},data_dir={tmp_path}")
  with tfds.testing.mock_data(num_examples=20):
    row = runner.setup(config)
    res = runner.run(config) if target == "mnist" else {"real_test/accuracy": 0.0}
  assert row.train_ds.images.shape[1:] == shape and row.test_ds.images.shape[1:] == shape
  assert len(row.test_ds) == 20  # the mocked set, not the 8x8 digits
  assert 0 <= res["real_test/accuracy"] <= 1
  with pytest.raises(ValueError, match="needs data_dir"):
    syn2real_digits.get_config(f"row=scratch,target={target}")
  with pytest.raises(ValueError, match="Unknown target"):
    syn2real_digits.get_config("row=scratch,target=usps,data_dir=x")

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


def test_csg_updates_the_queue_fifo_and_has_gradients(setup):
  src, batch = setup["src"], setup["batch"]
  params, state = source_lib.warm_start(src, setup["params"], setup["state"])
  queue = syn2real.init_queue(jax.random.key(0), 40, WIDTHS[-1])
  obj = objectives.create("csg", setup["model"].apply, source=src, lam=1.0)
  grad_fn = jax.grad(lambda p: obj(p, {**state, syn2real.QUEUE: queue}, batch,
                                   jax.random.key(0)), has_aux=True)
  grads, (new_state, m) = grad_fn(params)
  new_queue = np.asarray(new_state[syn2real.QUEUE])
  assert new_queue.shape == (40, WIDTHS[-1])
  np.testing.assert_allclose(np.linalg.norm(new_queue[:16], axis=-1), 1.0, atol=1e-5)
  np.testing.assert_array_equal(new_queue[16:], np.asarray(queue[:24]))  # oldest dropped
  assert float(m["info_nce"]) > 0
  g = float(sum(jnp.sum(x ** 2) for x in jax.tree.leaves(grads["conv2"])))
  assert np.isfinite(g) and g > 0


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

"""One replica interface: Single, Members and MC dropout build, step and predict alike."""
import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from rvjax import models, objectives
from rvjax.train import optim, replicas, state as state_lib, step as step_lib
from rvjax.uncertainty import ensemble

B = 8


@pytest.fixture(scope="module", autouse=True)
def _fast(fast_compile):
  yield


@pytest.fixture(scope="module")
def parts(tiny, sgd_config):
  model = models.create("cnn_tiny", num_classes=10, dropout_rate=0.5)
  tx = optim.make_optimizer(sgd_config(), ml_collections.ConfigDict({"name": "constant"}), 10)
  init = state_lib.init_fn(model, tx, (B, 8, 8, 1))
  member_step = functools.partial(step_lib.train_step, objective=objectives.create(
      "erm", model.apply), tx=tx)
  return model, init, member_step, tiny.batch


def _member_batch(batch, k):
  """(K, B, ...) batches, member m's rows shifted by m."""
  return jax.tree.map(lambda x: jnp.stack([jnp.roll(x[:B], m, 0) for m in range(k)]), batch)


def test_members_step_is_each_members_single_step(parts):
  model, init, member_step, batch = parts
  rep = replicas.Members(2, "unroll")
  mesh = rep.make_mesh()
  state = rep.create_state(init, jax.random.key(0), mesh)
  keys = rep.train_key(jax.random.key(1))
  member_batches = _member_batch(batch, 2)
  new, metrics = rep.compile_step(member_step, mesh)(state, member_batches, keys)
  single = replicas.Single()
  single_step = single.compile_step(member_step, single.make_mesh())
  for m in range(2):
    one = single.create_state(init, jax.random.fold_in(jax.random.key(0), m), single.make_mesh())
    one, one_metrics = single_step(one, jax.tree.map(lambda x: x[m], member_batches),
                                   jax.random.fold_in(jax.random.key(1), m))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[m], b, rtol=1e-5, atol=1e-6),
                 new.params, one.params)
    np.testing.assert_allclose(metrics["loss_members"][m], one_metrics["loss"], rtol=1e-5)
  assert rep.data_seeds(7) == (7, 8) and rep.member_axis and not single.member_axis
  assert single.data_seeds(7) is None and single.train_key(keys) is keys
  assert rep.fingerprint() == {"ensemble_size": 2} == replicas.MCDropout(3, rep).fingerprint()


@pytest.mark.parametrize("formulation", ["vmap", "unroll"])
def test_shared_batch_members_see_one_batch_with_their_own_keys(parts, formulation):
  _, init, member_step, batch = parts
  rep = replicas.Members(2, formulation, shared_batch=True)
  assert not rep.member_axis and rep.data_seeds(7) is None
  mesh = rep.make_mesh()
  state = rep.create_state(init, jax.random.key(0), mesh)
  shared = jax.tree.map(lambda x: x[:B], batch)
  new, metrics = rep.compile_step(member_step, mesh)(state, shared, rep.train_key(jax.random.key(1)))
  single = replicas.Single()
  single_step = single.compile_step(member_step, single.make_mesh())
  # The member step is member m's single step on the same (B, ...) batch with key fold_in(key, m):
  # dropout (rate 0.5) makes a key broadcast to all members fail for member 1.
  for m in range(2):
    one = single.create_state(init, jax.random.fold_in(jax.random.key(0), m), single.make_mesh())
    one, one_metrics = single_step(one, shared, jax.random.fold_in(jax.random.key(1), m))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[m], b, rtol=1e-5, atol=1e-6),
                 new.params, one.params)
    np.testing.assert_allclose(metrics["loss_members"][m], one_metrics["loss"], rtol=1e-5)
  assert not np.allclose(metrics["loss_members"][0], metrics["loss_members"][1])


def test_predict_and_member_logits_of_each_kind(parts):
  model, init, _, batch = parts
  images = batch["image"][:B]
  eval_key = jax.random.key(2)
  members = replicas.Members(2, "unroll")
  mesh = members.make_mesh()
  stacked = members.create_state(init, jax.random.key(0), mesh)
  stacked = stacked.replace(temperature=jnp.full((2,), 2.0))
  each = np.stack([step_lib.eval_logits(model.apply, jax.tree.map(lambda x: x[m], stacked), images)
                   for m in range(2)])
  want = np.log(np.mean(jax.nn.softmax(each, -1), 0))
  np.testing.assert_allclose(members.predict_fn(model, mesh, eval_key)(stacked, images), want / 2,
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(members.member_logits_fn(model, mesh, eval_key)(stacked, images),
                             each / 2, rtol=1e-5, atol=1e-6)

  single = jax.tree.map(lambda x: x[0], stacked)
  mc = replicas.MCDropout(4)
  samples = np.asarray(mc.member_logits_fn(model, mesh, eval_key)(single, images)) * 2
  assert samples.shape == (4, B, 10) and not np.allclose(samples[0], samples[1])  # dropout on
  np.testing.assert_allclose(mc.predict_fn(model, mesh, eval_key)(single, images),
                             ensemble.pool(samples) / 2, rtol=1e-5, atol=1e-6)
  assert replicas.Single().member_logits_fn(model, mesh, eval_key) is None
  with pytest.raises(ValueError, match="dropout"):
    mc.predict_fn(models.create("cnn_tiny"), mesh, eval_key)


def test_from_config_and_bad_sizes():
  def config(size, samples):
    return ml_collections.ConfigDict({"ensemble": {"size": size, "formulation": "map"},
                                      "mc_dropout": {"samples": samples}})
  assert replicas.from_config(config(1, 0)) == replicas.Single()
  assert replicas.from_config(config(4, 0)) == replicas.Members(4, "map")
  assert replicas.from_config(config(4, 3)) == replicas.MCDropout(3, replicas.Members(4, "map"))
  shared = config(4, 0)
  shared.ensemble.shared_batch = True
  assert replicas.from_config(shared) == replicas.Members(4, "map", shared_batch=True)
  keys = replicas.from_config(config(3, 2)).train_key(jax.random.key(1))
  np.testing.assert_array_equal(jax.random.key_data(keys[2]),
                                jax.random.key_data(jax.random.fold_in(jax.random.key(1), 2)))
  with pytest.raises(ValueError, match="size >= 2"):
    replicas.Members(1)
  with pytest.raises(ValueError, match="formulation"):
    replicas.Members(2, "loop")
  with pytest.raises(ValueError, match="samples"):
    replicas.MCDropout(0)

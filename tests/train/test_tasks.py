"""Tasks: batch schemas, and a paired task whose degradation runs on device inside the step."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from rvjax import metrics, tasks, validate
from rvjax.objectives import degraded, restoration
from rvjax.train import optim, step as step_lib
from rvjax.train.state import TrainState

SIGMA = 0.1


def noise(key, images):
  """A local degradation: additive Gaussian noise of std SIGMA (on the [0, 1] scale)."""
  return images + SIGMA * jax.random.normal(key, images.shape)


class Denoiser(nn.Module):
  @nn.compact
  def __call__(self, x, *, train):
    return x + nn.Conv(1, (3, 3))(x)


def test_paired_step_degrades_on_device_with_a_fresh_key(sgd_config):
  model = Denoiser()
  params = model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)), train=False)["params"]
  tx = optim.make_optimizer(sgd_config(), ml_collections.ConfigDict({"name": "constant"}), 10)
  state = TrainState(step=jnp.zeros((), jnp.int32), params=params, model_state={},
                     opt_state=tx.init(params), temperature=jnp.ones(()))
  objective = degraded.wrap(restoration.make(model.apply), noise)
  step = jax.jit(functools.partial(step_lib.train_step, objective=objective, tx=tx, task="paired"))
  clean = jnp.asarray(np.random.default_rng(0).random((4, 8, 8, 1), np.float32))
  batch = {"image": clean, "target": clean, "mask": jnp.asarray([1.0, 1.0, 1.0, 0.0])}
  key = jax.random.key(7)
  for s in range(2):  # The same batch, a new noise draw per step: the loss is recomputed by hand.
    k_deg, _ = jax.random.split(jax.random.fold_in(key, s))
    out = model.apply({"params": state.params}, noise(k_deg, clean), train=True)
    want = np.mean(np.mean((np.asarray(out) - clean) ** 2, axis=(1, 2, 3))[:3])
    want_psnr = np.mean(metrics.psnr(jnp.clip(out, 0, 1), clean)[:3])
    state, m = step(state, batch, key)
    np.testing.assert_allclose(float(m["loss"]), want, rtol=1e-5)
    np.testing.assert_allclose(float(m["psnr"]), want_psnr, rtol=1e-4)
  assert int(state.step) == 2


@pytest.mark.parametrize("task, change, match", [
    ("paired", lambda b: {k: v for k, v in b.items() if k != "target"},
     "a paired batch needs image, target and mask"),
    ("paired", lambda b: {**b, "target": b["target"][:2]}, "has 2 images but"),
    ("paired", lambda b: {**b, "target": b["target"] * 3}, r"target.*\[0, 1\]"),
    ("unpaired", lambda b: b, "missing \\['reference'\\]"),
    ("unpaired", lambda b: {**b, "reference": b["target"][..., 0]}, "reference.*rank-4"),
    ("classification", lambda b: b, "missing \\['label'\\]"),
    ("detection", lambda b: b, "Unknown task"),
])
def test_batches_are_checked_against_their_task(task, change, match):
  x = np.full((3, 4, 4, 1), 0.5, np.float32)
  batch = {"image": x, "target": x, "mask": np.ones(3, np.float32)}
  with pytest.raises(ValueError, match=match):
    validate.check_batch(change(batch), task)
  validate.check_batch({**batch, "reference": x[:1]}, "unpaired")  # B' may differ from B.


def test_tasks_and_named_degradations():
  assert tasks.get("paired").schema == ("image", "target", "mask")
  assert tasks.get("unpaired").schema == ("image", "reference", "mask")
  assert tasks.get("classification").objective == "erm"
  assert tasks.get("paired").objective == "restoration"
  assert tasks.get("paired").evals == ("restoration",)
  with pytest.raises(ValueError, match="Unknown task"):
    tasks.get("segmentation")
  clip = degraded.resolve("numpy.clip", a_min=0.0, a_max=0.5)
  np.testing.assert_array_equal(clip(np.asarray([0.2, 0.9])), [0.2, 0.5])
  with pytest.raises(ValueError, match="not an importable function"):
    degraded.resolve("rvjax.degrade_nothing.noise")
  with pytest.raises(ValueError, match="not callable"):
    degraded.resolve("numpy.pi")

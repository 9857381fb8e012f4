"""Shared pytest setup (CPU only, float32, deterministic) and fixtures every test folder may use:

* `fast_compile`: XLA with most optimizations off, for tests that compile big graphs (attack
  loops inside train steps); request it, or wrap it in an autouse fixture of a folder;
* `tiny`: cnn_tiny (with batch norm) initialized on digits, and a batch of 16 training images;
* `digits_data`: the data config of the digits dataset (`config.data`);
* `sgd_config`: `sgd_config(**overrides)` -> a `config.optimizer` for plain SGD.
"""
import os
import types

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="module")
def fast_compile():
  """Turns XLA's optimizations off for the requesting module; compilation gets several x faster."""
  before = jax.config.read("jax_disable_most_optimizations")
  jax.config.update("jax_disable_most_optimizations", True)
  yield
  jax.config.update("jax_disable_most_optimizations", before)


@pytest.fixture(scope="session")
def tiny():
  """cnn_tiny (with batch norm) initialized on digits, and a batch of 16 training images."""
  from rvjax import data, models
  ds = data.load("digits", "train")
  model = models.create("cnn_tiny", num_classes=10)
  variables = model.init(jax.random.key(0), ds.images[:2], train=False)
  batch = {"image": jnp.asarray(ds.images[:16]), "label": jnp.asarray(ds.labels[:16]),
           "mask": jnp.ones(16, jnp.float32)}
  return types.SimpleNamespace(model=model, apply=model.apply, params=variables["params"],
                               model_state={"batch_stats": variables["batch_stats"]}, batch=batch)


@pytest.fixture(scope="session")
def digits_data():
  """`config.data` of the bundled digits (8x8x1, 10 classes)."""
  return ml_collections.ConfigDict({"name": "digits", "data_dir": "", "kwargs": {}})


@pytest.fixture(scope="session")
def sgd_config():
  """`sgd_config(**overrides)`: a `config.optimizer` for SGD, lr 0.1, one group, no decay."""
  def make(**overrides):
    return ml_collections.ConfigDict(dict(
        dict(name="sgd", lr=0.1, momentum=0.0, nesterov=False, b1=0.9, b2=0.999,
             weight_decay=0.0, grad_clip_norm=0.0, groups=(("all", ".*"),)), **overrides))
  return make

"""Shared fixtures for the objective tests: fast compilation, a tiny CNN and a digits batch."""
import types

import jax
import jax.numpy as jnp
import pytest

from rvjax import data, models


@pytest.fixture(scope="module", autouse=True)
def _fast_compile():
  """Objectives compile attack loops inside train steps; XLA's optimizations cost more here."""
  before = jax.config.read("jax_disable_most_optimizations")
  jax.config.update("jax_disable_most_optimizations", True)
  yield
  jax.config.update("jax_disable_most_optimizations", before)


@pytest.fixture(scope="session")
def tiny():
  """cnn_tiny (with batch norm) initialized on digits, and a batch of 16 training images."""
  ds = data.load("digits", "train")
  model = models.create("cnn_tiny", num_classes=10)
  variables = model.init(jax.random.key(0), ds.images[:2], train=False)
  batch = {"image": jnp.asarray(ds.images[:16]), "label": jnp.asarray(ds.labels[:16]),
           "mask": jnp.ones(16, jnp.float32)}
  return types.SimpleNamespace(apply=model.apply, params=variables["params"],
                               model_state={"batch_stats": variables["batch_stats"]}, batch=batch)

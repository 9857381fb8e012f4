"""Certify tests compile bound propagation and attacks once each; XLA's optimizations cost more."""
import jax
import pytest


@pytest.fixture(scope="module", autouse=True)
def _fast_compile():
  before = jax.config.read("jax_disable_most_optimizations")
  jax.config.update("jax_disable_most_optimizations", True)
  yield
  jax.config.update("jax_disable_most_optimizations", before)

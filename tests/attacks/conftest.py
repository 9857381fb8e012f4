"""Tiny models and inputs for the attack tests: 8x8x1 images, 5 classes."""
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

K = 5


def _images(n, seed):
  rng = np.random.default_rng(seed)
  x = rng.uniform(size=(n, 8, 8, 1)).astype(np.float32)
  x[:, 0, :2] = 0.0  # saturated pixels exercise the [0, 1] clip
  x[:, -1, -2:] = 1.0
  return jnp.asarray(x)


@pytest.fixture(scope="session")
def linear():
  """A linear classifier logits = flatten(x - 0.5) @ w + b with its inputs and clean predictions."""
  rng = np.random.default_rng(1)
  w = rng.normal(size=(64, K)).astype(np.float32)
  b = 0.1 * rng.normal(size=(K,)).astype(np.float32)
  fn = lambda z: (z.reshape(z.shape[0], -1) - 0.5) @ w + b
  x = _images(16, 0)
  y = jnp.argmax(fn(x), -1).astype(jnp.int32)  # clean accuracy 1
  return types.SimpleNamespace(fn=fn, w=w, b=b, x=x, y=y)


@pytest.fixture(scope="session")
def mlp():
  """A random one-hidden-layer ReLU MLP, labels = its clean predictions."""
  rng = np.random.default_rng(2)
  w1 = jnp.asarray(rng.normal(size=(64, 32)) / 8, jnp.float32)
  w2 = jnp.asarray(rng.normal(size=(32, K)), jnp.float32)
  fn = lambda z: jax.nn.relu(z.reshape(z.shape[0], -1) @ w1 * 4 - 1) @ w2
  x = _images(32, 3)
  y = jnp.argmax(fn(x), -1).astype(jnp.int32)
  return types.SimpleNamespace(fn=fn, x=x, y=y)


@pytest.fixture(scope="module", autouse=True)
def _fast_compile(fast_compile):
  """Attack tests compile many small loops; XLA's optimizations cost more than they save here."""

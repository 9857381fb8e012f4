"""Shared pytest setup (CPU only, float32, deterministic) and fixtures every test folder may use:

* one persistent XLA compilation cache per test run (a fresh temporary folder, shared by the
  xdist workers and the `launch` subprocesses the tests start, removed at the end): identical
  programs, such as the evaluators of the tiny configs, compile once per run instead of once per
  process. With `JAX_COMPILATION_CACHE_DIR` set, that folder is used and kept, so a rerun
  compiles only what changed (entries are keyed by program, compiler options and jax version);
* `fast_compile`: XLA with most optimizations off, for tests whose time goes into compiling
  (attack loops inside train steps, tiny training runs) and whose assertions do not depend on
  XLA's optimizations; request it, opt a whole module in with
  `pytestmark = pytest.mark.usefixtures("fast_compile")`, or wrap it in an autouse fixture of a
  folder;
* `tiny`: cnn_tiny (with batch norm) initialized on digits, and a batch of 16 training images;
* `digits_data`: the data config of the digits dataset (`config.data`);
* `sgd_config`: `sgd_config(**overrides)` -> a `config.optimizer` for plain SGD.
"""
import os
import shutil
import tempfile
import types

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Set before jax is imported, so this process, the xdist workers it starts (they inherit the
# environment and then find the variable set) and subprocesses all read the same folder.
_CREATED_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _CREATED_CACHE = os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(
      prefix="rvjax-tests-xla-cache-")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")  # Tests compile small.

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import pytest  # noqa: E402


def pytest_unconfigure(config):
  """Removes the compilation cache this process created (the controller's, after its workers)."""
  del config
  if _CREATED_CACHE is not None:
    shutil.rmtree(_CREATED_CACHE, ignore_errors=True)


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

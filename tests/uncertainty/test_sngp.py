"""SNGP: spectral norm, random Fourier features, Laplace covariance, mean-field logits, the loop."""
import json
import math
import os

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvjax import data as data_lib
from rvjax import models, sharding
from rvjax.train import state as state_lib
from rvjax.uncertainty import sngp

pytestmark = pytest.mark.usefixtures("fast_compile")


@pytest.fixture(scope="module")
def tiny():
  """The tiny SNGP model, a TrainState on 8x8x1 images, and 40 random images."""
  model = models.create("sngp_cnn_tiny", num_classes=3)
  import optax
  state = state_lib.init_fn(model, optax.sgd(0.1), (1, 8, 8, 1))(jax.random.key(0))
  images = jax.random.uniform(jax.random.key(1), (40, 8, 8, 1))
  return model, state, images


def _flat(tree):
  return flax.traverse_util.flatten_dict(flax.core.unfreeze(tree), sep="/")


def test_spectral_norm_bounds_each_hidden_kernel(tiny):
  model, state, images = tiny

  @jax.jit
  def update(model_state):  # A train pass: one power-iteration step per conv.
    _, new = model.apply({"params": state.params, **model_state}, images, train=True,
                         mutable=["spectral_stats"])
    return {**model_state, **new}

  model_state = state.model_state
  for _ in range(30):
    model_state = update(model_state)
  stats = _flat(model_state["spectral_stats"])
  kernels = {k: v for k, v in _flat(state.params).items() if k.endswith("kernel")
             and k.startswith("conv")}
  assert len(kernels) == 4  # widths (4, 8), one block each: every hidden conv is normalized.
  for name, kernel in kernels.items():
    matrix = np.asarray(kernel).reshape(-1, kernel.shape[-1])
    top = np.linalg.svd(matrix, compute_uv=False)[0]
    sigma = float(next(v for k, v in stats.items() if k.endswith(f"{name}/sigma")))
    assert abs(top - 1.0) > 0.1  # The raw kernel is not already normalized.
    np.testing.assert_allclose(sigma, top, rtol=1e-3)
    assert np.linalg.svd(matrix / sigma, compute_uv=False)[0] <= 1.0 + 1e-3


def test_random_features_approximate_rbf_kernel():
  scale = 1.5
  layer = sngp.RandomFeatureGP(num_classes=2, num_features=8192, kernel_scale=scale,
                               input_normalization=False)
  h = jax.random.normal(jax.random.key(0), (12, 3))
  variables = layer.init(jax.random.key(1), h, train=True)
  rf = variables["random_features"]
  phi = np.asarray(sngp.random_features(h, rf["kernel"], rf["bias"]), np.float64)
  hn = np.asarray(h, np.float64)
  sq = ((hn[:, None] - hn[None]) ** 2).sum(-1)
  rbf = np.exp(-sq / (2 * scale ** 2))
  np.testing.assert_allclose(phi @ phi.T, rbf, atol=0.05)
  assert rbf.min() < 0.3  # The pairs span the kernel's range, not only ~1.


def _features_and_map_logits(model, state, images):
  _, inter = model.apply({"params": state.params, **state.model_state}, images, train=False,
                         mutable=["intermediates"])
  inter = _flat(inter["intermediates"])
  return (np.asarray(inter["gp/features"][0], np.float64),
          np.asarray(inter["gp/map_logits"][0], np.float64))


def test_laplace_covariance_is_the_numpy_inverse_precision(tiny):
  model, state, images = tiny
  ds = data_lib.Dataset(np.asarray(images), np.zeros(40, np.int32), 3)
  mesh = sharding.make_mesh()
  fitted = sngp.fit_covariance(model.apply, state, ds, mesh=mesh, batch_size=16)  # pads 8
  phi, logits = _features_and_map_logits(model, state, images)
  z = logits - logits.max(-1, keepdims=True)
  p = (np.exp(z) / np.exp(z).sum(-1, keepdims=True)).max(-1)
  precision = np.eye(phi.shape[1]) + (phi * (p * (1 - p))[:, None]).T @ phi
  expected = np.linalg.inv(precision)
  got = np.asarray(fitted.model_state["laplace"]["gp"]["covariance"])
  assert np.abs(expected - np.eye(phi.shape[1])).max() > 0.05  # The data moved it off I.
  np.testing.assert_allclose(got, expected, atol=1e-5)

  # Eval logits are the mean-field adjustment of the MAP logits with that covariance.
  eval_logits = model.apply({"params": fitted.params, **fitted.model_state}, images, train=False)
  var = np.einsum("nd,de,ne->n", phi, expected, phi)
  np.testing.assert_allclose(eval_logits, logits / np.sqrt(1 + math.pi / 8 * var)[:, None],
                             rtol=1e-4, atol=1e-6)


def test_mean_field_formula_and_bad_inputs(tiny):
  out = sngp.mean_field_logits(jnp.array([[2.0, -1.0], [0.5, 0.0]]), jnp.array([3.0, 0.0]))
  np.testing.assert_allclose(out, [[2 / math.sqrt(1 + 3 * math.pi / 8),
                                    -1 / math.sqrt(1 + 3 * math.pi / 8)], [0.5, 0.0]], rtol=1e-6)
  model, state, _ = tiny
  ds = data_lib.Dataset(np.zeros((4, 8, 8, 1), np.float32), np.zeros(4, np.int32), 3)
  no_gp = state.replace(model_state={})
  with pytest.raises(ValueError, match="SNGP GP layer"):
    sngp.fit_covariance(model.apply, no_gp, ds, mesh=sharding.make_mesh(), batch_size=4)
  with pytest.raises(ValueError, match="kernel_scale"):
    models.create("sngp_cnn", kernel_scale=0.0)


def test_loop_fits_covariance_and_runs_shift_evals(tmp_path):
  from configs import digits_sngp
  from rvjax import train
  config = digits_sngp.get_config("tiny,shift")
  with config.unlocked():
    config.total_steps = 2
    config.evals.corruption.names = ("contrast",)
    config.evals.corruption.severities = (5,)
  summary = train.train_and_evaluate(config, str(tmp_path))
  for key in ("calib/ece", "corruption/mean/accuracy", "ood/skimage_photos/max_softmax/auroc"):
    assert key in summary, sorted(summary)
  _, _, state, _ = train.loop.restore_workdir(str(tmp_path))
  cov = np.asarray(state.model_state["laplace"]["gp"]["covariance"])
  assert np.abs(cov - np.eye(cov.shape[0])).max() > 1e-3  # Fitted, saved and restored.
  assert json.load(open(os.path.join(tmp_path, "config.json")))["model"]["name"] == (
      "sngp_cnn_tiny")

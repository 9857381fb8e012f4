"""Every certified config's `tiny` variant builds a small, runnable setup, and CIFAR-10
smoothing trains a step on mocked tfds data."""
import glob
import importlib
import os


import numpy as np
import pytest

from configs import cifar10_certified, digits_certified
from rvjax import evaluators, models, objectives
from rvjax.train import loop, writers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = sorted(os.path.basename(p)[:-3]
                 for p in glob.glob(os.path.join(ROOT, "configs", "*certified*.py")))


def test_both_certified_configs_are_found():
  assert CONFIGS == ["cifar10_certified", "digits_certified"]


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("method", digits_certified.METHODS)
def test_tiny_configs_build_small_runnable_setups(name, method):
  module = importlib.import_module(f"configs.{name}")
  full, c = module.get_config(f"method={method}"), module.get_config(f"method={method},tiny")
  assert c.model.name.endswith("_tiny") and not full.model.name.endswith("_tiny")
  assert 1 <= c.total_steps <= 4 and c.batch_size <= 32 and not c.progress
  assert c.objective.name == {"smoothing": "gaussian_noise"}.get(method, method)
  assert c.data.name == full.data.name and c.objective.kwargs.keys() == full.objective.kwargs.keys()
  with pytest.raises(AttributeError):
    c.total_stpes = 2  # Locked: a mistyped override fails before any compute.
  # The names resolve: the model, the objective with its kwargs, the evaluator types.
  model = models.create(c.model.name, num_classes=10, **dict(c.model.get("kwargs", {})))
  objectives.create(c.objective.name, model.apply, **dict(c.objective.kwargs))
  assert {e.type for e in c.evals.values()} <= set(evaluators.names())
  if method == "smoothing":  # A tiny smoothing eval: few samples on few images.
    assert c.evals.smooth.n <= 32 and c.evals.smooth.num_examples <= 16
  if method != "smoothing":  # The eps ramp fits inside the tiny run.
    kw = c.objective.kwargs
    assert kw.warmup_steps + kw.ramp_steps <= c.total_steps


def test_mocked_cifar10_smoothing_trains_a_step_and_certifies(tmp_path, fast_compile):
  """The default method (crown_ibp) runs in tests/launch/test_train_configs.py; this runs the
  other branch of the config: a ResNet on Gaussian noise and the smoothing evaluator."""
  tfds = pytest.importorskip("tensorflow_datasets")
  config = cifar10_certified.get_config("method=smoothing,tiny")
  with config.unlocked():
    config.data.data_dir = str(tmp_path / "tfds")
  with tfds.testing.mock_data(num_examples=20):
    summary = loop.train_and_evaluate(config, str(tmp_path / "w"))
  assert summary["steps"] == 1 and 0.0 <= summary["test/accuracy"] <= 1.0
  logged = [r for r in writers.read_metrics(str(tmp_path / "w")) if "train/loss" in r]
  assert logged and np.isfinite(logged[-1]["train/loss"])
  curve = [summary[f"smooth/certified_accuracy/r={r:g}"] for r in digits_certified.RADII]
  assert all(0.0 <= a <= 1.0 for a in curve) and curve == sorted(curve, reverse=True)

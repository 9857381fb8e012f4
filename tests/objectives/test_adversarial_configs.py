"""Adversarial configs: fields, strict args, and end-to-end tiny runs (digits, mocked CIFAR-10)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from configs import cifar10_adversarial, digits_adversarial
from rvjax import report
from rvjax.train import loop, writers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("arg, name, kwargs", [
    ("method=standard", "erm", {}),
    ("method=pgd_at,eps=0.2", "pgd_at", dict(eps=0.2, norm="linf", steps=10, step_size=0.05)),
    ("method=fast_at", "fast_at", dict(eps=0.1, norm="linf", alpha=0.125)),
    ("method=trades,eps=0.2", "trades", dict(eps=0.2, norm="linf", steps=10, step_size=0.05,
                                             beta=6.0)),
    ("method=pgd_at,norm=l2", "pgd_at", dict(eps=0.5, norm="l2", steps=10, step_size=0.125)),
])
def test_digits_configs(arg, name, kwargs):
  c = digits_adversarial.get_config(arg)
  assert c.objective.name == name
  assert {k: pytest.approx(v) if isinstance(v, float) else v
          for k, v in c.objective.kwargs.items()} == kwargs
  assert c.evals.adv.type == "adversarial" and c.evals.adv.norm == kwargs.get("norm", "linf")
  assert {0.1, 0.2} <= set(c.evals.adv.eps) or c.evals.adv.norm == "l2"
  assert set(c.evals.adv.attacks) == {"fgsm", "pgd", "apgd_ce", "autoattack", "spatial"}
  assert (c.evals.adv.attacks.pgd.steps, c.evals.adv.attacks.pgd.restarts) == (20, 5)
  assert ("co_guard" in c.hooks) == (name == "fast_at")


def test_cifar10_configs_follow_the_literature():
  c = cifar10_adversarial.get_config("method=pgd_at")
  assert c.data.name == "cifar10" and c.model.name == "preact_resnet18"
  assert c.augment == "crop_flip"
  kw = c.objective.kwargs
  assert (kw.eps, kw.step_size, kw.steps) == (8 / 255, 2 / 255, 10)
  assert (c.optimizer.name, c.optimizer.lr, c.optimizer.momentum, c.optimizer.weight_decay) \
      == ("sgd", 0.1, 0.9, 5e-4)
  assert (c.schedule.name, tuple(c.schedule.boundaries), c.num_epochs, c.batch_size) \
      == ("piecewise", (0.5, 0.75), 200, 128)
  assert cifar10_adversarial.get_config("method=pgd_at,model=wrn28_10,epochs=100").num_epochs \
      == 100
  c = cifar10_adversarial.get_config("method=fast_at")
  assert (c.objective.kwargs.eps, c.objective.kwargs.alpha) == (8 / 255, pytest.approx(10 / 255))
  assert (c.schedule.name, c.optimizer.lr, c.num_epochs) == ("onecycle", 0.2, 15)
  assert c.hooks.co_guard.type == "pgd_guard"
  kw = cifar10_adversarial.get_config("method=trades").objective.kwargs
  assert (kw.eps, kw.step_size, kw.steps, kw.beta) == (0.031, 0.007, 10, 6.0)


@pytest.mark.parametrize("module, arg, match", [
    (digits_adversarial, "method=mart", "Unknown method 'mart'"),
    (digits_adversarial, "norm=l1", "norm must be one of"),
    (digits_adversarial, "epsilon=0.1", "Unknown config arg 'epsilon'"),
    (digits_adversarial, "eps=big", "must be float"),
    (cifar10_adversarial, "model=resnet50", "model must be one of"),
])
def test_strict_args(module, arg, match):
  with pytest.raises(ValueError, match=match):
    module.get_config(arg)


@pytest.fixture(scope="module")
def fast_at_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("fast_at"))
  return workdir, loop.train_and_evaluate(digits_adversarial.get_config("method=fast_at,tiny"),
                                          workdir)


def test_tiny_fast_at_run_with_guard_and_adversarial_eval(fast_at_run):
  workdir, summary = fast_at_run
  assert summary["steps"] == 4 and summary["adv/sanity/eps0_matches_clean"] == 1.0
  assert summary["adv/pgd/eps=0.1"] <= summary["adv/clean_accuracy"]
  guard = [r for r in writers.read_metrics(workdir) if "co_guard/pgd_accuracy" in r]
  assert [r["step"] for r in guard] == [2] and guard[0]["co_guard/collapsed"] == 0.0
  assert any(p.endswith("_accuracy_vs_eps_adv.png") for p in report.write(workdir)["plots"])


def test_launch_evaluate_with_the_evals_of_another_config(fast_at_run):
  workdir, _ = fast_at_run
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_DISABLE_MOST_OPTIMIZATIONS": "1"}
  result = subprocess.run(
      [sys.executable, "-m", "launch.evaluate", f"--workdir={workdir}",
       "--config=configs/digits_adversarial.py:method=standard,eps=0.2,tiny",
       "--config.evals.adv.sanity=False"],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  out = json.loads(result.stdout)
  assert "adv/pgd/eps=0.2" in out and "adv/sanity/passed" not in out


def test_mocked_cifar10_pgd_at_step(tmp_path):
  tfds = pytest.importorskip("tensorflow_datasets")
  config = cifar10_adversarial.get_config("method=pgd_at,tiny")
  with config.unlocked():
    config.data.data_dir = str(tmp_path / "tfds")
  with tfds.testing.mock_data(num_examples=20):
    summary = loop.train_and_evaluate(config, str(tmp_path / "w"))
  assert summary["steps"] == 1 and np.isfinite(summary["adv/worst/eps=0.03137"])
  assert summary["adv/fgsm/eps=0.03137"] <= summary["adv/clean_accuracy"]

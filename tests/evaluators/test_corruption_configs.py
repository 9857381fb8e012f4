"""Shift-eval configs: the one-line helper, evaluating a workdir, CIFAR-10 uncertainty."""
import os

import numpy as np
import pytest

from configs import cifar10_uncertainty, digits_cnn, digits_ensemble, shift_evals
from rvjax import corruptions, report
from rvjax.train import loop


pytestmark = pytest.mark.usefixtures("fast_compile")  # Small graphs: optimizing costs more.


def test_add_shift_evals_to_a_locked_config():
  c = shift_evals.add_shift_evals(digits_ensemble.get_config("tiny"), tiny=True)
  assert c.is_locked and {"calib", "corruption", "ood", "test"} <= set(c.evals)
  assert c.evals.corruption.names == shift_evals.TINY_NAMES and c.evals.ood.num_ood == 64
  full = digits_cnn.get_config("shift")
  assert full.evals.corruption.names == corruptions.NAMES
  assert full.evals.corruption.severities == (1, 2, 3, 4, 5)
  assert digits_cnn.get_config("holdout=2").data.kwargs.exclude_classes == (8, 9)
  assert set(shift_evals.get_config().evals) == {"calib", "corruption", "ood"}
  with pytest.raises(ValueError, match="Unknown config arg"):
    shift_evals.get_config("tiny,names=3")


def test_evaluate_a_holdout_run_with_the_shift_evals(tmp_path):
  workdir = str(tmp_path)
  loop.train_and_evaluate(digits_cnn.get_config("tiny,holdout=2"), workdir)
  out = loop.evaluate_workdir(workdir, evals=shift_evals.get_config("tiny").evals)
  for k in ("calib/ece", "corruption/gaussian_noise/5/accuracy", "corruption/mean/ece",
            "ood/open_set/max_softmax/auroc", "ood/skimage_photos/neg_entropy/aupr_in",
            "ood/uniform_noise/max_softmax/fpr95"):
    assert np.isfinite(out[k]), k
  # The report draws the severity curves from the logged numbers alone.
  plots = sorted(os.path.basename(p) for p in report.write(workdir)["plots"])
  assert plots == [f"{tmp_path.name}_{kind}.png" for kind in ("reliability_calib",
                                                                "severity_corruption")]


def test_cifar10_uncertainty_settings():
  c = cifar10_uncertainty.get_config()
  assert c.model.name == "wrn28_10" and c.batch_size == 128 and c.num_epochs == 200
  assert c.optimizer.lr == 0.1 and c.optimizer.nesterov and c.optimizer.momentum == 0.9
  assert c.schedule.warmup_steps == 351 and c.schedule.factors == (0.2, 0.2, 0.2)
  # Decays at epochs 60, 120, 160 of 200 (fractions of the post-warmup steps).
  assert np.allclose(np.array(c.schedule.boundaries) * 199 + 1, (60, 120, 160))
  assert c.evals.corruption.source == "tfds" and "svhn_cropped" in c.evals.ood.sets
  ens = cifar10_uncertainty.get_config("method=ensemble,batch=512,c_source=device")
  assert ens.ensemble.size == 4 and ens.optimizer.lr == pytest.approx(0.4)
  assert ens.evals.corruption.source == "device"
  with pytest.raises(ValueError, match="method"):
    cifar10_uncertainty.get_config("method=sngp")


def test_mocked_cifar10_run_reads_cifar10_corrupted(tmp_path):
  tfds = pytest.importorskip("tensorflow_datasets")
  config = cifar10_uncertainty.get_config("tiny")
  with config.unlocked():
    config.data.data_dir = str(tmp_path / "tfds")
  with tfds.testing.mock_data(num_examples=16):
    summary = loop.train_and_evaluate(config, str(tmp_path / "w"))
  assert summary["steps"] == 1
  for k in ("corruption/glass_blur/2/accuracy", "corruption/mean/nll",
            "ood/svhn_cropped/max_softmax/auroc", "ood/uniform_noise/neg_entropy/auroc"):
    assert np.isfinite(summary[k]), k

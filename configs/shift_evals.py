r"""Distribution-shift evals (calibration, common corruptions, OOD detection) for any digits run.

In a config, one line adds them to `config.evals` (keys "calib", "corruption", "ood"):

  from configs import shift_evals
  shift_evals.add_shift_evals(c, tiny=arg.tiny)

or evaluate a finished run's latest checkpoint with them (its model, data and ensemble /
MC-dropout / temperature settings come from its workdir; only `evals` come from this file):

  python -m launch.evaluate --workdir=/tmp/rvjax_digits --config=configs/shift_evals.py

  calib:      rvjax.evaluators.calibration on the test split, as trained and after a temperature
              fitted on val (the reliability diagram is drawn by `launch.report`).
  corruption: rvjax.evaluators.corruption, all 19 corruptions x 5 severities of the test split on
              device (CIFAR-10-C table, pixel sizes scaled to the image); per-cell accuracy, ECE,
              NLL, means, and mCE / relative mCE when `--config.evals.corruption.baseline_workdir`
              names a run evaluated the same way (PNG + JSON in workdir/corruption/).
  ood:        rvjax.evaluators.ood: scikit-image photo crops, uniform noise and, when the run's
              data excludes classes (data.kwargs.exclude_classes), those classes' test images.

Args (strict, for get_config): tiny (2 corruptions x 2 severities, 64 OOD images, batch 64).
"""
import ml_collections

from rvjax import corruptions

TINY_NAMES = ("gaussian_noise", "contrast")
TINY_SEVERITIES = (1, 5)


def shift_evals(*, tiny: bool = False, batch_size: int = 256) -> dict:
  """The three config.evals entries (name -> dict); tiny shrinks them for tests."""
  if tiny:
    batch_size = 64
  return {
      "calib": {"type": "calibration", "split": "test", "batch_size": batch_size,
                "num_bins": 15, "temperature_split": "val"},
      "corruption": {"type": "corruption", "split": "test", "batch_size": batch_size,
                     "names": TINY_NAMES if tiny else tuple(corruptions.NAMES),
                     "severities": TINY_SEVERITIES if tiny else (1, 2, 3, 4, 5),
                     "source": "device", "seed": 0, "num_bins": 15, "baseline_workdir": "",
                     "baseline_eval": "corruption"},
      "ood": {"type": "ood", "split": "test", "batch_size": batch_size,
              "sets": ("skimage_photos", "uniform_noise", "open_set"),
              "num_ood": 64 if tiny else 0, "seed": 0},
  }


def add_shift_evals(config: ml_collections.ConfigDict, *, tiny: bool = False,
                    batch_size: int = 256) -> ml_collections.ConfigDict:
  """Adds (or replaces) config.evals.{calib, corruption, ood}; works on locked configs too."""
  with config.unlocked():
    for name, entry in shift_evals(tiny=tiny, batch_size=batch_size).items():
      config.evals[name] = entry
  return config


def get_config(arg=None):
  """A config holding only `evals`, for `launch.evaluate --config=configs/shift_evals.py`."""
  from configs import common
  arg = common.parse_arg(arg, tiny=False)
  c = ml_collections.ConfigDict({"evals": shift_evals(tiny=arg.tiny)})
  c.lock()
  return c

"""The trust report: built from a workdir's files alone, so these tests write the files by hand."""
import json
import os

import pytest

from rvjax import corruptions, report
from rvjax.report import records

CONFIG = {"seed": 0, "model": {"name": "cnn"}, "objective": {"name": "erm"},
          "data": {"name": "digits"}, "optimizer": {"lr": 0.003},
          "evals": {"test": {"type": "classification", "split": "test"},
                    "calib": {"type": "calibration", "split": "test"},
                    "corruption": {"type": "corruption", "split": "test"},
                    "adv": {"type": "adversarial", "norm": "linf"},
                    "ood": {"type": "ood", "split": "test"},
                    "cert": {"type": "certified"}}}


def full_metrics(accuracy=0.9, sanity_ok=True):
  m = {"test/accuracy": accuracy, "test/loss": 0.3, "calib/ece": 0.05, "calib/nll": 0.3,
       "calib/brier": 0.1, "calib/accuracy": accuracy, "calib/ts/ece": 0.02,
       "calib/ts/nll": 0.25, "calib/ts/brier": 0.09, "calib/ts/temperature": 1.5,
       "calib/reliability/confidence": [0.0] * 14 + [0.95],
       "calib/reliability/accuracy": [0.0] * 14 + [0.9], "calib/reliability/count": [0] * 14 + [10],
       "corruption/clean/accuracy": accuracy, "corruption/clean/ece": 0.05,
       "corruption/mean/accuracy": 0.8, "corruption/mean/ece": 0.1,
       "corruption/extra_mean/accuracy": 0.2, "corruption/extra_mean/ece": 0.1,
       "adv/clean_accuracy": accuracy, "adv/pgd/eps=0.1": 0.4, "adv/worst/eps=0.1": 0.35,
       "adv/sanity/eps_zero": 1.0, "adv/sanity/monotone": 1.0 if sanity_ok else 0.0,
       "ood/skimage_photos/max_softmax/auroc": 0.97, "cert/ibp/eps=0.1": 0.5,
       "cert/clean_accuracy": accuracy, "cert/crown/eps=0.2": 0.25,
       "summary/wall_time_s": 12.5, **records.environment()}
  for c in corruptions.NAMES:  # Benchmark corruptions at 80%, the 4 extras at 20%.
    for s in (1, 2):
      m[f"corruption/{c}/{s}/accuracy"] = 0.8 if c in corruptions.COMMON else 0.2
      m[f"corruption/{c}/{s}/ece"] = 0.1
  return m


def make_workdir(path, metrics, config=CONFIG):
  os.makedirs(path, exist_ok=True)
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump(config, f)
  with open(os.path.join(path, "metrics.jsonl"), "w") as f:
    f.write(json.dumps({"step": 10, **metrics}) + "\n")
  return str(path)


def test_full_scorecard(tmp_path):
  w = make_workdir(tmp_path / "run", full_metrics(sanity_ok=False))
  paths = report.write(w)
  md = open(paths["markdown"]).read()
  # The evaluator's headline (15 benchmark corruptions) and the extras, apart.
  assert "| benchmark (headline) | 15 | 80.00 |" in md and "| extra | 4 | 20.00 |" in md
  # Post-hoc temperature scaling beside the raw ECE.
  assert "| + temperature fit on val | 2.00 |" in md
  # A failed masking check flags every robust number and names the check.
  assert "| pgd | 40.00 (!) |" in md and "failed checks monotone" in md
  # Certified accuracy has its section; provenance is on the scorecard.
  assert "| ibp | 50.00 |" in md and "jax " in md and "12.5 s" in md
  assert "### Adversarial robustness (adv: linf, test split)" in md
  for p in paths["plots"]:
    with open(p, "rb") as f:
      assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert len(paths["plots"]) == 3  # reliability, severity, accuracy vs eps
  data = json.load(open(paths["json"]))
  assert data["runs"][0]["headline"]["C accuracy"] == pytest.approx(0.8)


def test_comparison_has_certified_columns(tmp_path):
  """Each bound method's certified accuracy per eps (they may cover different subsets, so they
  are not merged) and each smoothing radius are comparison columns, in percent."""
  cert = make_workdir(tmp_path / "ibp", full_metrics())
  smooth = make_workdir(tmp_path / "smooth", {
      "test/accuracy": 0.95, "rs/certified_accuracy/r=0": 0.9,
      "rs/certified_accuracy/r=0.5": 0.275, "rs/abstain_rate": 0.1},
      {**CONFIG, "evals": {"test": CONFIG["evals"]["test"], "rs": {"type": "smoothing"}}})
  md = open(report.write(cert, [smooth])["markdown"]).read()
  header = next(line for line in md.splitlines() if line.startswith("| run | seeds |"))
  heads = [c.strip() for c in header.split("|")]
  rows = {r[1]: r for r in ([c.strip() for c in line.split("|")] for line in md.splitlines()
                            if line.startswith(("| ibp | 1 |", "| smooth | 1 |")))}
  for column, ibp, smoothed in (("cert ibp certified eps=0.1", "50.00", "n/a"),
                                ("cert crown certified eps=0.2", "25.00", "n/a"),
                                ("rs certified L2 r=0", "n/a", "90.00"),
                                ("rs certified L2 r=0.5", "n/a", "27.50")):
    assert rows["ibp"][heads.index(column)] == ibp
    assert rows["smooth"][heads.index(column)] == smoothed
  assert not any("abstain" in h for h in heads)


def test_adversarial_subset_is_named(tmp_path):
  evals = {**CONFIG["evals"], "adv": {**CONFIG["evals"]["adv"], "num_examples": 180}}
  w = make_workdir(tmp_path / "sub", full_metrics(), {**CONFIG, "evals": evals})
  md = open(report.write(w)["markdown"]).read()
  assert "### Adversarial robustness (adv: linf, first 180 examples of the test split)" in md


def test_missing_results_name_the_command(tmp_path):
  w = make_workdir(tmp_path / "plain", {"test/accuracy": 0.9, "test/loss": 0.3},
                   config={**CONFIG, "evals": {"test": CONFIG["evals"]["test"]}})
  md = open(report.write(w)["markdown"]).read()
  assert f"Missing: no calibration eval: `python -m launch.evaluate --workdir={w} " \
         "--config=configs/shift_evals.py`" in md
  assert "configs/digits_adversarial.py" in md and "| test | 90.00 | 0.3 |" in md


def test_seeds_aggregate_and_other_settings_do_not(tmp_path):
  runs = [make_workdir(tmp_path / f"s{i}", full_metrics(accuracy=a), {**CONFIG, "seed": i})
          for i, a in enumerate((0.90, 0.92, 0.94))]
  other = make_workdir(tmp_path / "lr", full_metrics(accuracy=0.5),
                       {**CONFIG, "optimizer": {"lr": 0.1}})
  md = open(report.write(runs[0], [*runs[1:], other])["markdown"]).read()
  header = next(line for line in md.splitlines() if line.startswith("| run | seeds |"))
  assert header.count("| accuracy |") == 1  # Each headline column once.
  row = next(line for line in md.splitlines() if line.startswith("| s0 (+2 seeds)"))
  assert "| 3 | 92.00 ± 2.00 (n=3) |" in row
  assert any(line.startswith("| lr | 1 | 50.00 |") for line in md.splitlines())


def test_a_sweep_root_names_its_seed_group(tmp_path):
  ens = [make_workdir(tmp_path / "ensemble" / f"00{i}_seed={i}", full_metrics(accuracy=a),
                      {**CONFIG, "seed": i}) for i, a in enumerate((0.90, 0.94))]
  single = make_workdir(tmp_path / "cnn" / "000_seed=0", full_metrics(accuracy=0.5),
                        {**CONFIG, "optimizer": {"lr": 0.1}})
  md = open(report.write(ens[0], [ens[1], single])["markdown"]).read()
  assert any(line.startswith("| ensemble | 2 | 92.00 ± 2.83 (n=2) |") for line in md.splitlines())
  assert any(line.startswith("| 000_seed=0 | 1 | 50.00 |") for line in md.splitlines())


def test_malformed_metrics_line_is_named(tmp_path):
  w = make_workdir(tmp_path / "bad", {"test/accuracy": 0.9})
  with open(os.path.join(w, "metrics.jsonl"), "a") as f:
    f.write('{"step": 11, "test/accuracy": \n')
  with pytest.raises(ValueError, match=r"metrics.jsonl, line 2: not a metrics record"):
    report.write(w)


def test_not_a_workdir(tmp_path):
  with pytest.raises(FileNotFoundError, match="is not an rvjax workdir"):
    report.write(str(tmp_path))


RESTORER = {"seed": 0, "model": {"name": "dncnn"}, "objective": {"name": "restoration"},
            "data": {"name": "image_folder"},
            "evals": {"bsd": {"type": "restoration", "folder": "BSD68", "crop": 0,
                              "degrade": {"name": "rvjax.degrade.gaussian_noise",
                                          "kwargs": {"sigma": 25.0}}}}}


def test_restorer_scorecard_and_before_after_grid(tmp_path):
  """PSNR/SSIM table of the degraded input and the restored images, and the grid drawn from the
  saved samples: degraded (gray) | restored (white) | clean (black), one row per sample."""
  import numpy as np
  from PIL import Image
  w = make_workdir(tmp_path / "dncnn", {"bsd/psnr": 27.77, "bsd/ssim": 0.744,
                                         "bsd/psnr_input": 20.48, "bsd/ssim_input": 0.4,
                                         "bsd/psnr_per_image": [27.0, 28.54]}, RESTORER)
  shape = (2, 16, 16, 1)
  records.write_samples(w, "bsd", {"degraded": np.full(shape, 0.5), "restored": np.ones(shape),
                                   "clean": np.zeros(shape)})
  paths = report.write(w)
  md = open(paths["markdown"]).read()
  assert "### Restoration quality (bsd: BSD68, gaussian_noise sigma=25.0)" in md
  assert "| degraded input | 20.48 | 0.4 | n/a |" in md and "| restored | 27.77 | 0.744 | n/a |" in md
  assert "Means over 2 images; the restorer gains +7.29 dB" in md
  grid = [p for p in paths["plots"] if "restoration_grid_bsd" in p]
  assert len(grid) == 1 and f"]({os.path.basename(grid[0])})" in md
  img = np.asarray(Image.open(grid[0]).convert("L"), np.float32)
  height, width = img.shape
  assert width == 3 * 220 and height == 2 * 220  # 3 columns, 2 rows (2.2 in at 100 dpi each).
  for column, want in ((0, 128), (1, 255), (2, 0)):
    centre = img[height // 4, int((column + 0.5) * width / 3)]
    assert abs(centre - want) < 30, (column, centre)
  # One image: the writer logs its 1-element per-image list as a scalar.
  one = make_workdir(tmp_path / "one", {"bsd/psnr": 27.0, "bsd/psnr_input": 20.0,
                                         "bsd/psnr_per_image": 27.0}, RESTORER)
  assert "Means over 1 image; the restorer gains +7.00 dB" in open(report.write(one)["markdown"]).read()


def test_comparison_leaves_out_columns_no_run_has(tmp_path):
  """Two restorers: their PSNR/SSIM columns and no classification columns; beside a classifier,
  the classifier's columns come back, n/a on the restorers' rows."""
  a = make_workdir(tmp_path / "dncnn", {"bsd/psnr": 27.5, "bsd/ssim": 0.75,
                                         "bsd/psnr_input": 20.123}, RESTORER)
  b = make_workdir(tmp_path / "dncnn_lr", {"bsd/psnr": 28.0, "bsd/ssim": 0.77},
                   {**RESTORER, "optimizer": {"lr": 0.1}})
  md = open(report.write(a, [b])["markdown"]).read()
  header = next(line for line in md.splitlines() if line.startswith("| run | seeds |"))
  assert header.startswith(
      "| run | seeds | bsd PSNR | bsd SSIM | bsd PSNR of input | wall time (s) |")
  # PSNR in dB to 2 decimals, SSIM to 4; the input's PSNR beside the restorer's, n/a where absent.
  assert "| dncnn | 1 | 27.50 | 0.7500 | 20.12 |" in md
  assert "| dncnn_lr | 1 | 28.00 | 0.7700 | n/a |" in md
  cnn = make_workdir(tmp_path / "cnn", full_metrics(accuracy=0.9))
  md = open(report.write(a, [b, cnn])["markdown"]).read()
  header = next(line for line in md.splitlines() if line.startswith("| run | seeds |"))
  heads = [c.strip() for c in header.split("|")]
  row = next([c.strip() for c in line.split("|")] for line in md.splitlines()
             if line.startswith("| dncnn | 1 |"))
  assert row[heads.index("bsd PSNR")] == "27.50" and row[heads.index("accuracy")] == "n/a"

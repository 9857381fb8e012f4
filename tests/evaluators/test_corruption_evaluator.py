"""The corruption evaluator on a linear digits classifier: cells, keys, mCE, files, tfds source."""
import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from rvjax import corruptions, data, evaluators, metrics, sharding
from rvjax.evaluators import corruption

DATA = ml_collections.ConfigDict({"name": "digits", "data_dir": "", "kwargs": {}})
NAMES, SEVERITIES = ("gaussian_noise", "contrast", "saturate"), (1, 5)  # saturate: an extra
BATCH = 120  # 360 test images: 3 full batches, batch b keyed fold_in(cell key, b)


pytestmark = pytest.mark.usefixtures("fast_compile")  # Small graphs: optimizing costs more.


@pytest.fixture(scope="module")
def params():
  """Least-squares linear classifier on flattened digits (about 95% test accuracy)."""
  train = data.load("digits", "train")
  feats = np.c_[train.images.reshape(len(train), -1), np.ones(len(train))]
  coef = np.linalg.lstsq(feats, np.eye(10)[train.labels] * 10, rcond=None)[0].astype(np.float32)
  return {"w": jnp.asarray(coef[:-1]), "b": jnp.asarray(coef[-1])}


def linear(s, x):
  return x.reshape(x.shape[0], -1) @ s["w"] + s["b"]


@pytest.fixture(scope="module")
def run(params):
  ev = evaluators.create("corruption", jax.jit(linear), data=DATA, mesh=sharding.make_mesh(),
                         names=NAMES, severities=SEVERITIES, batch_size=BATCH, seed=3)
  return dict(ev.run(params))


def direct(params, name, severity, seed=3):
  """Cell metrics from corrupt() + the model, batch by batch with the documented keys."""
  test = data.load("digits", "test")
  key = corruption.cell_key(seed, name, severity)
  logits = [linear(params, corruptions.corrupt(jnp.asarray(test.images[lo:lo + BATCH]), name,
                                               severity, key=jax.random.fold_in(key, b)))
            for b, lo in enumerate(range(0, len(test), BATCH))]
  probs = np.asarray(jax.nn.softmax(jnp.concatenate(logits)), np.float64)
  return {"accuracy": metrics.accuracy(probs, test.labels),
          "ece": metrics.ece(probs, test.labels), "nll": metrics.nll(probs, test.labels)}


@pytest.mark.parametrize("name", NAMES)
def test_cells_equal_metrics_of_corrupt_then_predict(run, params, name):
  m = run
  for s in SEVERITIES:
    want = direct(params, name, s)
    for k, v in want.items():
      np.testing.assert_allclose(m[f"{name}/{s}/{k}"], float(v), rtol=1e-5, atol=1e-6,
                                 err_msg=f"{name}/{s}/{k}")


def test_aggregates_and_degradation(run):
  m = run
  # The headline mean covers the benchmark corruptions only; the extra one is reported apart.
  for group, names in (("mean", NAMES[:2]), ("extra_mean", NAMES[2:])):
    for k in ("accuracy", "ece", "nll"):
      want = np.mean([m[f"{c}/{s}/{k}"] for c in names for s in SEVERITIES])
      assert m[f"{group}/{k}"] == pytest.approx(want), (group, k)
  assert m["contrast/accuracy"] == pytest.approx(np.mean([m[f"contrast/{s}/accuracy"]
                                                          for s in SEVERITIES]))
  assert m["clean/accuracy"] > 0.9
  assert m["contrast/5/accuracy"] < m["contrast/1/accuracy"] <= m["clean/accuracy"] + 0.01
  assert "mce" not in m  # no baseline given


def test_mce_formulas_by_hand():
  errors = {"fog": [0.1, 0.3], "snow": [0.2, 0.2]}
  base = {"fog": [0.2, 0.4], "snow": [0.1, 0.3]}
  ce = corruption.corruption_errors(errors, base)
  assert ce == pytest.approx({"fog": 0.4 / 0.6, "snow": 0.4 / 0.4})
  rel = corruption.relative_corruption_errors(errors, 0.05, base, 0.1)
  assert rel == pytest.approx({"fog": (0.05 + 0.25) / (0.1 + 0.3),
                               "snow": (0.15 + 0.15) / (0.0 + 0.2)})


def write_baseline(path, accs: dict, clean: float, eval_name="corr"):
  """A baseline metrics.jsonl: an older incomplete record, then the full one."""
  os.makedirs(path, exist_ok=True)
  record = {"step": 10, f"{eval_name}/clean/accuracy": clean,
            **{f"{eval_name}/{c}/{s}/accuracy": a for (c, s), a in accs.items()}}
  with open(os.path.join(path, "metrics.jsonl"), "w") as f:
    f.write(json.dumps({"step": 5, f"{eval_name}/clean/accuracy": 0.0}) + "\n")
    f.write(json.dumps(record) + "\n")


def test_mce_against_a_baseline_workdir(tmp_path):
  names, sev = ("fog", "saturate"), (2, 4)  # one benchmark and one extra corruption
  base_acc = {("fog", 2): 0.8, ("fog", 4): 0.6, ("saturate", 2): 0.9, ("saturate", 4): 0.7}
  write_baseline(str(tmp_path), base_acc, clean=0.95)
  ev = evaluators.create("corruption", linear, data=DATA, mesh=sharding.make_mesh(), names=names,
                         severities=sev, baseline_workdir=str(tmp_path),
                         baseline_eval="corr")
  acc = {("fog", 2): 0.9, ("fog", 4): 0.7, ("saturate", 2): 0.95, ("saturate", 4): 0.85}
  cells = {c: {s: {"accuracy": acc[c, s]} for s in sev} for c in names}
  out = ev.mce({"accuracy": 0.97}, cells)
  ce_fog, ce_sat = (0.1 + 0.3) / (0.2 + 0.4), (0.05 + 0.15) / (0.1 + 0.3)
  rel_fog = (0.07 + 0.27) / (0.15 + 0.35)
  rel_sat = (0.02 + 0.12) / (0.05 + 0.25)
  assert out["mce"] == pytest.approx(ce_fog) and out["relative_mce"] == pytest.approx(rel_fog)
  assert out["mce_all"] == pytest.approx((ce_fog + ce_sat) / 2)
  assert out["relative_mce_all"] == pytest.approx((rel_fog + rel_sat) / 2)
  assert out["saturate/ce"] == pytest.approx(ce_sat)
  # A corruption that leaves the baseline's error unchanged has no relative CE: left out.
  write_baseline(str(tmp_path), {**base_acc, ("saturate", 2): 0.95, ("saturate", 4): 0.95},
                 clean=0.95)
  ev = evaluators.create("corruption", linear, data=DATA, mesh=sharding.make_mesh(), names=names,
                         severities=sev, baseline_workdir=str(tmp_path), baseline_eval="corr")
  out = ev.mce({"accuracy": 0.97}, cells)
  assert np.isnan(out["saturate/relative_ce"])
  assert out["relative_mce_all"] == pytest.approx(rel_fog)
  with pytest.raises(ValueError, match="missing"):
    evaluators.create("corruption", linear, data=DATA, mesh=sharding.make_mesh(),
                      names=("fog", "snow"), severities=sev, baseline_workdir=str(tmp_path),
                      baseline_eval="corr")


def test_bad_arguments():
  mesh = sharding.make_mesh()
  with pytest.raises(ValueError, match="corruption name"):
    evaluators.create("corruption", linear, data=DATA, mesh=mesh, names=("fogg",))
  with pytest.raises(ValueError, match="severities"):
    evaluators.create("corruption", linear, data=DATA, mesh=mesh, severities=(0,))
  with pytest.raises(ValueError, match="CIFAR-10-C"):
    evaluators.create("corruption", linear, data=DATA, mesh=mesh, source="tfds")


def test_tfds_source_reads_cifar10_corrupted(tmp_path):
  tfds = pytest.importorskip("tensorflow_datasets")
  cfg = ml_collections.ConfigDict({"name": "cifar10", "data_dir": str(tmp_path), "kwargs": {}})
  w = jax.random.normal(jax.random.key(0), (32 * 32 * 3, 10)) * 0.05
  predict = jax.jit(lambda s, x: x.reshape(x.shape[0], -1) @ s)
  with tfds.testing.mock_data(num_examples=16):
    ev = evaluators.create("corruption", predict, data=cfg, mesh=sharding.make_mesh(),
                           source="tfds", names=("glass_blur",), severities=(2,), batch_size=8,
                           num_examples=12)
    m = dict(ev.run(w))
    ds = data.load("cifar10_corrupted/frosted_glass_blur_2", "test", data_dir=str(tmp_path))
  probs = np.asarray(jax.nn.softmax(predict(w, jnp.asarray(ds.images[:12]))), np.float64)
  assert m["glass_blur/2/accuracy"] == pytest.approx(float(metrics.accuracy(probs, ds.labels[:12])))
  assert m["glass_blur/2/nll"] == pytest.approx(float(metrics.nll(probs, ds.labels[:12])), rel=1e-5)


@pytest.mark.parametrize("name", ["glass_blur", "jpeg_compression"])
def test_cpu_compile_options_change_rounding_only(name):
  """The evaluator's cells compile with LLVM optimization level 0 on CPU; their images equal the
  default compilation's within float rounding (a wrong option or a dropped key would not)."""
  x = jnp.asarray(data.load("digits", "test").images[:64])
  key = jax.random.key(5)
  got = corruption._corrupt(x, key, name=name, severity=3, table="cifar10")
  want = jax.jit(lambda z, k: corruptions.corrupt(z, name, 3, key=k, table="cifar10"))(x, key)
  np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-5)
  assert float(jnp.abs(want - x).mean()) > 0.01  # The corruption does change the images.

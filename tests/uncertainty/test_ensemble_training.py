"""End-to-end ensemble training: one checkpoint that restores, per-member logs, member sharding."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from configs import digits_ensemble
from rvjax import data as data_lib
from rvjax.evaluators import predictions
from rvjax.train import checkpoint, loop, writers, workdir as workdir_lib

pytestmark = pytest.mark.usefixtures("fast_compile")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
K = 2  # The tiny config's size.


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("ens"))
  return workdir, loop.train_and_evaluate(digits_ensemble.get_config("tiny"), workdir)


def test_ensemble_checkpoint_restores(ensemble_run):
  workdir, summary = ensemble_run
  assert summary["steps"] == 6
  assert sum(summary["calib/reliability/count"]) == 360  # Every test example in some bin.
  records = writers.read_metrics(workdir)
  last = [r for r in records if "train/loss" in r][-1]
  assert len(last["train/loss_members"]) == K
  np.testing.assert_allclose(np.mean(last["train/loss_members"]), last["train/loss"], rtol=1e-6)
  # One checkpoint holds all members: restore it and predict like the run did.
  config = workdir_lib.load_config(workdir)
  train_ds = data_lib.load_split(config.data, "train")
  model, _, tx, _, _ = loop.build(config, train_ds)
  mesh = loop.make_mesh(config)
  shape = (config.batch_size,) + train_ds.images.shape[1:]
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"))
  state, meta = ckpt.restore(loop.abstract_state(config, model, tx, shape, mesh))
  assert meta["fingerprint"]["ensemble.size"] == K
  assert all(x.shape[0] == K for x in jax.tree.leaves(state))
  assert np.all(np.asarray(state.step) == 6)
  test_ds = data_lib.load_split(config.data, "test")
  logits = predictions.collect_logits(loop.make_predict_fn(config, model, mesh), state, test_ds,
                                      batch_size=64, mesh=mesh)
  acc = np.mean(logits.argmax(-1) == test_ds.labels)
  assert acc == pytest.approx(summary["test/accuracy"], abs=1e-6)
  # Rerunning the finished run resumes from that checkpoint and evaluates the same.
  again = loop.train_and_evaluate(digits_ensemble.get_config("tiny"), workdir)
  assert again["source"].startswith("resumed") and again["test/loss"] == summary["test/loss"]


def test_checkpoint_of_another_ensemble_size_is_refused(ensemble_run, tmp_path):
  config = digits_ensemble.get_config("tiny")
  with config.unlocked():
    config.ensemble.size = 3
  with pytest.raises(workdir_lib.WorkdirError, match="ensemble.size: 2 -> 3"):
    loop.train_and_evaluate(config, ensemble_run[0])


SCRIPT = """
import json, sys, jax
from configs import digits_ensemble
from rvjax.train import loop
assert jax.device_count() == 8, jax.devices()
config = digits_ensemble.get_config("tiny")
with config.unlocked():
  config.evals = {"test": config.evals.test}
mesh = loop.make_mesh(config)
assert dict(mesh.shape) == {"member": 2, "data": 4}, mesh.shape
print(json.dumps(loop.train_and_evaluate(config, sys.argv[1])))
"""


def test_members_sharded_over_eight_devices_match_one(ensemble_run, tmp_path):
  """2 members on a (member 2, data 4) mesh (vmap) give the single-device (unroll) losses."""
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
         "JAX_PLATFORMS": "cpu"}
  result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  sharded = json.loads(result.stdout.strip().splitlines()[-1])
  workdir, one = ensemble_run
  losses = lambda w: [r["train/loss_members"] for r in writers.read_metrics(w)
                      if "train/loss_members" in r]
  np.testing.assert_allclose(losses(tmp_path), losses(workdir)[:len(losses(tmp_path))], rtol=1e-4)
  np.testing.assert_allclose(sharded["test/loss"], one["test/loss"], rtol=1e-3)

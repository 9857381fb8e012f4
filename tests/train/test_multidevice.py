"""Data parallelism: 8 fake CPU devices give the same losses as 1 device."""
import json
import os
import subprocess
import sys

import numpy as np

from configs import digits_cnn
from rvjax.train import loop, writers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = """
import json, sys, jax
from configs import digits_cnn
from rvjax.train import loop
assert jax.device_count() == 8, jax.devices()
config = digits_cnn.get_config("tiny")
with config.unlocked():
  config.model.name = "cnn"  # batch norm: statistics must be global over the sharded batch
print(json.dumps(loop.train_and_evaluate(config, sys.argv[1])))
"""


def test_eight_devices_match_one(tmp_path):
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
         "JAX_PLATFORMS": "cpu"}
  result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "eight")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  config = digits_cnn.get_config("tiny")
  with config.unlocked():
    config.model.name = "cnn"
  one = loop.train_and_evaluate(config, str(tmp_path / "one"))
  eight = json.loads(result.stdout.strip().splitlines()[-1])
  losses = lambda w: [r["train/loss"] for r in writers.read_metrics(w) if "train/loss" in r]
  np.testing.assert_allclose(losses(tmp_path / "eight"), losses(tmp_path / "one"), rtol=1e-4)
  np.testing.assert_allclose(eight["test/loss"], one["test/loss"], rtol=1e-3)

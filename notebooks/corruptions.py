# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
# ---

# %% [markdown]
# # Common corruptions and AugMix
#
# The 19 ImageNet-C / CIFAR-10-C corruptions x 5 severities run on device as pure functions
# `corrupt(x, name, severity, key=...)` on [0, 1] images. The benchmark headline averages the
# first 15 (`rvjax.corruptions.COMMON`); the 4 extras are reported separately.
#
# `TINY = True` trains a few steps (CI); `False` trains the main job (about 15 s).

# %%
import tempfile

import jax
import numpy as np

import rvjax
from configs import digits_cnn
from rvjax.train import loop

TINY = True
print(len(rvjax.corruptions.COMMON), "benchmark corruptions:", ", ".join(rvjax.corruptions.COMMON))
print("extras:", ", ".join(rvjax.corruptions.EXTRA))

# %%
workdir = tempfile.mkdtemp(prefix="digits_")
loop.train_and_evaluate(digits_cnn.get_config("tiny" if TINY else None), workdir)
config, model, state, mesh = loop.restore_workdir(workdir)
predict = loop.make_predict_fn(config, model, mesh)
test = rvjax.data.load("digits", "test")
x, y = test.images[:128], test.labels[:128]

# %% [markdown]
# ## Accuracy against severity for a few corruptions

# %%
for name in ("gaussian_noise", "motion_blur", "contrast", "jpeg_compression"):
  accs = []
  for severity in range(1, 6):
    x_c = rvjax.corruptions.corrupt(x, name, severity, key=jax.random.key(severity))
    assert x_c.shape == x.shape and 0.0 <= float(x_c.min()) and float(x_c.max()) <= 1.0
    accs.append(float(rvjax.metrics.accuracy(predict(state, x_c), y)))
  print(f"{name:18s}", " ".join(f"{a:.3f}" for a in accs))

# %% [markdown]
# ## AugMix: a Dirichlet mix of augmentation chains, then a Beta skip connection

# %%
mixed = rvjax.augment.augmix(jax.random.key(0), x[:8])
print("AugMix output", mixed.shape, "mean |change|", float(np.abs(mixed - x[:8]).mean()))

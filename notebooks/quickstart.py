# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # rvjax quickstart
#
# Train the tiny digits CNN, then probe it: calibration, a corruption, and a PGD attack. Runs in well under a minute on a CPU; CI executes every code cell (`tests/test_notebooks.py`).

# %%
import tempfile

import jax
import numpy as np

import rvjax
from configs import digits_cnn
from rvjax.train import loop

# %% [markdown]
# ## Train
# `:tiny` shrinks the main job to a few steps; drop it for the real run (99% test accuracy in about 15 s).

# %%
config = digits_cnn.get_config("tiny")
workdir = tempfile.mkdtemp()
summary = loop.train_and_evaluate(config, workdir)
print({k: round(v, 4) for k, v in summary.items() if k.startswith("test/")})

# %% [markdown]
# ## Predict, calibrate, corrupt, attack
# Every piece works on float NHWC images in [0, 1].

# %%
config, model, state, mesh = loop.restore_workdir(workdir)
predict = loop.make_predict_fn(config, model, mesh)  # (state, images) -> logits, eval mode
logits_fn = lambda x: predict(state, x)

ds = rvjax.data.load("digits", "test")
x, y = ds.images[:64], ds.labels[:64]
probs = jax.nn.softmax(logits_fn(x))
print("accuracy", float(rvjax.metrics.accuracy(probs, y)), "ECE", float(rvjax.metrics.ece(probs, y)))

# %%
x_c = rvjax.corruptions.corrupt(x, "gaussian_noise", 3, key=jax.random.key(0))
print("gaussian_noise/3 accuracy", float(rvjax.metrics.accuracy(logits_fn(x_c), y)))

x_adv = rvjax.attacks.pgd(logits_fn, x, y, key=jax.random.key(1), eps=0.1, step_size=0.025, steps=10)
print("max |delta|", float(np.abs(x_adv - x).max()), "PGD-10 accuracy", float(rvjax.metrics.accuracy(logits_fn(x_adv), y)))

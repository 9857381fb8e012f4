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
# # Deep ensembles, MC dropout and calibration
#
# A deep ensemble is one stacked pytree: K members trained by one step mapped over them. Its
# prediction pools member probabilities; member disagreement (mutual information) flags
# inputs unlike the training data. Temperature scaling is fitted on held-out data only.
#
# `TINY = True` runs a few steps (CI); `False` trains the README's 5-member ensemble (about
# 90 s on a 2-core CPU: test accuracy 99.44 %, ECE 1.54 %).

# %%
import tempfile

import jax
import numpy as np

import rvjax
from configs import digits_ensemble
from rvjax.evaluators import predictions
from rvjax.train import loop

TINY = True

# %%
config = digits_ensemble.get_config("tiny" if TINY else None)
workdir = tempfile.mkdtemp(prefix="ensemble_")
summary = loop.train_and_evaluate(config, workdir)
print({k: round(v, 4) for k, v in summary.items() if k in ("test/accuracy", "calib/ece")})

# %% [markdown]
# ## Member logits, pooled probabilities and mutual information

# %%
config, model, state, mesh = loop.restore_workdir(workdir)
member_logits = loop.make_member_logits_fn(config, model, mesh)
test = rvjax.data.load("digits", "test")
x, y = test.images[:64], test.labels[:64]
logits = np.asarray(member_logits(state, x))                      # (K, B, classes)
print("members, batch, classes:", logits.shape)
probs = jax.nn.softmax(logits, -1)
print("member accuracies", [round(float(rvjax.metrics.accuracy(p, y)), 3) for p in probs])
print("pooled accuracy", float(rvjax.metrics.accuracy(probs.mean(0), y)))
noise = jax.random.uniform(jax.random.key(0), x.shape)
mi = lambda z: float(rvjax.metrics.mutual_information(
    jax.nn.softmax(np.asarray(member_logits(state, z)), -1)).mean())
print("mutual information: digits", round(mi(x), 4), " uniform noise", round(mi(noise), 4))

# %% [markdown]
# ## Temperature scaling on held-out logits

# %%
predict = loop.make_predict_fn(config, model, mesh)
val = rvjax.data.load("digits", "val")
val_logits = predictions.collect_logits(predict, state, val, batch_size=64, mesh=mesh)
t = rvjax.uncertainty.fit_temperature(val_logits, val.labels)
test_logits = predictions.collect_logits(predict, state, test, batch_size=64, mesh=mesh)
for name, scale in (("as trained", 1.0), (f"T = {t:.3f}", t)):
  p = predictions.softmax(test_logits / scale)
  print(f"{name}: ECE {float(rvjax.metrics.ece(p, test.labels)):.4f}  "
        f"NLL {float(rvjax.metrics.nll(p, test.labels)):.4f}")

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
# # Certified robustness: bounds, certified training, randomized smoothing
#
# PGD finds a lower bound on the worst case; interval (IBP) and linear-relaxation (CROWN)
# bounds give an upper bound over the whole L-inf ball, so a positive lower margin certifies
# the prediction. Randomized smoothing certifies an L2 radius instead.
#
# `TINY = True` trains a few steps (CI); `False` trains the README's IBP model (about 30 s).

# %%
import tempfile

import jax
import numpy as np

import rvjax
from configs import digits_certified
from rvjax.train import loop

TINY = True
EPS = 0.1
arg = f"method=ibp,eps={EPS}" + (",tiny" if TINY else "")

# %%
workdir = tempfile.mkdtemp(prefix="ibp_")
loop.train_and_evaluate(digits_certified.get_config(arg), workdir)
config, model, state, mesh = loop.restore_workdir(workdir)
variables = {"params": state.params, **state.model_state}
test = rvjax.data.load("digits", "test")
x, y = test.images[:64], test.labels[:64]

# %% [markdown]
# ## Bounds are sound: PGD's logits lie inside them; CROWN is at least as tight as IBP

# %%
lo_ibp, hi_ibp = rvjax.certify.interval_bounds(model.apply, variables, x, EPS)
lo_crown, hi_crown = rvjax.certify.linear_bounds(model.apply, variables, x, EPS)
logits_fn = lambda z: model.apply(variables, z, train=False)
x_adv = rvjax.attacks.pgd(logits_fn, x, y, key=jax.random.key(0), eps=EPS,
                          step_size=EPS / 4, steps=10)
z = logits_fn(x_adv)
assert np.all(z >= lo_ibp - 1e-4) and np.all(z <= hi_ibp + 1e-4)
print("mean width IBP", float((hi_ibp - lo_ibp).mean()), " CROWN",
      float((hi_crown - lo_crown).mean()))
pgd_acc = float(rvjax.metrics.accuracy(z, y))
for method in ("ibp", "crown"):
  cert = float(rvjax.certify.certified_accuracy(model.apply, variables, x, y, EPS, method=method))
  print(f"{method}-certified accuracy {cert:.3f} <= PGD accuracy {pgd_acc:.3f}")

# %% [markdown]
# ## Randomized smoothing (Cohen et al.): prediction or abstain (-1), and a certified L2 radius

# %%
pred, radius = rvjax.certify.smooth_certify(logits_fn, x[:16], jax.random.key(1), sigma=0.25,
                                            n0=20, n=200 if TINY else 10_000, alpha=0.001)
print("abstained", int((pred == -1).sum()), "of 16; radii", np.round(radius, 3))

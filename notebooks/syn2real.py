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
# # Synthetic to real, and learning to optimize
#
# A differentiable renderer draws digits as soft strokes in JAX, with domain-randomization knobs
# psi (rotation, shear, thickness, blur, noise, backgrounds, ...). A CNN trained only on renders
# is tested on scikit-learn's real digits. Then the three learned pieces: ASG's proxy guidance
# from a frozen source model, a learning-rate policy trained by REINFORCE over vmapped inner runs
# (learn to optimize), and psi itself learned by REINFORCE and by gradients through the unrolled
# inner training (learning to simulate).
#
# `TINY = True` (CI) renders, trains one synthetic-to-real row and meta-trains the learning-rate
# policy for one iteration; it leaves out the comparisons (no DR, ASG alone, the policy's
# deployment) and learning to simulate. `False` runs all of it at the table's settings
# (`configs/syn2real_digits.py`'s docstring and benchmarks/learn_to_simulate.py; minutes).

# %%
import tempfile

import jax
import jax.numpy as jnp

import rvjax
from configs import syn2real_digits
from rvjax.data import knobs
from rvjax.l2o import lr_meta, policy, simulate
from rvjax.train import syn2real

TINY = True
tiny = ",tiny" if TINY else ""
source_dir = tempfile.mkdtemp(prefix="syn2real_")

# %% [markdown]
# ## The renderer: jit-able, batched, differentiable in its knobs

# %%
labels = jnp.arange(10)
render = jax.jit(rvjax.data.synthetic.render, static_argnames="size")  # one compile for both
plain = render(jax.random.key(0), labels, knobs.make("none"), size=8)
randomized = render(jax.random.key(0), labels, knobs.make("full_dr"), size=8)
real = rvjax.data.load("digits", "test")
print("renders", plain.shape, "in [%.2f, %.2f]" % (float(plain.min()), float(plain.max())))
for name, x in (("plain", plain), ("full DR", randomized), ("real", real.images)):
  print(f"{name:8s} mean {float(x.mean()):.3f}  std {float(x.std()):.3f}")

# %% [markdown]
# ## Train on renders, test on real digits: domain randomization against none
# `syn2real.run` trains through the core's `train_for`, keeps the checkpoint with the best
# synthetic-val accuracy, and reports the real test accuracy (the real labels are never used
# for training or selection).

# %%
for dr in (True,) if TINY else (True, False):
  out = syn2real.run(syn2real_digits.get_config(f"row=scratch,dr={dr}{tiny}"))
  print(f"DR={dr!s:5s} real test {100 * out['real_test/accuracy']:5.1f}%  "
        f"syn val {100 * out['syn_val/accuracy']:5.1f}%  ({out['wall_time_s']:.1f} s)")

# %% [markdown]
# ## ASG: proxy guidance from a frozen source model
# The source model here learns rotation prediction on the real digits' images (labels unused);
# the new model is trained with CE + lambda KL(p_old || p_new) through the old head.

# %%
syn2real.pretrain_source(syn2real_digits.source_path(source_dir, "digits"), "digits_rotation",
                         "cnn", model_kwargs={"widths": (4, 8, 8) if TINY else (16, 32, 64)},
                         steps=2 if TINY else 400, batch_size=16 if TINY else 64)
asg = f"row=asg_pg,source=digits,source_dir={source_dir}{tiny}"
if not TINY:  # In CI the meta-training below runs this row's objective.
  out = syn2real.run(syn2real_digits.get_config(asg))
  print(f"ASG proxy guidance: real test {100 * out['real_test/accuracy']:.1f}%")

# %% [markdown]
# ## Learning to optimize: an LSTM picks per-group learning-rate multipliers
# Every window it observes the losses, progress, head statistics and current multipliers and
# picks a multiplier in {0, 0.1, ..., 1} per group (conv stages, head). REINFORCE trains it on
# N optimizees run as one vmapped program; the reward is the synthetic-val loss drop.

# %%
config = syn2real_digits.get_config(asg)
learned, history = lr_meta.meta_train(config, num_optimizees=2 if TINY else 8,
                                      windows=2 if TINY else 6, window=2 if TINY else 10,
                                      iterations=1 if TINY else 20, hidden=8 if TINY else 32)
print("mean return per iteration:", [round(float(h[0]), 4) for h in history])
path = f"{source_dir}/policy.msgpack"
policy.save(path, learned)  # Deployed by a config: row=asg_l2o,policy=PATH.
if not TINY:
  out = syn2real.run(syn2real_digits.get_config(
      f"row=asg_l2o,source=digits,source_dir={source_dir},policy={path}"))
  print(f"ASG + L2O policy: real test {100 * out['real_test/accuracy']:.1f}%")
  for step, scales in out["lr_history"]:
    print(f"step {step}: multipliers {scales}")

# %% [markdown]
# ## Learning to simulate: the renderer's knobs psi by REINFORCE and by unrolled gradients
# One evaluation of psi trains a small CNN from scratch on its renders and scores it on held-out
# real-train images; the renderer being differentiable, the gradient variant backpropagates the
# validation loss through the whole inner training.

# %%
if not TINY:  # About 20 s of compilation alone even at tiny settings: left out of CI.
  train = rvjax.data.load("digits", "train")
  inner = simulate.InnerTraining(train.images[:500], train.labels[:500], steps=30, batch_size=32)
  u0 = jnp.zeros(len(simulate.LEARNED))
  mu, _ = simulate.reinforce_search(inner, u0, iterations=20, num=8)
  print("psi by REINFORCE:", simulate.as_overrides(mu))
  u, _ = simulate.gradient_search(inner, u0, iterations=20, num=2)
  print("psi by gradient: ", simulate.as_overrides(u))

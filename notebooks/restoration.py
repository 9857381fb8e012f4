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
# # Degraded visual environments: degrade, restore, measure
#
# Degradations are differentiable transforms `f(key, images, **params)` on [0, 1] images;
# classical restorers are batched, jit-able JAX functions; PSNR/SSIM match scikit-image and
# NIQE-style no-reference quality uses this project's own fit on Train400 (not the published
# model). Everything here runs on a CPU in seconds.

# %%
import jax
import numpy as np
from skimage import data as skdata

import rvjax

TINY = True
size = 64 if TINY else 256
clean = np.asarray(skdata.camera()[::512 // size, ::512 // size], np.float32)[None, ..., None] / 255
print("image", clean.shape)

# %% [markdown]
# ## Denoising: y = x + e, sigma on the 0-255 scale, not clipped (the DnCNN protocol)

# %%
key = jax.random.key(0)
noisy = rvjax.degrade.gaussian_noise(key, clean, sigma=25)
for name, restored in (("noisy", noisy),
                       ("TV", rvjax.restore.tv_denoise(noisy, weight=0.08)),
                       ("wavelet", rvjax.restore.wavelet_denoise(noisy, sigma=25)),
                       ("NLM", rvjax.restore.nlm_denoise(noisy, sigma=25))):
  print(f"{name:8s} PSNR {float(rvjax.metrics.psnr(restored, clean)[0]):6.2f} dB  "
        f"SSIM {float(rvjax.metrics.ssim(np.clip(restored, 0, 1), clean)[0]):.3f}")

# %% [markdown]
# ## Deblurring: y = M (x) x + e with a known kernel, Wiener and Tikhonov in the Fourier domain
# Fourier-domain deconvolution assumes a circular blur; with `padding="symmetric"` the border
# mismatch rings and can cost more than the blur itself.

# %%
kernel = rvjax.degrade.kernels.gaussian(9, 1.6)
blurred = rvjax.degrade.gaussian_noise(
    jax.random.key(3), rvjax.degrade.blur(None, clean, kernel=kernel, padding="wrap"), sigma=2)
for name, fn in (("blurred", None), ("Wiener", rvjax.restore.wiener),
                 ("Tikhonov", rvjax.restore.tikhonov)):
  out = blurred if fn is None else fn(blurred, kernel=kernel, balance=0.01)
  print(f"{name:9s} PSNR {float(rvjax.metrics.psnr(out, clean)[0]):6.2f} dB")

# %% [markdown]
# ## Super-resolution input, low light, haze and JPEG; no-reference quality

# %%
small = rvjax.degrade.downsample(None, clean, factor=4)
print("x4 bicubic downsample:", small.shape)
dark = rvjax.degrade.low_light(jax.random.key(1), clean, exposure=0.25, gamma=1.5)
hazy = rvjax.degrade.haze(jax.random.key(2), clean)
blocky = rvjax.degrade.jpeg(None, clean, quality=10)
for name, img in (("clean", clean), ("noisy", np.clip(noisy, 0, 1)), ("dark", dark),
                  ("hazy", hazy), ("jpeg q10", blocky)):
  print(f"{name:9s} NIQE-style score {float(rvjax.metrics.niqe(img)[0]):6.2f}  (lower = cleaner)")

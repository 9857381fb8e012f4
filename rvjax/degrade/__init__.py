"""rvjax.degrade: forward operators y = A(x) + e of degraded visual environments.

Every operator is a transform `f(key, images, **params) -> images` on float NHWC batches in
[0, 1]: batched, jit-able (params static or traced as documented) and differentiable in the
images. Deterministic operators ignore their key and accept None.

  gaussian_noise(key, x, sigma=25)             AWGN, sigma on the 0-255 scale, not clipped
  blind_gaussian_noise(key, x, sigma_max=55)   AWGN, sigma ~ U[0, 55] per image (DnCNN-B)
  poisson_gaussian(key, x, gain=0.01, sigma=2)  shot + read noise
  blur(None, x, kernel=kernels.gaussian(9, 1.6))  kernels: gaussian, box, line, motion
  blur_noise(key, x, kernel=k, sigma=2)         blur then AWGN (non-blind deblurring)
  downsample(None, x, factor=4)                 MATLAB-style anti-aliased bicubic (imresize)
  sr_input(None, x, factor=4)                   bicubic down then up: an SR network's input
  low_light(key, x, exposure=.25, gamma=1.5)    dark exposure, gamma, sensor noise
  haze(key, x, depth=d, beta=1, airlight=.9)    I = J t + A (1 - t)
  rain(key, x, density=.01, length=15)          streaks
  jpeg(None, x, quality=20)                     differentiable 8x8 block-DCT quantization
"""
from rvjax.degrade import kernels
from rvjax.degrade.environment import haze, low_light, rain
from rvjax.degrade.jpeg import jpeg
from rvjax.degrade.noise import blind_gaussian_noise, gaussian_noise, poisson_gaussian
from rvjax.degrade.optics import blur, blur_noise
from rvjax.degrade.resize import downsample, imresize, sr_input

__all__ = ["kernels", "gaussian_noise", "blind_gaussian_noise", "poisson_gaussian", "blur",
           "blur_noise",
           "downsample", "imresize", "sr_input",
           "low_light", "haze", "rain", "jpeg"]

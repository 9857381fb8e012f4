"""rvjax.restore: classical image restorers in JAX (batched, jit-able, float NHWC in and out).

  tv_denoise(y, weight=0.1)                      Chambolle TV (== skimage denoise_tv_chambolle)
  wiener(y, kernel=k, balance=0.01)              Wiener-Hunt deconvolution (== skimage wiener)
  tikhonov(y, kernel=k, balance=0.01)            L2-regularized Fourier deconvolution
  wavelet_denoise(y, sigma=25)                   Haar Bayes/VisuShrink (== skimage, db1)
  nlm_denoise(y, sigma=25)                       non-local means
  gamma_brighten(y, target_mean=0.5)             adaptive gamma for low light

Noise levels `sigma` are on the 0-255 scale, as in `rvjax.degrade`. Outputs are not clipped.
"""
from rvjax.restore.deconvolution import tikhonov, wiener
from rvjax.restore.exposure import gamma_brighten
from rvjax.restore.nlm import nlm_denoise
from rvjax.restore.tv import tv_denoise
from rvjax.restore.wavelet import wavelet_denoise

__all__ = ["tv_denoise", "wiener", "tikhonov", "wavelet_denoise", "nlm_denoise",
           "gamma_brighten"]

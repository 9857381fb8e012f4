"""Restoration-quality evaluator: PSNR/SSIM (and optionally NIQE) of a restorer on an image folder.

The trainer hands it the restorer's `predict_fn(state, images) -> restored images`; it never
touches the model. Each clean image x of the folder (BSD68, Set5, ...) is degraded once with a
key fixed by (seed, image index), y = degrade(key, x), so every evaluation of every run sees the
same inputs; the restored f(y) (clipped to [0, 1]) and y itself are scored against x.

Images are grouped by shape and run at their true size (one compilation per shape, no padding
that a convolutional restorer would see). A degradation that crops (`rvjax.degrade.sr_input`
crops to a multiple of the scale) crops the reference the same way: top-left kept.

Given the run's `workdir` and the eval's `name` (context from the trainer), it also keeps a
centre crop of the first `samples` images, degraded / restored / clean, in
workdir/samples/<name>.npz (`rvjax.report.records.write_samples`), which the report draws as a
before/after grid.
"""
import jax
import jax.numpy as jnp
import numpy as np

from rvjax import metrics, validate
from rvjax.data import image_folder
from rvjax.objectives import degraded
from rvjax.report import records


def _round8(x: np.ndarray) -> np.ndarray:
  return np.round(np.clip(x, 0, 1) * 255) / 255


def _resolve_folder(folder: str, data) -> str:
  """An absolute folder; a relative one under data.data_dir, else under restoration_dir()."""
  data_dir = (data.get("data_dir") if data is not None else "") or ""
  if not folder:
    folders = dict(data.get("kwargs", {}).get("folders", {})) if data is not None else {}
    folder = folders.get("test", "")
    if not folder:
      raise ValueError("restoration eval: pass folder=... (or give data.kwargs.folders.test).")
  if folder.startswith("/"):
    return folder
  return f"{data_dir}/{folder}" if data_dir else image_folder.restoration_dir(folder)


class Evaluator:
  """PSNR/SSIM of `predict_fn` restoring degraded copies of a folder's images.

  Args:
    predict_fn: `(state, images (1, H, W, C)) -> (1, H, W, C)` restored images in the [0, 1] scale.
    data: the run's data block; its `kwargs.folders.test` is the default folder.
    mesh: unused (whole images run one at a time); accepted for the trainer's call.
    folder: the clean images (relative: under data.data_dir, else ../shared/data/restoration).
    degrade: {"name": "pkg.module.fn", "kwargs": {...}} naming a transform `f(key, images)`
      (e.g. rvjax.degrade.gaussian_noise with sigma=25, rvjax.degrade.sr_input with factor=3);
      empty: the folder holds inputs the restorer takes as they are.
    seed: the degradation keys are fold_in(key(seed), image index).
    channels: 1 (luminance as PIL reads it), 3 (RGB) or 0 (as stored).
    y_channel: read RGB, convert to BT.601 Y (`rvjax.metrics.rgb_to_y`, rounded to 8 bits as
      MATLAB does) and restore and score that one channel (the SR protocol).
    crop: border pixels dropped before scoring (the SR protocol: the scale factor).
    limit: the first `limit` images only (0: all).
    niqe: also report the no-reference score (rvjax.metrics.niqe, this project's Train400 fit)
      of the degraded and restored images.
    samples, sample_size: how many images (0: none) the report's grid shows, as centre crops
      of at most sample_size x sample_size pixels; kept only with `workdir` and `name`.
    workdir, name: context from the trainer (the run's directory, the eval's key).
  """

  def __init__(self, predict_fn, *, data=None, mesh=None, folder: str = "", degrade=None,
               seed: int = 0, channels: int = 0, y_channel: bool = False, crop: int = 0,
               limit: int = 0, niqe: bool = False, samples: int = 3, sample_size: int = 96,
               workdir: str | None = None, name: str | None = None):
    del mesh
    validate.check_positive(limit, "limit", allow_zero=True)
    validate.check_positive(crop, "crop", allow_zero=True)
    validate.check_positive(samples, "samples", allow_zero=True)
    validate.check_positive(sample_size, "sample_size")
    self.predict_fn, self.crop, self.niqe = predict_fn, int(crop), niqe
    self.samples, self.sample_size = int(samples), int(sample_size)
    self.samples_to = (workdir, name) if workdir and name and samples else None
    path = _resolve_folder(folder, data)
    images = image_folder.read_folder(path, channels=3 if y_channel else (channels or None))
    if y_channel:
      images = [_round8(np.asarray(metrics.rgb_to_y(im[None]))[0]) for im in images]
    self.images = images[:limit] if limit else images
    degrade = dict(degrade or {})
    fn = (degraded.resolve(degrade["name"], **dict(degrade.get("kwargs", {})))
          if degrade.get("name") else None)
    self.inputs = []
    for i, im in enumerate(self.images):
      x = jnp.asarray(im)[None]
      y = np.asarray(fn(jax.random.fold_in(jax.random.key(seed), i), x))[0] if fn else im
      self.inputs.append(y)

  def _score(self, outputs):
    psnr, ssim = [], []
    for out, ref in zip(outputs, self.images):
      h, w = out.shape[:2]
      x, r = jnp.asarray(np.clip(out, 0, 1))[None], jnp.asarray(ref[:h, :w])[None]
      psnr.append(float(metrics.psnr(x, r, crop=self.crop)[0]))
      ssim.append(float(metrics.ssim(x, r, crop=self.crop)[0]))
    return psnr, ssim

  def sample_crops(self, restored) -> dict:
    """{"degraded", "restored", "clean"}: (n, s, s, C) centre crops of the first `samples`
    images (s = min(sample_size, the smallest restored side)), clipped to [0, 1]."""
    n = min(self.samples, len(restored))
    side = min([self.sample_size, *[min(r.shape[:2]) for r in restored[:n]]])
    def centre(im, h, w):
      top, left = (h - side) // 2, (w - side) // 2
      return np.clip(im[top:top + side, left:left + side], 0, 1)
    out = {"degraded": [], "restored": [], "clean": []}
    for y, r, x in zip(self.inputs[:n], restored[:n], self.images[:n]):
      h, w = r.shape[:2]
      for title, im in (("degraded", y), ("restored", r), ("clean", x)):
        out[title].append(centre(np.asarray(im, np.float32)[:h, :w], h, w))
    return {k: np.stack(v) for k, v in out.items()}

  def run(self, state):
    """Yields psnr, ssim (means over images; dB and [0, 1]), psnr_input, ssim_input (of the
    degraded inputs), psnr_per_image, ssim_per_image (lists in folder order) and, with niqe,
    niqe and niqe_input (means; lower is closer to pristine statistics)."""
    restored = [np.asarray(self.predict_fn(state, jnp.asarray(y)[None]))[0] for y in self.inputs]
    if self.samples_to and restored:
      records.write_samples(*self.samples_to, self.sample_crops(restored))
    psnr, ssim = self._score(restored)
    psnr_in, ssim_in = self._score(self.inputs)
    yield "psnr", float(np.mean(psnr))
    yield "ssim", float(np.mean(ssim))
    yield "psnr_input", float(np.mean(psnr_in))
    yield "ssim_input", float(np.mean(ssim_in))
    yield "psnr_per_image", psnr
    yield "ssim_per_image", ssim
    if self.niqe:
      score = lambda ims: float(np.mean([float(metrics.niqe(jnp.asarray(np.clip(im, 0, 1))[None])[0])
                                         for im in ims]))
      yield "niqe", score(restored)
      yield "niqe_input", score(self.inputs)

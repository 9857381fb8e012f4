r"""Restores every image of a folder with a classical method or a trained restorer.

  python -m launch.restore --input=noisy/ --output=out/ --method=nlm --sigma=25 \
      [--reference=clean/]
  python -m launch.restore --input=blurred/ --output=out/ --method=wiener \
      --kernel=gaussian:9:1.6 --balance=0.01
  python -m launch.restore --input=noisy/ --output=out/ --workdir=/tmp/dncnn   # a trained model

Methods and their flags (flags a method does not use are refused):
  tv        --weight [--max_iter]            Chambolle TV, rvjax.restore.tv_denoise
  nlm       --sigma [--h --patch_size --patch_distance]       non-local means
  wavelet   [--sigma --wavelet_method --levels]               Haar Bayes/VisuShrink
  wiener    --kernel --balance               Wiener-Hunt deconvolution
  tikhonov  --kernel --balance               L2-regularized deconvolution
Noise levels (--sigma, --h) are on the 0-255 scale. --kernel is gaussian:SIZE:SIGMA, box:SIZE,
line:SIZE[:ANGLE] or a .npy file holding a normalized 2-D kernel.

Writes OUTPUT/<stem>.png for every input file (8-bit, clipped). With --reference=DIR (files with
the same stems) it also writes OUTPUT/quality.csv (per-image PSNR/SSIM of the input and of the
restored image, data range 1, and their means) and OUTPUT/before_after.png (input | restored |
reference, first 6 images). Every input is read and checked before anything is written; the
input folder is never written; existing outputs are refused unless --overwrite.
"""
import csv
import os

import numpy as np
from absl import app, flags

_INPUT = flags.DEFINE_string("input", None, "Folder of degraded images (never written).")
_OUTPUT = flags.DEFINE_string("output", None, "Folder for the restored PNGs (outside --input).")
_METHOD = flags.DEFINE_string("method", None, "Classical method: tv, nlm, wavelet, wiener, "
                              "tikhonov.")
_WORKDIR = flags.DEFINE_string("workdir", None, "A launch.train workdir of a restorer model.")
_REFERENCE = flags.DEFINE_string("reference", None, "Folder of clean images with the same stems.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace existing files in --output.")
_PARAMS = {
    "weight": flags.DEFINE_float("weight", None, "tv: regularization weight ([0, 1] scale)."),
    "max_iter": flags.DEFINE_integer("max_iter", None, "tv: iteration cap."),
    "sigma": flags.DEFINE_float("sigma", None, "nlm/wavelet: noise std, 0-255 scale."),
    "h": flags.DEFINE_float("h", None, "nlm: filtering strength, 0-255 scale (default 0.8 sigma)."),
    "patch_size": flags.DEFINE_integer("patch_size", None, "nlm: odd patch side."),
    "patch_distance": flags.DEFINE_integer("patch_distance", None, "nlm: search radius."),
    "wavelet_method": flags.DEFINE_enum("wavelet_method", None, ["BayesShrink", "VisuShrink"],
                                        "wavelet: threshold rule."),
    "levels": flags.DEFINE_integer("levels", None, "wavelet: decomposition levels."),
    "kernel": flags.DEFINE_string("kernel", None, "wiener/tikhonov: blur kernel spec or .npy."),
    "balance": flags.DEFINE_float("balance", None, "wiener/tikhonov: regularization weight."),
}
# method -> (function name in rvjax.restore, {flag: keyword}, required flags)
METHODS = {
    "tv": ("tv_denoise", {"weight": "weight", "max_iter": "max_iter"}, ("weight",)),
    "nlm": ("nlm_denoise", {"sigma": "sigma", "h": "h", "patch_size": "patch_size",
                            "patch_distance": "patch_distance"}, ("sigma",)),
    "wavelet": ("wavelet_denoise", {"sigma": "sigma", "wavelet_method": "method",
                                    "levels": "levels"}, ()),
    "wiener": ("wiener", {"kernel": "kernel", "balance": "balance"}, ("kernel", "balance")),
    "tikhonov": ("tikhonov", {"kernel": "kernel", "balance": "balance"}, ("kernel", "balance")),
}
QUALITY_CSV, GRID_PNG = "quality.csv", "before_after.png"
GRID_ROWS, GRID_HEIGHT = 6, 160


def parse_kernel(spec: str) -> np.ndarray:
  """gaussian:SIZE:SIGMA | box:SIZE | line:SIZE[:ANGLE] | path.npy -> (k, k) float32."""
  from rvjax.degrade import kernels
  if spec.endswith(".npy"):
    if not os.path.isfile(spec):
      raise ValueError(f"--kernel file {spec} does not exist.")
    return np.load(spec, allow_pickle=False).astype(np.float32)
  name, *args = spec.split(":")
  makers = {"gaussian": (kernels.gaussian, 2), "box": (kernels.box, 1), "line": (kernels.line, 2)}
  if name not in makers or not 1 <= len(args) <= makers[name][1]:
    raise ValueError(f"--kernel {spec!r} is not gaussian:SIZE:SIGMA, box:SIZE, line:SIZE[:ANGLE] "
                     "or a .npy file.")
  try:
    values = [int(args[0])] + [float(a) for a in args[1:]]
  except ValueError as e:
    raise ValueError(f"--kernel {spec!r}: {e}") from e
  if name == "gaussian" and len(values) != 2:
    raise ValueError(f"--kernel {spec!r}: gaussian needs SIZE and SIGMA.")
  return np.asarray(makers[name][0](*values))


def classical_restorer(method: str, given: dict):
  """`images (N, H, W, C) -> restored` for a classical method and its flag values."""
  import rvjax.restore
  if method not in METHODS:
    raise ValueError(f"Unknown --method {method!r}; valid: {', '.join(sorted(METHODS))}.")
  fn_name, accepted, required = METHODS[method]
  extra = sorted(set(given) - set(accepted))
  if extra:
    raise ValueError(f"--{extra[0]} does not apply to --method={method}; it takes "
                     f"{', '.join('--' + f for f in accepted)}.")
  missing = [f for f in required if f not in given]
  if missing:
    raise ValueError(f"--method={method} needs --{missing[0]}.")
  kwargs = {accepted[f]: (parse_kernel(v) if f == "kernel" else v) for f, v in given.items()}
  fn = getattr(rvjax.restore, fn_name)
  return lambda images: fn(images, **kwargs)


def workdir_restorer(workdir: str):
  """`images -> restored` from the latest checkpoint of a restorer trained by launch.train.

  Images must have the channel count the restorer was trained on (config.data.kwargs.channels).
  """
  import jax
  from rvjax import models
  from rvjax.train import loop, step, workdir as workdir_lib
  config = workdir_lib.load_config(workdir)
  name = config.model.name
  if name not in models.names("image"):
    raise ValueError(f"{workdir} holds model {name!r}, not an image-to-image restorer (one of "
                     f"{', '.join(models.names('image'))}).")
  channels = config.data.get("kwargs", {}).get("channels", 0)
  _, model, state, _ = loop.restore_workdir(workdir)
  apply = jax.jit(lambda images: step.eval_logits(model.apply, state, images))

  def restore(images):
    if channels and images.shape[-1] != channels:
      raise ValueError(f"the restorer in {workdir} takes {channels}-channel images, got "
                       f"{images.shape[-1]} channels; convert the input folder first.")
    return apply(images)

  return restore


def _plan(names, output, extras, overwrite):
  """Output paths for every input, refusing collisions and (without --overwrite) existing files."""
  from rvjax.restore import image_folder
  outs = [image_folder.output_name(n) for n in names]
  seen = {}
  for n, o in zip(names, outs):
    if o in seen:
      raise ValueError(f"{seen[o]} and {n} would both be written as {o}.")
    if o in extras:
      raise ValueError(f"input {n} would be written as {o}, a name this tool reserves.")
    seen[o] = n
  if not overwrite:
    for o in outs + list(extras):
      if os.path.exists(os.path.join(output, o)):
        raise ValueError(f"{os.path.join(output, o)} exists; pass --overwrite to replace it.")
  return outs


def _restore_all(restore, images):
  """Restores images grouped by shape (one batch per shape); returns {name: (H, W, C)}."""
  import jax.numpy as jnp
  groups = {}
  for name, im in images.items():
    groups.setdefault(im.shape, []).append(name)
  out = {}
  for names in groups.values():
    batch = np.asarray(restore(jnp.asarray(np.stack([images[n] for n in names]))))
    out.update(zip(names, batch))
  return out


def _quality(names, images, restored, references):
  """Rows [name, psnr_in, ssim_in, psnr, ssim] and the mean row."""
  import jax.numpy as jnp
  from rvjax import metrics
  rows = []
  for n in names:
    ref = jnp.asarray(references[n])[None]
    got = jnp.asarray(np.clip(restored[n], 0, 1))[None]
    inp = jnp.asarray(images[n])[None]
    rows.append([n, float(metrics.psnr(inp, ref)[0]), float(metrics.ssim(inp, ref)[0]),
                 float(metrics.psnr(got, ref)[0]), float(metrics.ssim(got, ref)[0])])
  means = ["mean"] + [float(np.mean([r[i] for r in rows])) for i in range(1, 5)]
  return rows, means


def _grid(names, images, restored, references) -> np.ndarray:
  """(rows * GRID_HEIGHT, 3 columns, 3) uint8 grid: input | restored | reference."""
  from PIL import Image
  tiles = []
  for n in names[:GRID_ROWS]:
    row = []
    for im in (images[n], np.clip(restored[n], 0, 1), references[n]):
      rgb = np.repeat(im, 3, -1) if im.shape[-1] == 1 else im
      pil = Image.fromarray(np.round(rgb * 255).astype(np.uint8))
      width = max(1, round(pil.width * GRID_HEIGHT / pil.height))
      row.append(np.asarray(pil.resize((width, GRID_HEIGHT), Image.BICUBIC)))
    tiles.append(np.concatenate(row, 1))
  width = max(t.shape[1] for t in tiles)
  return np.concatenate([np.pad(t, ((0, 0), (0, width - t.shape[1]), (0, 0))) for t in tiles])


def run(input_dir, output_dir, restore, reference_dir=None, *, overwrite=False) -> dict:
  """Reads and checks everything, then restores and writes; returns the mean quality if any."""
  from rvjax.data import image_folder as data_folders
  from rvjax.restore import image_folder
  image_folder.check_output_folder(input_dir, output_dir)
  images = image_folder.read_folder(input_dir)
  names = sorted(images)
  references = None
  if reference_dir is not None:
    by_stem = {os.path.splitext(n)[0]: n for n in image_folder.list_images(reference_dir)}
    references = {}
    for n in names:
      stem = os.path.splitext(n)[0]
      if stem not in by_stem:
        raise ValueError(f"no reference for {n} in {reference_dir} (expected a file {stem}.*).")
      ref = data_folders.read_image(os.path.join(reference_dir, by_stem[stem]))
      if ref.shape != images[n].shape:
        raise ValueError(f"{n} is {images[n].shape} but its reference {by_stem[stem]} is "
                         f"{ref.shape}.")
      references[n] = ref
  extras = (QUALITY_CSV, GRID_PNG) if references else ()
  outs = _plan(names, output_dir, extras, overwrite)
  os.makedirs(output_dir, exist_ok=True)
  restored = _restore_all(restore, images)
  for n, o in zip(names, outs):
    image_folder.write_png(os.path.join(output_dir, o), restored[n])
  if not references:
    return {"images": len(names)}
  rows, means = _quality(names, images, restored, references)

  def write_csv(f):
    w = csv.writer(f)
    w.writerow(["image", "psnr_input", "ssim_input", "psnr", "ssim"])
    for r in rows + [means]:
      w.writerow([r[0]] + [f"{v:.4f}" for v in r[1:]])

  image_folder.write_atomic(os.path.join(output_dir, QUALITY_CSV), write_csv)
  grid = _grid(names, images, restored, references)
  image_folder.write_png(os.path.join(output_dir, GRID_PNG), grid.astype(np.float32) / 255)
  return {"images": len(names), "psnr_input": means[1], "ssim_input": means[2],
          "psnr": means[3], "ssim": means[4]}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  given = {k: f.value for k, f in _PARAMS.items() if f.value is not None}
  try:
    if (_METHOD.value is None) == (_WORKDIR.value is None):
      raise ValueError("pass exactly one of --method (classical) and --workdir (trained).")
    if _WORKDIR.value is not None:
      if given:
        raise ValueError(f"--{sorted(given)[0]} is a classical-method flag; --workdir takes none.")
      from rvjax.train import loop
      try:
        restore = workdir_restorer(_WORKDIR.value)
      except loop.USER_ERRORS as e:
        raise ValueError(str(e)) from e
    else:
      restore = classical_restorer(_METHOD.value, given)
    summary = run(_INPUT.value, _OUTPUT.value, restore, _REFERENCE.value,
                  overwrite=_OVERWRITE.value)
  except (ValueError, FileNotFoundError) as e:
    raise SystemExit(f"rvjax: {type(e).__name__}: {e}") from e
  print(", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                  for k, v in summary.items()))


if __name__ == "__main__":
  flags.mark_flags_as_required(["input", "output"])
  app.run(main)

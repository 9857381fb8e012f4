"""rvjax.models: flax.linen image classifiers and image-to-image networks behind one registry.

  model = rvjax.models.create("resnet20", num_classes=10, dropout_rate=0.1)
  variables = model.init(key, x, train=False)          # {"params", "batch_stats"}
  logits, updates = model.apply(variables, x, train=True, mutable=["batch_stats"],
                                rngs={"dropout": key})  # (N, num_classes) float32

Every model takes float NHWC images in [0, 1] (normalization (x - mean) / std happens inside),
keeps BN statistics in `batch_stats`, and draws dropout noise from the "dropout" rng stream.
Shared fields (see `layers.Classifier`): num_classes, mean, std, dropout_rate,
dropout_placement ("head" | "all"), mc_dropout, dtype.

Image-to-image models (`names("image")`: restorers.py, enhancers.py) map (N, H, W, C) images to
images (discriminators: to (N, h, w) patch logits); they have no num_classes and ignore it.
"""
import dataclasses
from typing import Any

import flax.linen as nn

from rvjax.models.cnn import CNN
from rvjax.models.enhancers import EnlightenGenerator, PatchDiscriminator, ZeroDCE
from rvjax.models.flat_cnn import FlatCNN
from rvjax.models.layers import Classifier
from rvjax.models.preact_resnet import PreActResNet
from rvjax.models.resnet import ResNet
from rvjax.models.restorers import VDSR, DeblurCNN, DnCNN, SRCNN
from rvjax.models.sngp import SNGPCNN
from rvjax.models.wide_resnet import WideResNet

# name -> (class, default fields). Tiny variants exist for fast tests (like Flax's _ResNet1).
_REGISTRY: dict[str, tuple[type[nn.Module], dict[str, Any]]] = {
    "cnn": (CNN, {}),
    "cnn_tiny": (CNN, dict(widths=(4, 8))),
    "ibp_small": (FlatCNN, {}),
    "ibp_large": (FlatCNN, dict(widths=(64, 64, 128, 128, 128), strides=(1, 1, 2, 1, 1),
                                dense=(512,))),
    "ibp_tiny": (FlatCNN, dict(widths=(4,), strides=(2,), dense=(16,))),
    "resnet20": (ResNet, dict(stage_sizes=(3, 3, 3), widths=(16, 32, 64))),
    "resnet_tiny": (ResNet, dict(stage_sizes=(1, 1, 1), widths=(4, 8, 16))),
    "preact_resnet18": (PreActResNet, dict(stage_sizes=(2, 2, 2, 2), widths=(64, 128, 256, 512))),
    "preact_resnet_tiny": (PreActResNet, dict(stage_sizes=(1, 1, 1, 1), widths=(4, 8, 8, 16))),
    "wide_resnet": (WideResNet, {}),  # generic: pass depth= and widen_factor=
    "wrn28_10": (WideResNet, dict(depth=28, widen_factor=10)),
    "wrn28_2": (WideResNet, dict(depth=28, widen_factor=2)),
    "wrn_tiny": (WideResNet, dict(depth=10, widen_factor=1)),
    "sngp_cnn": (SNGPCNN, {}),
    "sngp_cnn_tiny": (SNGPCNN, dict(widths=(4, 8), blocks=1, num_features=32)),
    # Image-to-image (restoration and enhancement).
    "dncnn": (DnCNN, {}),
    "dncnn_b": (DnCNN, dict(depth=20)),  # blind: sigma in [0, 55]
    "dncnn_tiny": (DnCNN, dict(depth=3, features=8)),
    "deblur_cnn": (DeblurCNN, {}),
    "deblur_cnn_tiny": (DeblurCNN, dict(deconv_kernel=9, deconv_features=4, mix_kernel=3,
                                        denoise_kernels=(3, 1, 3), denoise_features=8)),
    "srcnn": (SRCNN, {}),
    "srcnn_tiny": (SRCNN, dict(kernels=(3, 1, 3), features=(8, 4))),
    "vdsr": (VDSR, {}),
    "vdsr_tiny": (VDSR, dict(depth=3, features=8)),
    "enlighten_generator": (EnlightenGenerator, {}),
    "enlighten_generator_tiny": (EnlightenGenerator, dict(widths=(4, 8))),
    "enlighten_d_global": (PatchDiscriminator, dict(num_layers=5)),
    "enlighten_d_local": (PatchDiscriminator, dict(num_layers=3)),
    "enlighten_d_tiny": (PatchDiscriminator, dict(features=4, num_layers=2)),
    "zero_dce": (ZeroDCE, {}),
    "zero_dce_tiny": (ZeroDCE, dict(features=4, iterations=2)),
}
KINDS = ("classifier", "image")

DEFAULT_NUM_CLASSES = 10


def names(kind: str | None = None) -> list[str]:
  """Sorted registered model names: all, or only one kind ("classifier" | "image")."""
  if kind is not None and kind not in KINDS:
    raise ValueError(f"Unknown model kind {kind!r}; valid: {', '.join(KINDS)}.")
  return sorted(n for n, (cls, _) in _REGISTRY.items()
                if kind is None or (kind == "classifier") == issubclass(cls, Classifier))


def fields(name: str) -> list[str]:
  """Sorted keyword arguments `create(name, ...)` accepts (the model's dataclass fields)."""
  cls, _ = _lookup(name)
  return sorted(f.name for f in dataclasses.fields(cls) if f.name not in ("parent", "name"))


def create(name: str, *, num_classes: int | None = DEFAULT_NUM_CLASSES, **kw) -> nn.Module:
  """Builds registered model `name`, overriding its defaults with `kw`.

  Args:
    name: one of `names()`.
    num_classes: number of output logits of a classifier; None means 10. Image-to-image models
      have no classes and ignore it.
    **kw: model fields, e.g. dropout_rate=0.1, mc_dropout=True, mean=(0.49, 0.48, 0.45),
      widths=(8, 16). Lists are converted to tuples (module fields must be hashable).

  Returns:
    An unbound linen module; `apply(variables, x, train=...)` maps (N, H, W, C) images in
    [0, 1] to (N, num_classes) float32 logits (classifiers) or to images (image models).

  Raises:
    ValueError: unknown `name` (listing the valid ones) or a keyword the model lacks (naming
      it, the model and its valid fields).
  """
  cls, defaults = _lookup(name)
  valid = fields(name)
  unknown = sorted(set(kw) - set(valid))
  if unknown:
    raise ValueError(f"Model {name!r} ({cls.__name__}) has no field(s) {', '.join(unknown)}; "
                     f"valid: {', '.join(valid)}.")
  config = {**defaults, **{k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}}
  if "num_classes" in valid:  # Image-to-image models have no classes.
    config["num_classes"] = DEFAULT_NUM_CLASSES if num_classes is None else int(num_classes)
  return cls(**config)


def from_config(model_config, *, num_classes: int | None = DEFAULT_NUM_CLASSES) -> nn.Module:
  """`create(model_config.name, num_classes=..., **model_config.kwargs)` with the config's
  `conv_impl` ("xla" when absent; another value only for models with that field, else the
  ValueError of `create`)."""
  kw = dict(model_config.kwargs)
  conv_impl = model_config.get("conv_impl", "xla")
  if conv_impl != "xla":
    kw["conv_impl"] = conv_impl
  return create(model_config.name, num_classes=num_classes, **kw)


def _lookup(name: str) -> tuple[type[nn.Module], dict[str, Any]]:
  if name not in _REGISTRY:
    raise ValueError(f"Unknown model {name!r}; valid: {', '.join(names())}.")
  return _REGISTRY[name]


__all__ = ["CNN", "Classifier", "FlatCNN", "PreActResNet", "ResNet", "SNGPCNN", "WideResNet",
           "DnCNN", "DeblurCNN", "SRCNN", "VDSR", "EnlightenGenerator", "PatchDiscriminator",
           "ZeroDCE", "create", "fields", "from_config", "names"]

"""Loading a split by name: `load(name, split)` and `load_split(config.data, split)`.

The loaders (rvjax.data.digits, rvjax.data.tfds_sets) build on rvjax.data.dataset; this module
sits above them, so the imports run one way.
"""
from rvjax import validate
from rvjax.data import dataset as dataset_lib, digits, synthetic, tfds_sets


def load(name: str, split: str, *, data_dir: str | None = None, exclude_classes=(),
         **kwargs) -> dataset_lib.Dataset:
  """Loads split `split` ("train", "val" or "test") of dataset `name` into host memory.

  Names: "digits" (scikit-learn's bundled handwritten digits, the offline default; kwargs
  `image_size` in {8, 16, 32}), "syndigits" (rendered synthetic digits, see
  `rvjax.data.synthetic.load` for its kwargs preset, size, num, channels, seed, knobs), the tfds
  sets in `rvjax.data.tfds_sets.NAMES`, and CIFAR-10-C
  as "cifar10_corrupted/<corruption>_<severity>" (test split only), read from `data_dir` without
  TensorFlow. Unknown names or splits raise ValueError listing valid ones. `exclude_classes`
  drops every example of those classes from every split (held-out classes for open-set OOD
  evaluation, see rvjax.evaluators.ood); labels and num_classes are unchanged.
  """
  loaders = {"digits": digits.load, "syndigits": synthetic.load,
             **{n: tfds_sets.loader(n) for n in tfds_sets.NAMES}}
  if name.startswith(tfds_sets.CORRUPTED + "/"):
    tfds_sets.check_corrupted(name)
    loaders[name] = tfds_sets.loader(name)
  validate.check_choice(name, "dataset", loaders)
  validate.check_choice(split, "split", dataset_lib.SPLITS)
  if kwargs and (name in tfds_sets.NAMES or name.startswith(tfds_sets.CORRUPTED + "/")):
    raise ValueError(f"tfds dataset {name!r} takes no options (data.kwargs), got "
                     f"{sorted(kwargs)}; image_size and the like apply to digits only.")
  if name in ("digits", "syndigits"):
    if data_dir is not None:
      raise ValueError(f"{name} needs no files; data_dir must be None for it.")
    ds = loaders[name](split, **kwargs)
  else:
    ds = loaders[name](split, data_dir=data_dir, **kwargs)
  return dataset_lib.drop_classes(ds, exclude_classes) if len(exclude_classes) else ds


def load_split(data_cfg, split: str) -> dataset_lib.Dataset:
  """Loads `split` of the dataset that a config's `data` block names (name, data_dir, kwargs)."""
  return load(data_cfg.name, split, data_dir=data_cfg.get("data_dir") or None,
              **dict(data_cfg.get("kwargs", {})))

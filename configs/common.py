"""Pieces every config shares: the strict argument parser and the base config.

`get_config(arg)` receives the text after the config path's colon, e.g.
`--config=configs/digits_cnn.py:tiny,seed=3`. Flags are `name` (True) or `name=value`, converted
to the type of the default; unknown names raise ValueError before any compute.
"""
import ml_collections


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
  """Parses "a,b=3" against `defaults` (name -> default value); returns a ConfigDict."""
  out = dict(defaults)
  for item in filter(None, (arg or "").split(",")):
    name, _, value = item.partition("=")
    name = name.strip()
    if name not in defaults:
      raise ValueError(f"Unknown config arg {name!r}; valid: {', '.join(sorted(defaults))}.")
    kind = type(defaults[name])
    if kind is bool:
      if value and value.lower() not in ("true", "false", "1", "0"):
        raise ValueError(f"Config arg {name!r} is a bool; got {value!r}.")
      out[name] = value.lower() in ("true", "1") if value else True
    else:
      try:
        out[name] = kind(value)
      except ValueError as e:
        raise ValueError(f"Config arg {name!r} must be {kind.__name__}; got {value!r}.") from e
  return ml_collections.ConfigDict(out)


def base() -> ml_collections.ConfigDict:
  """Every field the trainer reads, with defaults; configs override and then lock."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.task = "classification"  # "classification", "paired" or "unpaired": see rvjax.tasks.
  c.data = ml_collections.ConfigDict({"name": "digits", "data_dir": "", "kwargs": {}})
  # conv_impl "xla" | "im2col": how the model's convs run (rvjax.models.layers.Im2colConv).
  c.model = ml_collections.ConfigDict({"name": "cnn", "conv_impl": "xla", "kwargs": {}})
  c.objective = ml_collections.ConfigDict({"name": "erm", "kwargs": {}})
  # Paired tasks: an on-device degradation f(key, images) -> images named by its dotted path,
  # making each batch's "image" from its "target" inside the step (rvjax.objectives.degraded).
  c.degrade = ml_collections.ConfigDict({"name": "", "kwargs": {}})
  c.augment = ""  # "", "flip" or "crop_flip": see rvjax.objectives.augmented.
  c.optimizer = ml_collections.ConfigDict({
      "name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "b1": 0.9, "b2": 0.999,
      "weight_decay": 0.0, "grad_clip_norm": 0.0, "groups": (("all", ".*"),)})
  c.schedule = ml_collections.ConfigDict({"name": "cosine", "warmup_steps": 0,
                                          "boundaries": (0.5, 0.75), "factors": (0.1, 0.1)})
  c.batch_size = 128
  c.num_epochs = 10
  c.total_steps = 0  # > 0 overrides num_epochs.
  c.log_every_steps = 50
  c.eval_every_steps = 0  # 0: evaluate at the end only.
  c.checkpoint = ml_collections.ConfigDict({"every_steps": 0, "keep": 3})  # 0: at the end only.
  c.evals = ml_collections.ConfigDict({
      "val": {"type": "classification", "split": "val", "batch_size": 256},
      "test": {"type": "classification", "split": "test", "batch_size": 256}})
  c.hooks = ml_collections.ConfigDict()  # name -> {type, every_steps, ...}; see rvjax.train.hooks.
  # Deep ensemble of `size` stacked members; formulation "auto" | "vmap" | "unroll" | "map"
  # (see rvjax.uncertainty.ensemble); shared_batch: all members train on the same batches.
  # MC-dropout passes at eval (0 = off; needs dropout_rate > 0).
  c.ensemble = ml_collections.ConfigDict({"size": 1, "formulation": "auto",
                                          "shared_batch": False})
  c.mc_dropout = ml_collections.ConfigDict({"samples": 0})
  c.calibrate_temperature = False  # Fit T on val logits after training; eval divides by T.
  c.resume = ""
  c.model_init = ""
  c.fail_at_step = -1  # Test hook: raise InjectedFailure before this step.
  c.progress = True
  return c


def calibration_eval(split: str = "test", *, batch_size: int = 256, num_bins: int = 15,
                     temperature_split: str = "val") -> dict:
  """An entry of config.evals running rvjax.evaluators.calibration (post-hoc T fitted on
  `temperature_split`; "" for none)."""
  return {"type": "calibration", "split": split, "batch_size": batch_size, "num_bins": num_bins,
          "temperature_split": temperature_split}


ADVERSARIAL_METHODS = {"standard": "erm", "pgd_at": "pgd_at", "fast_at": "fast_at",
                       "trades": "trades"}


def adversarial_objective(method: str, *, eps: float, norm: str, steps: int = 10,
                          step_size: float | None = None, beta: float = 6.0) -> dict:
  """config.objective for `method` in ADVERSARIAL_METHODS; step_size None: 2.5 * eps / steps."""
  if method not in ADVERSARIAL_METHODS:
    raise ValueError(f"Unknown method {method!r}; valid: {', '.join(ADVERSARIAL_METHODS)}.")
  step_size = 2.5 * eps / steps if step_size is None else step_size
  kwargs = {"standard": {},
            "pgd_at": dict(eps=eps, norm=norm, steps=steps, step_size=step_size),
            "fast_at": dict(eps=eps, norm=norm, alpha=1.25 * eps),
            "trades": dict(eps=eps, norm=norm, steps=steps, step_size=step_size, beta=beta)}
  return {"name": ADVERSARIAL_METHODS[method], "kwargs": kwargs[method]}


def adversarial_eval(*, eps, norm: str, pgd_steps: int = 20, pgd_restarts: int = 5,
                     apgd_steps: int = 100, n_target_classes: int = 9, max_translation=3.0,
                     spatial_grid=(5, 5, 31), num_examples: int = 0, batch_size: int = 128,
                     sanity: bool = True) -> dict:
  """An entry of config.evals running rvjax.evaluators.adversarial on the test split.

  Numbers only (`launch.report` plots them); pgd uses step 2.5 eps / pgd_steps.
  """
  return {"type": "adversarial", "split": "test", "norm": norm,
          "eps": tuple(eps),
          "num_examples": num_examples, "batch_size": batch_size, "sanity": sanity,
          "attacks": {"fgsm": {},
                      "pgd": {"steps": pgd_steps, "restarts": pgd_restarts},
                      "apgd_ce": {"steps": apgd_steps},
                      "autoattack": {"steps": apgd_steps, "n_target_classes": n_target_classes},
                      "spatial": {"max_translation": max_translation,
                                  "grid": tuple(spatial_grid)}}}

r"""Certified training on CIFAR-10 (GPU; tfds data prepared): IBP, CROWN-IBP, smoothing.

  python -m launch.train --config=configs/cifar10_certified.py:method=crown_ibp \
      --config.data.data_dir=~/tensorflow_datasets --workdir=/tmp/cifar10_crown_ibp

Args (strict): method in {ibp, crown_ibp, smoothing}; eps (L-inf test radius, default 8/255;
IBP / CROWN-IBP train at 1.1 eps); sigma (smoothing, default 0.25); tiny (tests: a tiny model,
one step, a small eval).

  ibp / crown_ibp: model ibp_large (conv64, conv64, conv128/2, conv128, conv128, fc512, no BN),
    Adam 5e-4, batch 256, 200 epochs, crop/flip; eps 0 for 10 epochs, then ramped to 1.1 eps over
    the next 100 epochs; kappa 1 -> 0.5 (IBP, Gowal et al.) or 1 -> 0 with beta 1 -> 0
    (CROWN-IBP, Zhang et al.). The papers' exact step counts differ; these are our settings.
  smoothing: preact_resnet18 on x + sigma N(0, I), SGD 0.1 (momentum 0.9, wd 5e-4), 90 epochs,
    lr x0.1 at 1/3 and 2/3; CERTIFY with n0 = 100, n = 100,000, alpha = 0.001 on the first 500
    test images (Cohen et al.).

Results: not measured here (CPU only).
"""
from configs import common, digits_certified
from configs.cifar10_adversarial import CIFAR10_MEAN, CIFAR10_STD

STEPS_PER_EPOCH = 175  # 45000 training images // batch 256


def get_config(arg=None):
  arg = common.parse_arg(arg, method="crown_ibp", eps=8 / 255, sigma=0.25, tiny=False)
  if arg.method not in digits_certified.METHODS:
    raise ValueError(f"Config arg method must be one of "
                     f"{', '.join(digits_certified.METHODS)}; got {arg.method!r}.")
  c = common.base()
  c.data.name = "cifar10"
  c.augment = "crop_flip"
  c.model.kwargs = {"mean": CIFAR10_MEAN, "std": CIFAR10_STD}
  c.checkpoint.every_steps = 2000
  c.evals = {"test": {"type": "classification", "split": "test", "batch_size": 500}}
  if arg.method == "smoothing":
    c.model.name = "preact_resnet18"
    c.batch_size = 128
    c.num_epochs = 90
    c.objective = {"name": "gaussian_noise", "kwargs": {"sigma": arg.sigma}}
    c.optimizer.update(name="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4)
    c.schedule.update(name="piecewise", boundaries=(1 / 3, 2 / 3), factors=(0.1, 0.1))
    c.evals.smooth = digits_certified.smoothing_eval(sigma=arg.sigma, n=100_000,
                                                     num_examples=500, batch_size=10)
  else:
    c.model.name = "ibp_large"
    c.batch_size = 256
    c.num_epochs = 200
    c.optimizer.update(name="adam", lr=5e-4)
    c.schedule.update(name="piecewise", boundaries=(0.6, 0.8), factors=(0.1, 0.1))
    kwargs = digits_certified.certified_objective(arg.method, eps=arg.eps, steps=0)["kwargs"]
    kwargs.update(warmup_steps=10 * STEPS_PER_EPOCH, ramp_steps=100 * STEPS_PER_EPOCH)
    c.objective = {"name": arg.method, "kwargs": kwargs}
  if arg.tiny:
    c.model.name = "preact_resnet_tiny" if arg.method == "smoothing" else "ibp_tiny"
    c.batch_size = 8
    c.total_steps = 1
    c.progress = False
    c.evals = {"test": {"type": "classification", "split": "test", "batch_size": 8}}
    if arg.method == "smoothing":
      c.evals.smooth = digits_certified.smoothing_eval(sigma=arg.sigma, n0=4, n=8,
                                                       num_examples=8, batch_size=8,
                                                       sample_batch=64)
    else:
      c.objective.kwargs.update(warmup_steps=0, ramp_steps=1)
  c.lock()
  return c

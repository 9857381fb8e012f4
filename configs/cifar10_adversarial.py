r"""Adversarial training on CIFAR-10 with the literature settings (GPU; tfds data prepared).

  python -m launch.train --config=configs/cifar10_adversarial.py:method=pgd_at \
      --config.data.data_dir=~/tensorflow_datasets --workdir=/tmp/cifar10_pgd_at

Args (strict): method in {pgd_at, fast_at, trades, standard}; model in {preact_resnet18,
wrn28_10}; epochs (0: the method's default below); tiny (tests: a tiny model, 1 step, small eval).

  pgd_at  (Madry et al. 2018, with Rice et al. 2020's schedule): linf eps 8/255, PGD-10 with step
          2/255 and a random start; SGD momentum 0.9, weight decay 5e-4, batch 128, lr 0.1 decayed
          10x at 50% and 75% of 200 epochs (epochs=100 for the shorter run).
  fast_at (Wong et al. 2020): FGSM-RS, eps 8/255, alpha 10/255; cyclic ("onecycle") lr 0 -> 0.2
          -> 0 over 15 epochs, SGD momentum 0.9, weight decay 5e-4, batch 128; the `pgd_guard`
          hook checks PGD-10 accuracy on 512 val images every epoch and rolls back + stops on a
          drop of more than 0.2 (catastrophic overfitting).
  trades  (Zhang et al. 2019, reference code): eps 0.031, 10 steps of 0.007, beta 6; SGD lr 0.1,
          momentum 0.9, weight decay 2e-4, batch 128, 76 epochs with lr x0.1 at epoch 75.
  standard: ERM with pgd_at's optimizer and schedule.

All use the papers' 4-px-padded random crop + flip (config.augment = "crop_flip"; attacks see the
augmented batch). Not included: Rice et al.'s early stopping on PGD val accuracy, mixed precision.
Evaluation ("adv"): FGSM, PGD-20 (step eps / 4, 1 restart), APGD-CE, APGD-CE + APGD-T (9 targets)
at eps 2, 4, 8 and 16 / 255 and a rotation (+-30 deg) x translation (+-3 px) grid, on the first 1000
test images, with the sanity report.

Results: not measured here (CPU only).
"""
from configs import common

MODELS = ("preact_resnet18", "wrn28_10")
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)
STEPS_PER_EPOCH = 351  # 45000 training images (the first 90% of tfds train) // batch 128
EPOCHS = {"pgd_at": 200, "fast_at": 15, "trades": 76, "standard": 200}


def get_config(arg=None):
  arg = common.parse_arg(arg, method="pgd_at", model="preact_resnet18", epochs=0, tiny=False)
  if arg.model not in MODELS:
    raise ValueError(f"Config arg model must be one of {', '.join(MODELS)}; got {arg.model!r}.")
  c = common.base()
  c.data.name = "cifar10"
  c.model.name = arg.model
  c.model.kwargs = {"mean": CIFAR10_MEAN, "std": CIFAR10_STD}
  c.augment = "crop_flip"
  if arg.method == "trades":
    c.objective = common.adversarial_objective("trades", eps=0.031, norm="linf", steps=10,
                                               step_size=0.007, beta=6.0)
  else:
    c.objective = common.adversarial_objective(arg.method, eps=8 / 255, norm="linf", steps=10,
                                               step_size=2 / 255)
  c.optimizer.update(name="sgd", lr=0.1, momentum=0.9, nesterov=False, weight_decay=5e-4)
  c.batch_size = 128
  c.num_epochs = arg.epochs or EPOCHS[arg.method]
  if arg.method == "fast_at":
    c.optimizer.lr = 0.2
    c.schedule.update(name="onecycle", warmup_steps=0)
    c.hooks = {"co_guard": {"type": "pgd_guard", "eps": c.objective.kwargs.eps, "norm": "linf",
                            "every_steps": STEPS_PER_EPOCH, "steps": 10,
                            "step_size": 2 / 255, "num_examples": 512, "threshold": 0.2}}
  elif arg.method == "trades":
    c.optimizer.weight_decay = 2e-4
    c.schedule.update(name="piecewise", warmup_steps=0, boundaries=(75 / 76,), factors=(0.1,))
  else:
    c.schedule.update(name="piecewise", warmup_steps=0, boundaries=(0.5, 0.75),
                      factors=(0.1, 0.1))
  c.checkpoint.every_steps = 5 * STEPS_PER_EPOCH
  c.log_every_steps = 100
  c.evals.adv = common.adversarial_eval(
      eps=(2 / 255, 4 / 255, 8 / 255, 16 / 255), norm="linf", pgd_steps=20, pgd_restarts=1,
      num_examples=1000, batch_size=256)
  c.evals.adv.attacks.pgd.rel_step_size = 0.25
  if arg.tiny:
    c.model.name = {"preact_resnet18": "preact_resnet_tiny", "wrn28_10": "wrn_tiny"}[arg.model]
    c.batch_size = 8
    c.total_steps = 1
    if "steps" in c.objective.kwargs:
      c.objective.kwargs.steps = 2
    c.log_every_steps = 1
    c.checkpoint.every_steps = 1
    c.progress = False
    if c.hooks:
      c.hooks.co_guard.update(every_steps=1, steps=1, num_examples=8)
    c.evals = {"adv": common.adversarial_eval(
        eps=(8 / 255,), norm="linf", pgd_steps=1, pgd_restarts=1, apgd_steps=1,
        n_target_classes=1, spatial_grid=(1, 1, 2), num_examples=8, batch_size=8,
        sanity=False)}
  c.lock()
  return c

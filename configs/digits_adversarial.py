r"""Standard, PGD-AT, Fast-AT and TRADES training of the small CNN on 8x8 digits, robust evaluation.

  python -m launch.train --config=configs/digits_adversarial.py:method=pgd_at,eps=0.2 \
      --workdir=/tmp/digits_pgd_at_0.2

Args (strict): method in {standard, pgd_at, fast_at, trades}; norm in {linf, l2}; eps, the
training radius (0: 0.1 for linf, 0.5 for l2; the measured settings are linf 0.1 and 0.2, l2 0.5);
steps, the PGD-AT / TRADES attack steps (step size 2.5 eps / steps); tiny (tests).

Training: as configs/digits_cnn.py (Adam 3e-3, cosine, batch 64, 30 epochs = 570 steps). Fast-AT
uses FGSM-RS (alpha = 1.25 eps) with the `pgd_guard` hook checking PGD-10 accuracy on 180 val
images every epoch (19 steps), rolling back and stopping on a drop of more than 0.2. TRADES:
beta = 6.

Evaluation ("adv", at the end of training): FGSM, PGD-20 with 5 restarts, APGD-CE (100 steps),
APGD-CE + APGD-T (9 targets, 100 steps) and a rotation (+-30 deg, 31 angles) x translation
(+-1 px, 5 x 5) grid on all 360 test images, at eps 0.05, 0.1, 0.2, 0.3 (linf) or 0.25, 0.5, 1, 2
(l2), with the sanity report; files in workdir/adversarial/. Evaluate any digits run the same way:

  python -m launch.evaluate --workdir=/tmp/rvjax_digits --config=configs/digits_adversarial.py

Results (benchmarks/digits_adversarial_table.py, shared 2-core CPU, 360 test images, percent;
APGD = APGD-CE + APGD-T; train seconds under a load of 2-5):

  method    train eps  clean  PGD@0.1  APGD@0.1  PGD@0.2  APGD@0.2  train s
  standard      -       99.2    28.6     23.1       0.0      0.0       14
  pgd_at       0.1      99.4    86.9     86.4      15.3      8.1      130
  pgd_at       0.2      97.8    90.3     89.2      57.5     51.1      115
  fast_at      0.1      99.2    85.6     83.9       8.3      2.5       31
  fast_at      0.2      98.9    87.5     86.7      33.9     26.4       20
  trades       0.1      98.9    88.6     88.3      40.0     30.6       57
  trades       0.2      96.7    86.4     84.4      58.9     51.1       56
"""
from configs import common

EVAL_EPS = {"linf": (0.05, 0.1, 0.2, 0.3), "l2": (0.25, 0.5, 1.0, 2.0)}
DEFAULT_EPS = {"linf": 0.1, "l2": 0.5}
STEPS_PER_EPOCH = 19  # 1257 training images // batch 64


def adversarial_eval(*, norm: str = "linf", tiny: bool = False, eps=None) -> dict:
  """The "adv" eval of the docstring (eps: default EVAL_EPS[norm]); tiny: 2-step attacks on 32
  images for tests."""
  eps = EVAL_EPS[norm] if eps is None else eps
  if tiny:
    return common.adversarial_eval(eps=eps[:1], norm=norm, pgd_steps=2, pgd_restarts=1,
                                   apgd_steps=2, n_target_classes=2, max_translation=1.0,
                                   spatial_grid=(1, 1, 3), num_examples=32, batch_size=32)
  return common.adversarial_eval(eps=eps, norm=norm, max_translation=1.0)


def get_config(arg=None):
  arg = common.parse_arg(arg, method="pgd_at", norm="linf", eps=0.0, steps=10, tiny=False)
  if arg.norm not in EVAL_EPS:
    raise ValueError(f"Config arg norm must be one of {', '.join(EVAL_EPS)}; got {arg.norm!r}.")
  eps = arg.eps or DEFAULT_EPS[arg.norm]
  c = common.base()
  c.model.name = "cnn"
  c.objective = common.adversarial_objective(arg.method, eps=eps, norm=arg.norm, steps=arg.steps)
  c.optimizer.update(name="adam", lr=3e-3, weight_decay=1e-4)
  c.schedule.update(name="cosine", warmup_steps=20)
  c.batch_size = 64
  c.num_epochs = 30
  c.checkpoint.every_steps = 200
  c.evals.adv = adversarial_eval(norm=arg.norm)
  if arg.method == "fast_at":
    c.hooks = {"co_guard": {"type": "pgd_guard", "eps": eps, "norm": arg.norm,
                            "every_steps": STEPS_PER_EPOCH, "steps": 10,
                            "num_examples": 180, "threshold": 0.2}}
  if arg.tiny:
    c.model.name = "cnn_tiny"
    c.batch_size = 32
    c.total_steps = 4
    c.schedule.warmup_steps = 1
    c.log_every_steps = 2
    c.checkpoint.every_steps = 2
    c.progress = False
    if "steps" in c.objective.kwargs:
      c.objective.kwargs.update(steps=2, step_size=eps / 2)
    if c.hooks:
      c.hooks.co_guard.update(every_steps=2, steps=2, num_examples=32)
    c.evals = {"test": {"type": "classification", "split": "test", "batch_size": 64},
               "adv": adversarial_eval(norm=arg.norm, tiny=True, eps=(eps,))}
  c.lock()
  return c

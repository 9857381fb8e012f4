r"""Small CNN on scikit-learn's 8x8 handwritten digits: the main job, fully offline.

  python -m launch.train --config=configs/digits_cnn.py --workdir=/tmp/rvjax_digits

Result (2-core CPU): see README's results table. `:tiny` shrinks everything for tests.
`:shift` adds the distribution-shift evals of configs/shift_evals.py (calibration, 19 x 5
corruptions, OOD); `holdout=N` trains without the last N classes and adds them as the open-set
OOD set (`:shift,holdout=2`: classes 8 and 9). `:trust` adds those and the adversarial
evaluation of configs/digits_adversarial.py (linf eps 0.05-0.3, FGSM, PGD-20 x 5, APGD-CE,
APGD-T, a spatial grid, the gradient-masking checks): the README's main command, whose trust
report covers clean, calibration, corruption, adversarial and OOD numbers.
"""
from configs import common, digits_adversarial, shift_evals


def get_config(arg=None):
  arg = common.parse_arg(arg, tiny=False, image_size=8, shift=False, trust=False, holdout=0)
  c = common.base()
  c.data.kwargs = {"image_size": arg.image_size}
  if arg.holdout:
    c.data.kwargs.exclude_classes = tuple(range(10 - arg.holdout, 10))
  c.model.name = "cnn"
  c.optimizer.update(name="adam", lr=3e-3, weight_decay=1e-4)
  c.schedule.update(name="cosine", warmup_steps=20)
  c.batch_size = 64
  c.num_epochs = 30
  c.checkpoint.every_steps = 200
  if arg.tiny:
    c.model.name = "cnn_tiny"
    c.batch_size = 32
    c.total_steps = 6
    c.schedule.warmup_steps = 1
    c.log_every_steps = 2
    c.checkpoint.every_steps = 2
    c.progress = False
    for e in c.evals.values():
      e.batch_size = 64
  if arg.shift or arg.trust:
    shift_evals.add_shift_evals(c, tiny=arg.tiny)
  if arg.trust:
    c.evals.adv = digits_adversarial.adversarial_eval(tiny=arg.tiny)
  c.lock()
  return c


def get_sweep(hyper):
  """Five seeds of the main job: `python -m launch.sweep --config=configs/digits_cnn.py --root=DIR`
  (add `:shift` for the distribution-shift evals) reports mean ± std over them."""
  return hyper.sweep("seed", range(5))

r"""AugMix + JSD consistency training of the small CNN on 8x8 digits, with the shift evals.

  python -m launch.train --config=configs/digits_augmix.py --workdir=/tmp/rvjax_digits_augmix
  # mCE / relative mCE against a plain CNN run evaluated with the same shift evals:
  python -m launch.train --config=configs/digits_cnn.py:shift --workdir=/tmp/rvjax_digits_shift
  python -m launch.train --config=configs/digits_augmix.py --workdir=/tmp/rvjax_digits_augmix \
      --config.evals.corruption.baseline_workdir=/tmp/rvjax_digits_shift

Training as configs/digits_cnn.py (Adam 3e-3, cosine, batch 64, 30 epochs = 570 steps) with the
"augmix" objective (rvjax.objectives.augmix): clean CE + 12 * JSD over [x; augmix(x); augmix(x)]
in one forward pass (BN sees all 3B images). Evals: configs/shift_evals.py (calibration, 19 x 5
corruptions, OOD) plus accuracy/NLL on val and test.

AugMix on 8x8 gray digits (measured, mean |op(x) - x| over 64 training digits): rotate, shear,
posterize and solarize behave as on CIFAR (their magnitudes are angles, factors and levels, not
pixels; solarize is the strongest op here, 0.14 at severity 3, since digit strokes sit at the top
of the range); translate moves floor(level * 8 / 30) pixels, 0 px below level 3.75, so it is the
identity at severity 3 and moves 1 px (12.5% of the image) for levels 3.75..6 at severity 6;
equalize is the identity (Pillow's rule leaves images of fewer than 255 pixels unchanged) and
autocontrast nearly so (digits already span [0, 1]). Default severity 3 (the paper's); `severity=6`
restores translations at the cost of twice CIFAR's rotation / shear range.

Args (strict): severity (AugMix op bound, default 3), no_jsd (CE on one AugMix view only),
jsd_weight (default 12), holdout (train without the last N classes, open-set OOD), tiny (tests).

Results (2-core CPU, shared): see the README's distribution-shift table.
"""
from configs import common, digits_cnn, shift_evals


def get_config(arg=None):
  arg = common.parse_arg(arg, severity=3.0, no_jsd=False, jsd_weight=12.0, holdout=0,
                         tiny=False)
  base_arg = ",".join(["tiny"] * arg.tiny + [f"holdout={arg.holdout}"] * bool(arg.holdout))
  c = digits_cnn.get_config(base_arg or None)
  with c.unlocked():
    c.objective = {"name": "augmix",
                   "kwargs": {"jsd_weight": arg.jsd_weight, "no_jsd": arg.no_jsd,
                              "severity": arg.severity, "width": 3, "depth": (1, 3),
                              "alpha": 1.0}}
    if arg.tiny:
      c.total_steps = 3
      c.checkpoint.every_steps = 3
  shift_evals.add_shift_evals(c, tiny=arg.tiny)
  c.lock()
  return c

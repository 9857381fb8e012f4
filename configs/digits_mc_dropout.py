r"""MC dropout on 8x8 digits: the small CNN with dropout, predicting the mean of T dropout passes.

  python -m launch.train --config=configs/digits_mc_dropout.py --workdir=/tmp/rvjax_digits_mc

Training as configs/digits_cnn.py, with dropout (rate 0.1 after every conv stage and before the
head: placement "all"). Evaluation runs 16 passes with dropout on (fixed keys: reproducible),
averaging their probabilities. Evals: accuracy/NLL on val and test, calibration on test.

Args (strict): rate (dropout rate), placement ("head" | "all"), samples (T >= 1), shift (adds
configs/shift_evals.py's evals), tiny (tests).

Result (shared 2-core CPU, 43 s wall): test accuracy 98.61%, NLL 0.0399, ECE 1.54%, Brier 0.0191
(a single digits_cnn run without dropout: 99.17%, NLL 0.0297, ECE 1.03%).
"""
from configs import common, digits_cnn, shift_evals


def get_config(arg=None):
  arg = common.parse_arg(arg, rate=0.1, placement="all", samples=16, shift=False,
                         tiny=False)
  c = digits_cnn.get_config("tiny" if arg.tiny else None)
  with c.unlocked():
    c.model.kwargs = {"dropout_rate": arg.rate, "dropout_placement": arg.placement}
    c.mc_dropout.samples = arg.samples
    c.evals.calib = common.calibration_eval("test", batch_size=64 if arg.tiny else 256)
  if arg.shift:
    shift_evals.add_shift_evals(c, tiny=arg.tiny)
  c.lock()
  return c

r"""Deep ensemble of K=5 small CNNs on 8x8 digits, trained as one stacked state in one step.

  python -m launch.train --config=configs/digits_ensemble.py --workdir=/tmp/rvjax_digits_ens5

Each member: configs/digits_cnn.py's CNN and training (Adam 3e-3, cosine, batch 64 per member,
30 epochs = 570 steps), its own init key and data order. The prediction is the mean of member
probabilities. Evals: accuracy/NLL on val and test, calibration (ECE, adaptive and classwise ECE,
Brier, reliability diagram in workdir/plots/) on test.

Args (strict): size (K, default 5), formulation ("auto" | "vmap" | "unroll" | "map"; see
rvjax.uncertainty.ensemble), shift (adds configs/shift_evals.py's evals), tiny (tests: 2 tiny
members, 6 steps). Members read their own data
orders unless `--config.ensemble.shared_batch=True`; `--config.model.conv_impl=im2col` runs the
convolutions as im2col + matmul (rvjax.models.layers.Im2colConv).

Result (shared 2-core CPU, formulation auto = unroll, 88 s wall for all 5 members): test
accuracy 99.44%, NLL 0.0249, ECE 1.54%, Brier 0.0099 (members alone: accuracy 98.89-99.72%,
NLL 0.020-0.033, ECE 1.13-1.45%; a single digits_cnn run: 99.17%, NLL 0.0297, ECE 1.03%).
"""
from configs import common, digits_cnn, shift_evals


def get_config(arg=None):
  arg = common.parse_arg(arg, size=5, formulation="auto", shift=False, tiny=False)
  c = digits_cnn.get_config("tiny" if arg.tiny else None)
  with c.unlocked():
    c.ensemble.update(size=2 if arg.tiny else arg.size, formulation=arg.formulation)
    c.evals.calib = common.calibration_eval("test", batch_size=64 if arg.tiny else 256)
  if arg.shift:
    shift_evals.add_shift_evals(c, tiny=arg.tiny)
  c.lock()
  return c

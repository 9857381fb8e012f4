r"""Learning to simulate (Ruiz et al. 2019) on 8x8 digits: REINFORCE vs unrolled gradients.

  python benchmarks/learn_to_simulate.py --out_dir=DIR [--iterations=10]

Learns psi (the ranges of rotation, shear, scale, blur, noise and control-point jitter on the
"none" preset; rvjax.l2o.simulate) by (a) REINFORCE over a Gaussian on psi, `--num` inner
trainings vmapped per iteration, reward = validation accuracy, and (b) gradient descent on the
validation cross-entropy through the unrolled inner trainings. Each inner training: a small CNN
trained from scratch for `--steps` steps (batch 32) on images rendered on device. Validation:
the first `--val` images of the real scikit-learn digits TRAIN split (as in Ruiz et al., whose
reward is measured on real validation data); the real test split is never used here. Prints the
learned psi of both and writes them to DIR/psi_{reinforce,gradient}.json, usable as
`configs/syn2real_digits.py:row=scratch,knobs=DIR/psi_reinforce.json`.

Result (`--out_dir=DIR --iterations=8`, 2-core CPU shared with other jobs): REINFORCE 50 s, mean
val accuracy of its 8 inner runs 0.175 -> 0.213, psi {rotation +-20.2, shear +-0.12, scale
[0.84, 1.16], blur [0, 0.53], noise [0, 0.21], jitter [0, 0.083]}; gradient 66 s, val accuracy
0.200 -> 0.192 (noisy, 2 inner runs), psi {rotation +-8.3, shear +-0.28, scale [0.58, 1.42],
blur [0, 0.40], noise [0, 0.13], jitter [0, 0.084]}. The inner runs (30 steps) reach only ~20%,
so the reward is a weak signal. Trained on for 300 steps (syn2real_table.py --seeds=3
--args="row=scratch,knobs=DIR/psi_reinforce.json|row=scratch,knobs=DIR/psi_gradient.json"):
61.4 +- 1.6 (REINFORCE psi) and 57.7 +- 2.7 (gradient psi) real test accuracy.
"""
import argparse
import json
import os
import sys
import time

import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from rvjax import data  # noqa: E402
from rvjax.l2o import simulate  # noqa: E402


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out_dir", required=True)
  parser.add_argument("--iterations", type=int, default=10)
  parser.add_argument("--num", type=int, default=8, help="vmapped inner trainings (REINFORCE)")
  parser.add_argument("--steps", type=int, default=30)
  parser.add_argument("--val", type=int, default=300)
  args = parser.parse_args()
  os.makedirs(args.out_dir, exist_ok=True)
  real = data.load("digits", "train")
  inner = simulate.InnerTraining(real.images[:args.val], real.labels[:args.val],
                                 steps=args.steps)
  u0 = jnp.zeros(len(simulate.LEARNED))  # every knob at half its span
  for name, search in (("reinforce", lambda: simulate.reinforce_search(
      inner, u0, iterations=args.iterations, num=args.num)), ("gradient", lambda:
      simulate.gradient_search(inner, u0, iterations=args.iterations))):
    t = time.time()
    u, history = search()
    psi = simulate.save_psi(os.path.join(args.out_dir, f"psi_{name}.json"), u)
    print(f"{name}: {time.time() - t:.0f} s; val accuracy first {history[0][0]:.3f} -> last "
          f"{history[-1][0]:.3f}; learned psi {json.dumps(psi)}", flush=True)


if __name__ == "__main__":
  main()

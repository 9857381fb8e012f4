r"""Cost of the PGD attack and of a PGD-AT train step, measured against plain passes in one run.

  python benchmarks/attack_throughput.py [--quick] [--model=preact_resnet18] [--batch_size=128]

Prints, for the model at 32x32x3 (compile excluded, median of the repeats):
  * PGD-k (k = --steps, linf 8/255, step 2/255, random start, as PGD-AT's inner max: train-mode
    batch statistics, no running-stat updates) in images/s;
  * its time over k input-gradient passes (forward + backward of the cross-entropy with respect
    to the input, same logits_fn): the attack's overhead beyond its k gradients (target <= 15%);
  * the same ratio for k bare projected sign steps in a `fori_loop`, rolled (as `attacks.pgd`
    runs them) and fully unrolled: on XLA:CPU a while-loop body runs the convolutions' backward
    pass on a slow path (kernel layout 01oi, naive emitter), so the rolled loop, not PGD's
    bookkeeping, is where the overhead comes from;
  * the PGD-AT train step time over the standard (ERM) train step time (target <= k + 1.3).
--quick times each function once after its warm-up call instead of three times.
"""
import argparse
import os
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from rvjax import attacks, models, objectives, sharding  # noqa: E402
from rvjax.attacks import ball  # noqa: E402
from rvjax.objectives import forward  # noqa: E402
from rvjax.train import optim, replicas, state as state_lib, step as step_lib  # noqa: E402

EPS, STEP = 8 / 255, 2 / 255


def setup(name, batch_size):
  mesh = sharding.make_mesh()
  model = models.create(name, num_classes=10)
  opt = ml_collections.ConfigDict(dict(name="sgd", lr=0.1, momentum=0.9, nesterov=False, b1=0.9,
                                       b2=0.999, weight_decay=5e-4, grad_clip_norm=0.0,
                                       groups=(("all", ".*"),)))
  tx = optim.make_optimizer(opt, ml_collections.ConfigDict({"name": "constant"}), 1000)
  shape = (batch_size, 32, 32, 3)
  state = replicas.Single().create_state(state_lib.init_fn(model, tx, shape), jax.random.key(0), mesh)
  rng = np.random.default_rng(0)
  batch = sharding.put_batch({"image": rng.random(shape, np.float32),
                              "label": rng.integers(0, 10, batch_size).astype(np.int32),
                              "mask": np.ones(batch_size, np.float32)},
                             sharding.batch_sharding(mesh))
  return model, tx, state, batch


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--quick", action="store_true", help="One timed call per function.")
  parser.add_argument("--model", default="preact_resnet18")
  parser.add_argument("--batch_size", type=int, default=128)
  parser.add_argument("--steps", type=int, default=10)
  args = parser.parse_args()
  repeats, k = (1 if args.quick else 3), args.steps
  model, tx, state, batch = setup(args.model, args.batch_size)
  key = jax.random.key(1)
  print(f"backend={jax.default_backend()} devices={jax.device_count()} cpus={os.cpu_count()} "
        f"load={os.getloadavg()[0]:.1f} model={args.model} batch={args.batch_size} "
        f"k={k} repeats={repeats}")

  def logits_fn(s):
    return forward.attack_forward(model.apply, s.params, s.model_state, key)

  def input_grad(s, x, y):
    return jax.grad(lambda z: jnp.sum(attacks.ce(logits_fn(s)(z), y)))(x)

  def pgd(s, x, y):
    return attacks.pgd(logits_fn(s), x, y, key=key, eps=EPS, step_size=STEP, steps=k)

  def sign_steps(s, x, y, unroll):
    body = lambda _, z: ball.step(z, input_grad(s, z, y), x, STEP, EPS, "linf")
    return jax.lax.fori_loop(0, k, body, x, unroll=unroll)

  x, y = batch["image"], batch["label"]
  t_grad = common.time_fn(jax.jit(input_grad), state, x, y, repeats=repeats)
  t_pgd = common.time_fn(jax.jit(pgd), state, x, y, repeats=repeats)
  print(f"input-gradient pass: {t_grad:.3f} s; PGD-{k}: {t_pgd:.3f} s = "
        f"{args.batch_size / t_pgd:.1f} images/s; PGD-{k} / ({k} gradient passes) = "
        f"{t_pgd / (k * t_grad):.3f} (overhead {t_pgd / (k * t_grad) - 1:+.1%}, target <= +15%)")
  for unroll in (1, True):
    t = common.time_fn(jax.jit(lambda s, x, y: sign_steps(s, x, y, unroll)), state, x, y,
                       repeats=repeats)
    print(f"{k} bare sign steps, fori_loop unroll={unroll}: {t:.3f} s = "
          f"{t / (k * t_grad):.3f} x {k} gradient passes")

  step_times = {}
  for name, kwargs in (("erm", {}), ("pgd_at", dict(eps=EPS, step_size=STEP, steps=k))):
    objective = objectives.create(name, model.apply, **kwargs)
    step = jax.jit(lambda s, b, r, objective=objective: step_lib.train_step(
        s, b, r, objective=objective, tx=tx))
    step_times[name] = common.time_fn(step, state, batch, key, repeats=repeats)
  ratio = step_times["pgd_at"] / step_times["erm"]
  print(f"train step: standard {step_times['erm']:.3f} s, PGD-AT(k={k}) "
        f"{step_times['pgd_at']:.3f} s; ratio {ratio:.2f} (target <= k + 1.3 = {k + 1.3:.1f})")


if __name__ == "__main__":
  main()

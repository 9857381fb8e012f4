"""Trains a paired restoration config with the training core's jitted step and evaluates it.

  python -m benchmarks.restorer_core --config=configs/restoration_dncnn.py:sigma=25,budget=15

For use before (or without) the loop: the model, objective (wrapped by the config's on-device
degradation, rvjax.objectives.degraded) and optimizer are built from the config as the loop
builds them; `rvjax.train.step.train_step`, jitted, runs over paired batches from
rvjax.data.image_folder (pure in (seed, step)) with the loop's key convention; nothing is
checkpointed. (Under `train_for`'s lax.scan the XLA CPU program of DnCNN-17 ran far slower than
the plain jitted step on this machine, so the plain step is used.)
Prints steps, wall time, the last chunk's mean loss/PSNR, then every config eval.
"""
import argparse
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import load_config
from rvjax import evaluators, models, objectives
from rvjax.data import image_folder
from rvjax.objectives import degraded
from rvjax.train import optim, step as step_lib
from rvjax.train.state import TrainState

def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", required=True)
  args = parser.parse_args()
  config = load_config(args.config)
  t0 = time.time()
  model = models.create(config.model.name, **dict(config.model.kwargs))
  objective = degraded.wrap(
      objectives.create(config.objective.name, model.apply, **dict(config.objective.kwargs)),
      degraded.resolve(config.degrade.name, **dict(config.degrade.kwargs)))
  tx = optim.make_optimizer(config.optimizer, config.schedule, config.total_steps)
  patch, ch = config.data.kwargs.patch, config.data.kwargs.channels
  variables = dict(model.init(jax.random.fold_in(jax.random.key(config.seed), 0),
                              jnp.zeros((1, patch, patch, ch)), train=False))
  params = variables.pop("params")
  state = TrainState(step=jnp.zeros((), jnp.int32), params=params, model_state=variables,
                     opt_state=tx.init(params), temperature=jnp.ones(()))
  images = image_folder.read_folder(image_folder.restoration_dir(config.data.kwargs.folders.train),
                                    channels=ch)
  batches = image_folder.paired_batches(images, patch=patch, batch_size=config.batch_size,
                                        seed=config.seed)
  step = jax.jit(functools.partial(step_lib.train_step, objective=objective, tx=tx,
                                   task="paired"))
  key = jax.random.fold_in(jax.random.key(config.seed), 1)
  acc = []
  for i in range(config.total_steps):
    state, m = step(state, next(batches), key)
    acc.append(m)
    if (i + 1) % 50 == 0 or i + 1 == config.total_steps:
      m = jax.device_get(acc)
      print(f"step {i + 1}: loss {np.mean([x['loss'] for x in m]):.4f}, train psnr "
            f"{np.mean([x['psnr'] for x in m]):.2f} dB, {time.time() - t0:.0f} s", flush=True)
      acc = []
  print(f"trained {config.model.name} {config.total_steps} steps (batch {config.batch_size}) in "
        f"{time.time() - t0:.0f} s wall")
  predict = jax.jit(lambda s, x: step_lib.eval_logits(model.apply, s, x))
  for name, e in config.evals.items():
    kwargs = {k: v for k, v in e.items() if k != "type"}
    t1 = time.time()
    for k, v in evaluators.create(e.type, predict, data=config.data, **kwargs).run(state):
      if not isinstance(v, list):
        print(f"{name}/{k} = {v:.4f}")
    print(f"{name}: evaluated in {time.time() - t1:.0f} s")


if __name__ == "__main__":
  main()

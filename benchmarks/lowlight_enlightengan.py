"""Trains a configs/lowlight_enlightengan.py game with the training core and evaluates it.

  python -m benchmarks.lowlight_enlightengan \
      --config=configs/lowlight_enlightengan.py:data=/tmp/lowlight,budget=10

Each player is `rvjax.models.create(config.players[p])` with its own optimizer from
config.optimizer / config.schedule; the game is `rvjax.objectives.create("enlightengan", ...)`.
Training runs `rvjax.train.inner.train_for` (the jitted train step under lax.scan) over chunks of
unpaired batches from rvjax.data.image_folder (pure in (seed, step)); nothing is checkpointed.
Then the generator is scored by the config's "restoration" evals; prints the feature network
used, steps, wall time, the train losses of the last chunk and the eval numbers.
"""
import argparse
import time

import jax
import numpy as np

from rvjax import evaluators, models, objectives
from rvjax.data import image_folder
from rvjax.objectives import features as features_lib
from rvjax.train import inner, optim, players, step as step_lib

CHUNK = 10


def load_config(spec):
  import importlib.util
  path, _, arg = spec.partition(":")
  module_spec = importlib.util.spec_from_file_location("cfg", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None)


def train(config, *, log=print):
  """(generator apply, TrainState, description of the feature network, last chunk's metrics)."""
  mods = {p: models.create(s.name, **dict(s.kwargs)) for p, s in config.players.items()}
  patch = config.data.kwargs.patch
  local = config.objective.kwargs.patch_size
  shapes = {p: (1, local, local, 3) if p == "d_local" else (1, patch, patch, 3) for p in mods}
  inits = {p: (lambda k, m=m, s=shapes[p]: m.init(k, np.zeros(s, np.float32), train=False))
           for p, m in mods.items()}
  txs = {p: optim.make_optimizer(config.optimizer, config.schedule, config.total_steps)
         for p in mods}
  feature_fn, description = features_lib.resolve(config.objective.kwargs.features)
  kwargs = {**dict(config.objective.kwargs), "features": feature_fn}
  game = objectives.create("enlightengan", {p: m.apply for p, m in mods.items()}, **kwargs)
  state = players.init_fn(inits, txs)(jax.random.fold_in(jax.random.key(config.seed), 0))
  root = config.data.kwargs.folders
  a = image_folder.read_folder(root.train, channels=3)
  b = image_folder.read_folder(config.data.kwargs.reference, channels=3)
  batches = image_folder.unpaired_batches(a, b, patch=patch, batch_size=config.batch_size,
                                          seed=config.seed)
  run = jax.jit(lambda s, d, k: inner.train_for(s, d, k, len(d["mask"]), objective=game, tx=txs,
                                                task="unpaired"))
  key = jax.random.fold_in(jax.random.key(config.seed), 1)
  metrics = {}
  for start in range(0, config.total_steps, CHUNK):
    chunk = [next(batches) for _ in range(min(CHUNK, config.total_steps - start))]
    data = jax.tree.map(lambda *xs: np.stack(xs), *chunk)
    state, m = run(state, data, jax.random.fold_in(key, start))
    metrics = {k: float(np.mean(v)) for k, v in jax.device_get(m).items()}
    if (start // CHUNK) % 10 == 0:
      log(f"step {start + len(chunk)}: " + ", ".join(
          f"{k}={metrics[k]:.4f}" for k in ("d_global/loss", "d_local/loss", "generator/loss",
                                            "generator/sfp")))
  return mods["generator"], state, description, metrics


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", required=True)
  args = parser.parse_args()
  config = load_config(args.config)
  t0 = time.time()
  generator, state, description, metrics = train(config)
  wall = time.time() - t0
  print(f"feature network: {description}")
  print(f"trained {config.total_steps} steps (batch {config.batch_size}) in {wall:.0f} s")
  params = state.params["generator"]
  model_state = state.model_state["generator"]
  gen_state = state.replace(params=params, model_state=model_state)
  predict = jax.jit(lambda s, x: step_lib.eval_logits(generator.apply, s, x))
  for name, e in config.evals.items():
    kwargs = {k: v for k, v in e.items() if k != "type"}
    ev = evaluators.create(e.type, predict, data=config.data, mesh=None, **kwargs)
    for k, v in ev.run(gen_state):
      if not isinstance(v, list):
        print(f"{name}/{k} = {v:.4f}")


if __name__ == "__main__":
  main()

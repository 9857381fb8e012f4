"""Short inner trainings on in-memory arrays: fine-tuning (poisoning) and substitute training
(model stealing) with the core's train step, for a fixed number of steps.

`fit` is the only driver: the compiled `rvjax.train.step.train_step` called `steps` times on
seeded epoch-permutation batches (`rvjax.data.iterator.train_indices`). It stays a Python loop of
one compiled step because XLA:CPU runs convolution gradients inside `lax.scan`/`while` bodies far
slower (see rvjax.attacks.gradient); `train_for` (the step under `lax.scan`) can replace the loop
body on accelerators without changing callers.
"""
import jax
import ml_collections
import numpy as np

from rvjax.data import iterator
from rvjax.train import optim, state as state_lib

FROZEN = "frozen"
TRAINED = "trained"


def make_optimizer(lr: float, steps: int, *, trainable: str = ".*", name: str = "adam",
                   weight_decay: float = 0.0):
  """An rvjax optimizer (`optim.make_optimizer`, cosine decay over `steps`) training only the
  parameters whose "/" path matches the regex `trainable` (e.g. "^head/"); the rest form the
  group "frozen", whose learning-rate scale `init_opt_state` sets to 0."""
  cfg = ml_collections.ConfigDict({
      "name": name, "lr": lr, "momentum": 0.9, "nesterov": True, "b1": 0.9, "b2": 0.999,
      "weight_decay": weight_decay, "grad_clip_norm": 0.0,
      "groups": ((TRAINED, trainable), (FROZEN, ".*"))})
  return optim.make_optimizer(cfg, ml_collections.ConfigDict({"name": "cosine"}), steps)


def init_opt_state(tx, params):
  """`tx.init(params)` with the frozen group's learning-rate scale set to 0."""
  return optim.set_lr_scales(tx.init(params), {FROZEN: 0.0})


def start(state: state_lib.TrainState, tx) -> state_lib.TrainState:
  """A copy of `state` (safe to donate) with a fresh optimizer state for `tx`."""
  copy = jax.tree.map(lambda a: a.copy(), state.replace(opt_state=None))
  return copy.replace(opt_state=init_opt_state(tx, copy.params))


def fit(step_fn, state, arrays: dict, *, key: jax.Array, steps: int, batch_size: int,
        seed: int = 0):
  """Runs a compiled train step `steps` times over `arrays`; returns (state, last metrics).

  Args:
    step_fn: `rvjax.train.step.compile_train_step(objective, tx)` (donates `state`).
    state: the TrainState to train (donated: pass `start(...)` of a state you keep).
    arrays: host arrays with a common leading axis N: "image" (N, H, W, C) in [0, 1], "label"
      (N,) int32, and any extra per-example entry the objective reads (e.g. "probs" (N, K)).
    key: the run's base key (the step folds in its count).
    steps: number of updates (>= 1).
    batch_size: rows per step, lowered to N when N is smaller.
    seed: the batch order (epoch e is the permutation seeded with (seed, e)).
  """
  if steps < 1:
    raise ValueError(f"steps must be >= 1, got {steps}.")
  n = len(arrays["label"])
  if n < 1:
    raise ValueError("fit needs at least one training example.")
  batch_size = min(batch_size, n)
  mask = np.ones(batch_size, np.float32)
  metrics = {}
  for i in range(steps):
    idx = iterator.train_indices(seed, i, n, batch_size)
    state, metrics = step_fn(state, {**{k: v[idx] for k, v in arrays.items()}, "mask": mask},
                             key)
  return state, metrics


def eval_only(apply_fn):
  """`apply_fn` forced to eval mode: a frozen feature extractor (running BN statistics, no
  dropout) for last-layer fine-tuning, whatever `train` the objective passes."""
  def apply(variables, x, *, train, **kwargs):
    del train
    return apply_fn(variables, x, train=False, **kwargs)
  return apply

"""Synthetic-to-real runs: source-model pretraining and one row of the syn2real table.

`run(config)` trains on the synthetic digits (config.data), selects the checkpoint with the best
synthetic-val accuracy (evaluated every config.eval_every_steps), and reports the real test
accuracy (scikit-learn digits) of that checkpoint. Training runs through the core's
`rvjax.train.train_for` (the train step under lax.scan), one call per chunk of steps between
model-selection checks or policy decisions. It adds what launch.train's loop lacks for these rows,
all from config.syn2real:
  * init_from_source: the backbone and batch statistics of the source model file named by
    config.objective.kwargs.source (the model's head stays freshly initialized);
  * lr_scales: fixed per-group learning-rate multipliers {group: m}, m in LR_ACTIONS, set
    through optim.set_lr_scales; random_lr_seed >= 0 instead draws each group's multiplier
    uniformly from LR_ACTIONS (a fixed random draw per seed);
  * the CSG projection head in params and its memory queue and key projection in model_state
    (objective "csg"; syn2real.csg_dim, syn2real.queue_size);
  * policy: a learning-rate policy file (rvjax.l2o.policy) that sets every group's multiplier
    after each `window` steps (its choices are returned as "lr_history").
"""
import functools
import json
import time
from typing import Any, NamedTuple

import jax
import numpy as np

from rvjax import data as data_lib
from rvjax import metrics, models, objectives, sharding
from rvjax.data import rotation
from rvjax.l2o import policy as policy_lib
from rvjax.objectives import source as source_lib
from rvjax.objectives import syn2real as syn2real_lib
from rvjax.train import inner, optim, replicas, state as state_lib, step as step_lib

LR_ACTIONS = policy_lib.ACTIONS  # ASG's per-group multiplier set {0, 0.1, ..., 1}.
SOURCE_TASKS = ("photo_rotation", "digits_rotation")
ENERGY_ORDERS = (0, 1, 2)


def check_lr_scales(scales: dict) -> dict:
  """Raises ValueError unless every multiplier is in LR_ACTIONS."""
  bad = {g: m for g, m in scales.items() if round(float(m), 6) not in LR_ACTIONS}
  if bad:
    raise ValueError(f"Learning-rate multipliers must be in {LR_ACTIONS}; got {bad}.")
  return {g: float(m) for g, m in scales.items()}


@functools.lru_cache(maxsize=16)
def chunk_fn(objective, tx, steps: int):
  """The core's `train_for` over `steps` stacked batches, jitted once per program and length."""
  return jax.jit(functools.partial(inner.train_for, steps=steps, objective=objective, tx=tx),
                 donate_argnums=0)


def _train(model, objective, tx, train_ds, *, steps, batch_size, seed, chunk, init=None,
           on_chunk=None):
  """Trains `steps` steps through `inner.train_for`, `chunk` steps per call (the last call may
  be shorter); `init(state) -> state` adjusts the fresh state and
  `on_chunk(state, metrics, done) -> state` runs after each call (model selection, a policy
  setting the next multipliers), `metrics` stacked over the chunk's steps. Returns the state."""
  mesh = sharding.make_mesh()
  shape = (batch_size,) + train_ds.images.shape[1:]
  state = replicas.Single().create_state(state_lib.init_fn(model, tx, shape),
                                         jax.random.fold_in(jax.random.key(seed), 0), mesh)
  if init is not None:
    state = init(state)
  key = jax.random.fold_in(jax.random.key(seed), 1)
  batches = data_lib.train_batches(train_ds, batch_size=batch_size, seed=seed)
  done = 0
  while done < steps:
    n = min(chunk, steps - done)
    stacked = jax.tree.map(lambda *b: np.stack(b), *(next(batches) for _ in range(n)))
    state, m = chunk_fn(objective, tx, n)(state, stacked, key)
    done += n
    if not np.all(np.asarray(m["finite"]) > 0):
      raise FloatingPointError(f"Non-finite loss or gradient by step {done}; lower the "
                               "learning rate.")
    if on_chunk is not None:
      state = on_chunk(state, m, done)
  return state


def pretrain_source(path: str, task: str, model_name: str, *, model_kwargs=None, steps=400,
                    batch_size=64, lr=3e-3, seed=0, size=8, channels=1) -> float:
  """Trains `model_name` on rotation prediction and saves it as a source model at `path`.

  task: "photo_rotation" (scikit-image photo patches of `size` x `size`, grey repeated over
  `channels`; no digits involved) or "digits_rotation" (the real scikit-learn digits train split,
  8x8 grey, labels never read; the test split stays unseen). Returns the final training-batch
  accuracy of the rotation task.
  """
  if task not in SOURCE_TASKS:
    raise ValueError(f"Unknown source task {task!r}; valid: {', '.join(SOURCE_TASKS)}.")
  if task == "digits_rotation" and (size, channels) != (8, 1):
    raise ValueError("digits_rotation reads the 8x8 grey scikit-learn digits; use "
                     f"photo_rotation for size={size}, channels={channels}.")
  if task == "photo_rotation":
    images = rotation.photo_patches(2000, size=size, crop=4 * size, seed=seed)
    images = np.repeat(images, channels, axis=-1)
  else:
    images = data_lib.load("digits", "train").images
  ds = rotation.rotation_task(images)
  model = models.create(model_name, num_classes=ds.num_classes, **dict(model_kwargs or {}))
  cfg = _optimizer_config("adam", lr, (("all", ".*"),))
  tx = optim.make_optimizer(cfg, _schedule_config(), steps)
  state = _train(model, objectives.create("erm", model.apply), tx, ds, steps=steps,
                 batch_size=batch_size, seed=seed, chunk=steps)
  predict = jax.jit(functools.partial(step_lib.predict, model.apply))
  acc = float(np.mean(np.argmax(predict(state, ds.images[:1024]), -1) == ds.labels[:1024]))
  variables = {"params": state.params, **jax.device_get(state.model_state)}
  source_lib.save(path, model_name, variables, num_classes=ds.num_classes,
                  model_kwargs=model_kwargs, task=task)
  return acc


def _optimizer_config(name, lr, groups):
  import ml_collections
  return ml_collections.ConfigDict(dict(name=name, lr=lr, momentum=0.9, nesterov=True, b1=0.9,
                                        b2=0.999, weight_decay=0.0, grad_clip_norm=0.0,
                                        groups=groups))


def _schedule_config():
  import ml_collections
  return ml_collections.ConfigDict(dict(name="cosine", warmup_steps=0))


def _features_fn(model):
  return jax.jit(lambda state, x: source_lib.features_and_logits(
      model.apply, syn2real_lib.model_variables(state.params, state.model_state), x,
      train=False))


def collect(fn, state, ds, batch_size=512):
  """`fn(state, images) -> (features, logits)` over a dataset in batches: numpy (N, D), (N, K)."""
  feats, logits = zip(*(fn(state, ds.images[i:i + batch_size])
                        for i in range(0, len(ds), batch_size)))
  return np.concatenate(feats), np.concatenate(logits)


def _without_seed(config) -> str:
  """The config as JSON with seed 0: runs differing only in seed share one compiled program."""
  c = config.copy_and_resolve_references()
  with c.unlocked():
    c.seed = 0
  return c.to_json(sort_keys=True)


@functools.lru_cache(maxsize=2)
def _program(config_json: str, num_classes: int):
  """(model, source or None, objective, optimizer, jitted features fn) of a config."""
  import ml_collections
  config = ml_collections.ConfigDict(json.loads(config_json))
  model = models.from_config(config.model, num_classes=num_classes)
  kwargs = dict(config.objective.kwargs)
  src = source_lib.load(kwargs["source"]) if kwargs.get("source") else None
  if src is not None:
    kwargs["source"] = src
  objective = objectives.create(config.objective.name, model.apply, **kwargs)
  tx = optim.make_optimizer(config.optimizer, config.schedule, config.total_steps)
  return model, src, objective, tx, _features_fn(model)


@functools.lru_cache(maxsize=8)
def _load(name: str, split: str, kwargs_json: str) -> data_lib.Dataset:
  """data.load, cached: a table runs many rows and seeds on the same rendered data."""
  return data_lib.load(name, split, **json.loads(kwargs_json))


def real_kwargs(config) -> dict:
  """data.load kwargs of the real target config.syn2real.real: its data_dir for a tfds set."""
  data_dir = config.syn2real.get("real_data_dir", "")
  return {"data_dir": data_dir} if data_dir else {}


class Row(NamedTuple):
  """What a syn2real config trains with: model, source (or None), objective, optimizer, the
  jitted `features(state, images) -> (features, logits)`, the datasets, the parameter groups and
  `init(state) -> state` (source warm start, CSG queue, the row's fixed multipliers)."""
  model: Any
  src: Any
  objective: Any
  tx: Any
  features: Any
  train_ds: data_lib.Dataset
  val_ds: data_lib.Dataset
  test_ds: data_lib.Dataset
  groups: tuple
  scales: dict
  init: Any


def setup(config) -> Row:
  """Builds the Row of `config` (compiled pieces cached across seeds)."""
  s2r = config.syn2real
  data_kwargs = json.dumps(config.data.kwargs.to_dict(), sort_keys=True)
  train_ds = _load(config.data.name, "train", data_kwargs)
  val_ds = _load(config.data.name, "val", data_kwargs)
  test_ds = _load(s2r.real, "test", json.dumps(real_kwargs(config)))
  model, src, objective, tx, features = _program(_without_seed(config), train_ds.num_classes)
  groups = tuple(g for g, _ in optim.parse_groups(config.optimizer.groups))
  if s2r.random_lr_seed >= 0:
    draw = np.random.default_rng([s2r.random_lr_seed, config.seed]).choice(LR_ACTIONS,
                                                                           len(groups))
    scales = dict(zip(groups, draw.tolist()))
  else:
    scales = check_lr_scales(dict(s2r.lr_scales))

  def init(state):
    params, model_state = state.params, state.model_state
    if s2r.init_from_source:
      if src is None:
        raise ValueError("syn2real.init_from_source needs objective.kwargs.source.")
      params, model_state = source_lib.warm_start(src, params, model_state)
    opt_state = state.opt_state
    if config.objective.name == "csg":
      projection, csg_state = syn2real_lib.init_csg(
          jax.random.key(config.seed), params[source_lib.HEAD]["kernel"].shape[0],
          dim=s2r.csg_dim, queue_size=s2r.queue_size)
      params = {**params, syn2real_lib.PROJECTION: projection}
      model_state = {**model_state, **csg_state}
      opt_state = tx.init(params)
    return state.replace(params=params, model_state=model_state,
                         opt_state=optim.set_lr_scales(opt_state, scales))

  return Row(model, src, objective, tx, features, train_ds, val_ds, test_ds, groups, scales,
             init)


def _policy_hook(config, row, policy):
  """`on_chunk` deploying a learning-rate policy: after each window it observes the window's
  mean CE and KL, the progress, the head kernel and the current multipliers and sets the next
  window's multipliers to its most probable actions. Returns (hook, history [(step, scales)])."""
  carry = [policy_lib.initial_carry(policy["hidden"])]
  history = []
  decide = jax.jit(lambda params, carry, obs: policy_lib.step(policy, params, carry, obs))

  def hook(state, m, done):
    current = optim.lr_scales(state.opt_state)
    obs = policy_lib.observation(
        np.mean(m["ce"]) if m else 0.0, np.mean(m.get(row_guidance(config), 0.0)) if m else 0.0,
        done / config.total_steps, state.params[source_lib.HEAD]["kernel"],
        [current[g] for g in row.groups])
    carry[0], logits = decide(policy["params"], carry[0], obs)
    chosen = [round(float(m), 1) for m in policy_lib.multipliers(np.argmax(logits, -1))]
    scales = dict(zip(row.groups, chosen))
    if done < config.total_steps:
      history.append((done, scales))
    return state.replace(opt_state=optim.set_lr_scales(state.opt_state, scales))

  return hook, history


def row_guidance(config) -> str:
  """The metric name of the row's guidance term ("kl", "info_nce", ...)."""
  if config.objective.name == "csg":
    return "info_nce"
  return config.objective.kwargs.get("guidance", "none")


def train_row(config):
  """Trains one row; returns (the selected state, its numbers as `run`), the Row."""
  start = time.time()
  s2r = config.syn2real
  row = setup(config)
  history, lr_history, policy_hook = [], [], None
  val_ds = row.val_ds
  policy_path = s2r.get("policy", "")
  window = s2r.get("window", config.eval_every_steps)
  if policy_path:
    policy = policy_lib.load(policy_path, row.groups)
    policy_hook, lr_history = _policy_hook(config, row, policy)
    if config.eval_every_steps % window:
      raise ValueError(f"eval_every_steps={config.eval_every_steps} must be a multiple of the "
                       f"policy window {window}.")

  def init(state):
    state = row.init(state)
    return policy_hook(state, {}, 0) if policy_hook else state

  def on_chunk(state, m, done):
    if done % config.eval_every_steps == 0 or done == config.total_steps:
      _, logits = collect(row.features, state, val_ds)
      history.append((done, (float(np.mean(np.argmax(logits, -1) == val_ds.labels)),
                             jax.device_get(state))))
    return policy_hook(state, m, done) if policy_hook else state

  _train(row.model, row.objective, row.tx, row.train_ds, steps=config.total_steps,
         batch_size=config.batch_size, seed=config.seed,
         chunk=window if policy_path else config.eval_every_steps, init=init, on_chunk=on_chunk)
  best_step, (val_acc, best) = max(history, key=lambda h: h[1][0])  # first best on ties
  feats, logits = collect(row.features, best, row.test_ds)
  out = {"real_test/accuracy": float(np.mean(np.argmax(logits, -1) == row.test_ds.labels)),
         "syn_val/accuracy": val_acc, "selected_step": best_step, "lr_scales": row.scales}
  if policy_path:
    out["lr_history"] = lr_history
  for s in ENERGY_ORDERS:
    out[f"energy/s{s}"] = float(metrics.hyperspherical_energy(feats, s))
  out["wall_time_s"] = time.time() - start
  return best, out, row


def run(config) -> dict:
  """Trains one syn2real row (see the module docstring); returns its numbers.

  Returns: {"real_test/accuracy", "syn_val/accuracy" (of the selected checkpoint),
  "selected_step", "energy/s0".."energy/s2" (hyperspherical energies of the selected model's
  real-test features), "wall_time_s", "lr_scales" (the row's initial multipliers) and, for a
  policy row, "lr_history" [(step, {group: multiplier})] (the policy's choice per window)}.
  """
  return train_row(config)[1]

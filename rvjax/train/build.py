"""Building a run from its config: keys, data, model, objective, optimizer and replicas.

Every random stream of a run is `fold_in(key(config.seed), SEED_OFFSETS[purpose])`, named here
once: "init" creates the state, "train" is the step's base key (folded with the step inside the
step), "eval" drives stochastic prediction (MC dropout), the same on every call.

`config.task` (default "classification", see rvjax.tasks) decides the batch schema and where the
batches come from:
  * classification: `rvjax.data.load_split(config.data, split)`, a `Dataset`, read by the seeded
    iterator (rvjax.data.iterator);
  * paired / unpaired: image folders named by `config.data.kwargs.folders[split]` (and
    `reference` for the unpaired set B), read as random `patch` x `patch` crops with the 8
    dihedral transforms (rvjax.data.image_folder); `config.degrade` names an on-device
    degradation `f(key, images) -> images` making a paired batch's "image" from its "target"
    inside the step (rvjax.objectives.degraded).

Several players (rvjax.train.players): `config.players` = {player: {"name", "kwargs"}} names the
modules of every player besides `config.model`; the objective then gets their `apply`s as
`players=` and must return a `rvjax.objectives.game.Game` over exactly those players plus its
`model` player (which is `config.model`). Every player gets its own optimizer (and optimizer
state) from config.optimizer and config.schedule; the state holds every player's params, model
state and optimizer state, checkpointed as one pytree. What `build` returns as the model is then a
`players.Players`: its `apply` is the model player's, so evaluators and launch.restore see the
model as they see a one-player run's.
"""
import functools

import jax

from rvjax import data as data_lib
from rvjax import models, objectives, tasks, validate
from rvjax.data import image_folder
from rvjax.objectives import degraded
from rvjax.objectives.game import Game
from rvjax.train import hooks as hooks_lib, optim, players, replicas, step as step_lib
from rvjax.train import state as state_lib

SEED_OFFSETS = {"init": 0, "train": 1, "eval": 2}


def seed_key(config, purpose: str) -> jax.Array:
  """The run's key for `purpose` ("init", "train" or "eval"): fold_in(key(seed), offset)."""
  validate.check_choice(purpose, "key purpose", SEED_OFFSETS)
  return jax.random.fold_in(jax.random.key(config.seed), SEED_OFFSETS[purpose])


def task_of(config) -> tasks.Task:
  """The config's task; configs saved before `config.task` existed are classification."""
  return tasks.get(config.get("task", "classification"))


def check_loop_settings(config) -> None:
  """Checks the loop's own settings (the data, model and optimizer check theirs when built)."""
  validate.check_positive(config.log_every_steps, "config.log_every_steps")
  validate.check_positive(config.eval_every_steps, "config.eval_every_steps", allow_zero=True)
  validate.check_positive(config.total_steps, "config.total_steps", allow_zero=True)
  validate.check_positive(config.checkpoint.every_steps, "config.checkpoint.every_steps",
                          allow_zero=True)
  validate.check_positive(config.checkpoint.keep, "config.checkpoint.keep")


def load_split(config, split: str):
  """Split `split` of the config's data for its task: a `Dataset` (classification) or an
  `image_folder.Folder` (paired, unpaired); None for a folder task's split it does not name."""
  if task_of(config).name == "classification":
    return data_lib.load_split(config.data, split)
  return image_folder.load_split(config.data, split)


def input_shape(config, train_ds) -> tuple[int, ...]:
  """The (B, H, W, C) shape a train batch's images have."""
  if isinstance(train_ds, image_folder.Folder):
    patch = config.data.kwargs.patch
    return (config.batch_size, patch, patch, train_ds.channels)
  return (config.batch_size,) + train_ds.images.shape[1:]


def train_batches(config, train_ds, *, start_step: int, member_seeds=None):
  """Host train batches of the task's schema from `start_step` on: a pure function of
  (config.seed, step)."""
  if not isinstance(train_ds, image_folder.Folder):
    return data_lib.train_batches(train_ds, batch_size=config.batch_size, seed=config.seed,
                                  start_step=start_step, member_seeds=member_seeds)
  patch = config.data.kwargs.patch
  if train_ds.references is not None:
    return image_folder.unpaired_batches(train_ds.images, train_ds.references, patch=patch,
                                         batch_size=config.batch_size, seed=config.seed,
                                         start_step=start_step)
  return image_folder.paired_batches(train_ds.images, patch=patch, batch_size=config.batch_size,
                                     seed=config.seed, start_step=start_step)


def _objective(config, model, others: dict):
  """The config's objective around `model`; a Game when `others` (the other players) exist."""
  kwargs = dict(config.objective.kwargs)
  if others:
    kwargs["players"] = {p: m.apply for p, m in others.items()}
  objective = objectives.create(config.objective.name, model.apply, **kwargs)
  degrade = config.get("degrade")  # Absent from configs saved before it existed.
  if isinstance(objective, Game):
    if set(objective.losses) != {objective.model} | set(others):
      raise ValueError(f"Objective {config.objective.name!r} plays {sorted(objective.losses)} "
                       f"with model player {objective.model!r}; config.players must name the "
                       f"others, got {sorted(others)}.")
    if config.get("augment", "") or (degrade and degrade.name):
      raise ValueError("config.augment and config.degrade do not apply to a several-player "
                       "game; leave them empty.")
    return objective
  objective = objectives.augmented.wrap(objective, config.get("augment", ""))
  if degrade and degrade.name:
    objective = degraded.wrap(objective, degraded.resolve(degrade.name, **dict(degrade.kwargs)))
  return objective


def build(config, train_ds):
  """The model, objective and optimizer a config names, and the number of steps.

  Args:
    config: the run's config.
    train_ds: its train split (`load_split(config, "train")`): anything with a length and a
      `num_classes` (None for image-to-image tasks).

  Returns:
    (model, objective, tx, steps_per_epoch, total_steps); an epoch is len(train_ds) examples
    (for patch sampling: one patch per image on average). With `config.players` (see the
    module docstring) the model is a `players.Players`, the objective a Game and tx
    {player: optimizer}.
  """
  if train_ds is None:
    raise ValueError("config.data names no train split: set config.data.kwargs.folders.train.")
  if task_of(config).name != "classification" and replicas.from_config(config).size > 1:
    raise ValueError(f"config.task={task_of(config).name!r} does not train ensembles; set "
                     "config.ensemble.size = 1.")
  spe = data_lib.steps_per_epoch(len(train_ds), config.batch_size)
  total_steps = config.total_steps or config.num_epochs * spe
  if total_steps < 1:
    raise ValueError(f"Training would run {total_steps} steps: set config.num_epochs or "
                     "config.total_steps to at least 1.")
  model = models.from_config(config.model, num_classes=train_ds.num_classes)
  others = {p: models.create(s.name, **dict(s.kwargs))
            for p, s in config.get("players", {}).items()}
  objective = _objective(config, model, others)
  if not isinstance(objective, Game):
    return model, objective, optim.make_optimizer(config.optimizer, config.schedule,
                                                  total_steps), spe, total_steps
  txs = {p: optim.make_optimizer(config.optimizer, config.schedule, total_steps)
         for p in objective.losses}
  model = players.Players({objective.model: model, **others}, objective.model)
  return model, objective, txs, spe, total_steps


def build_hooks(config) -> dict:
  """{name: hook} of config.hooks (rvjax.train.hooks), in config order."""
  return {name: hooks_lib.create(h.type, **{k: v for k, v in h.items() if k != "type"})
          for name, h in config.hooks.items()}


def make_mesh(config):
  """The mesh of the config's replicas (an ensemble's members over its member axis)."""
  return replicas.from_config(config).make_mesh()


def _init_fn(model, tx, input_shape_):
  if isinstance(model, players.Players):
    return model.init_fn(tx, input_shape_)
  return state_lib.init_fn(model, tx, input_shape_)


def abstract_state(config, model, tx, input_shape_, mesh):
  """The TrainState's shapes and shardings (K stacked members for an ensemble)."""
  return replicas.from_config(config).abstract_state(_init_fn(model, tx, input_shape_), mesh)


def create_state(config, model, tx, input_shape_, mesh):
  """A fresh TrainState from the "init" key; member m of an ensemble from fold_in(key, m);
  player i of a game from fold_in(key, i)."""
  return replicas.from_config(config).create_state(_init_fn(model, tx, input_shape_),
                                                   seed_key(config, "init"), mesh)


def compile_step(config, objective, tx, mesh):
  """The jitted `(state, batch, key) -> (state, metrics)` for the config's task and replicas."""
  member_step = functools.partial(step_lib.train_step, objective=objective, tx=tx,
                                  task=task_of(config).name)
  return replicas.from_config(config).compile_step(member_step, mesh)


def make_predict_fn(config, model, mesh):
  """The jitted eval `(state, images) -> outputs / T` (an ensemble / MC-dropout pool for
  classifiers; T = 1 unless fitted)."""
  return replicas.from_config(config).predict_fn(model, mesh, seed_key(config, "eval"))


def make_member_logits_fn(config, model, mesh):
  """Jitted `(state, images) -> (M, B, K)` member logits / T (ensemble members and/or MC-dropout
  samples), for mutual information; None for a single deterministic model."""
  return replicas.from_config(config).member_logits_fn(model, mesh, seed_key(config, "eval"))

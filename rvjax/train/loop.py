"""The training loop: config -> trained, evaluated, checkpointed workdir.

Resume ladder (big_vision): the workdir's latest checkpoint, else `config.resume` (another run's
workdir: full state), else `config.model_init` (another run's workdir: params only), else
scratch. A resumed run replays exactly the batches and keys an uninterrupted run would see.

With `config.ensemble.size` K > 1 the state is K stacked members trained by one step mapped over
them (rvjax.uncertainty.ensemble); `config.mc_dropout.samples` > 0 makes the eval prediction an
MC-dropout mean; `config.calibrate_temperature` fits T on val logits after training.

The workdir's files, locks and settings checks live in rvjax.train.workdir: everything a config
names is loaded and checked, and matched against the checkpoint, before anything is written.
"""
import functools
import math
import os
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from rvjax import data as data_lib
from rvjax import evaluators as evaluators_lib
from rvjax import models, objectives, sharding, uncertainty, validate
from rvjax.evaluators import predictions
from rvjax.report import records as report_records
from rvjax.train import checkpoint, hooks as hooks_lib, optim, step as step_lib, writers
from rvjax.train import state as state_lib, workdir as workdir_lib
from rvjax.uncertainty import ensemble, mc_dropout, sngp


class InjectedFailure(RuntimeError):
  """Raised at `config.fail_at_step` to test crash-then-resume."""


# Errors caused by the user's input or files; launch scripts print them without a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, FloatingPointError, checkpoint.CheckpointError,
               workdir_lib.WorkdirError)

# A mean train loss at or above this fraction of log(num_classes) is no better than chance; the
# loop warns when it still is one epoch (at most CHANCE_PATIENCE steps) after the warm-up.
CHANCE_FRACTION = 0.98
CHANCE_PATIENCE = 100


def check_loop_settings(config) -> None:
  """Checks the loop's own settings (the data, model and optimizer check theirs when built)."""
  validate.check_positive(config.log_every_steps, "config.log_every_steps")
  validate.check_positive(config.eval_every_steps, "config.eval_every_steps", allow_zero=True)
  validate.check_positive(config.total_steps, "config.total_steps", allow_zero=True)
  validate.check_positive(config.checkpoint.every_steps, "config.checkpoint.every_steps",
                          allow_zero=True)
  validate.check_positive(config.checkpoint.keep, "config.checkpoint.keep")


def at_chance(loss, num_classes: int) -> bool:
  """True when a mean train loss (a scalar, or one per ensemble member) is no better than
  predicting the uniform distribution: >= CHANCE_FRACTION * log(num_classes)."""
  return float(np.mean(loss)) >= CHANCE_FRACTION * math.log(num_classes)


def make_mesh(config):
  """The mesh; an ensemble's members are split over gcd(K, devices) devices of its member axis."""
  return sharding.make_mesh(ensemble.mesh_members(config.ensemble.size))


def abstract_state(config, model, tx, input_shape, mesh):
  """The TrainState's shapes and shardings; K stacked members when config.ensemble.size > 1."""
  if config.ensemble.size > 1:
    return ensemble.abstract_state(state_lib.init_fn(model, tx, input_shape),
                                   config.ensemble.size, mesh)
  return state_lib.abstract_state(model, tx, input_shape, mesh)


def create_state(config, model, tx, input_shape, key, mesh):
  """A fresh TrainState from `key`; member m of an ensemble from fold_in(key, m)."""
  if config.ensemble.size > 1:
    return ensemble.create(state_lib.init_fn(model, tx, input_shape), key,
                           config.ensemble.size, mesh)
  return state_lib.create(model, tx, input_shape, key, mesh)


def make_train_step(config, objective, tx, mesh, key):
  """(jitted step, its key, member data seeds or None): one model, or K members in one step."""
  if config.ensemble.size == 1:
    return step_lib.compile_train_step(objective, tx), key, None
  size = config.ensemble.size
  member_step = functools.partial(step_lib.train_step, objective=objective, tx=tx)
  step_fn = ensemble.compile_step(member_step, ensemble.resolve(config.ensemble.formulation, mesh),
                                  mesh)
  return step_fn, ensemble.member_keys(key, size), ensemble.member_seeds(config.seed, size)


def make_predict_fn(config, model, mesh):
  """The jitted eval `(state, images) -> logits / T`: an MC-dropout mean and/or ensemble pool."""
  logits_fn = functools.partial(step_lib.eval_logits, model.apply)
  if config.mc_dropout.samples:
    key = jax.random.fold_in(jax.random.key(config.seed), 2)  # Fixed: evaluation is reproducible.
    logits_fn = mc_dropout.predictive(model, config.mc_dropout.samples, key)
  if config.ensemble.size > 1:
    logits_fn = ensemble.pooled(logits_fn, ensemble.resolve(config.ensemble.formulation, mesh))
  return jax.jit(step_lib.calibrated(logits_fn))


def make_member_logits_fn(config, model, mesh):
  """Jitted `(state, images) -> (M, B, K)` member logits (ensemble members and/or MC-dropout
  samples, divided by T) for mutual information; None for a single deterministic model."""
  size, samples = config.ensemble.size, config.mc_dropout.samples
  if size == 1 and not samples:
    return None
  logits_fn = functools.partial(step_lib.eval_logits, model.apply)
  if samples:
    key = jax.random.fold_in(jax.random.key(config.seed), 2)  # The keys make_predict_fn uses.
    keys = jax.random.split(key, samples)
    if size == 1:
      return jax.jit(step_lib.calibrated(
          lambda state, images: mc_dropout.sample_logits(model, state, images, keys)))
    logits_fn = mc_dropout.predictive(model, samples, key)
  members = ensemble.over_members(logits_fn, ensemble.resolve(config.ensemble.formulation, mesh),
                                  in_axes=(0, None))
  return jax.jit(step_lib.calibrated(members))


def fit_temperature(predict_fn, state, val_ds, mesh, batch_size: int):
  """Fits T on the val logits of `state` at T = 1; returns (state holding T, T)."""
  ones = jnp.ones_like(state.temperature)
  logits = predictions.collect_logits(predict_fn, state.replace(temperature=ones), val_ds,
                                      batch_size=batch_size, mesh=mesh)
  t = uncertainty.fit_temperature(logits, val_ds.labels)
  return state.replace(temperature=ones * t), t  # ones_like keeps the member sharding.


def build(config, train_ds: data_lib.Dataset):
  """The model, objective and optimizer a config names, and the number of steps."""
  spe = data_lib.steps_per_epoch(len(train_ds), config.batch_size)
  total_steps = config.total_steps or config.num_epochs * spe
  if total_steps < 1:
    raise ValueError(f"Training would run {total_steps} steps: set config.num_epochs or "
                     "config.total_steps to at least 1.")
  model = models.create(config.model.name, num_classes=train_ds.num_classes,
                        **dict(config.model.kwargs))
  objective = objectives.augmented.wrap(
      objectives.create(config.objective.name, model.apply, **dict(config.objective.kwargs)),
      config.get("augment", ""))  # Absent from configs saved before it existed.
  tx = optim.make_optimizer(config.optimizer, config.schedule, total_steps)
  return model, objective, tx, spe, total_steps


def initial_state(config, model, tx, input_shape, mesh, ckpt: checkpoint.Checkpointer):
  """Restores or creates the TrainState following the resume ladder: (state, source, meta).

  Restored states are verified against their checksums; the settings were matched before
  (workdir.check_settings).
  """
  abstract = abstract_state(config, model, tx, input_shape, mesh)
  if ckpt.latest_step() is not None:
    state, meta = ckpt.restore(abstract)
    return state, f"resumed {ckpt.directory}", meta
  if config.resume:
    other = checkpoint.Checkpointer(os.path.join(config.resume, workdir_lib.CHECKPOINTS))
    state, meta = other.restore(abstract)
    other.close()
    return state, f"resumed from config.resume={config.resume}", meta
  init_key = jax.random.fold_in(jax.random.key(config.seed), 0)
  state = create_state(config, model, tx, input_shape, init_key, mesh)
  if config.model_init:
    params = checkpoint.restore_params(os.path.join(config.model_init, workdir_lib.CHECKPOINTS),
                                       abstract.params)
    return state.replace(params=params), f"params from config.model_init={config.model_init}", {}
  return state, "scratch", {}


def _step_of(state) -> int:
  """Updates applied so far (every member of an ensemble has the same count)."""
  return int(np.max(jax.device_get(state.step)))


def _mean(acc, count):
  return {k: (np.asarray(v, np.float64) / count).tolist() for k, v in jax.device_get(acc).items()}


def run_evals(config, predict_fn, state, mesh, writer, step: int, workdir: str | None = None,
              member_logits_fn=None) -> dict:
  """Runs every evaluator in config.evals and writes "name/metric" values at `step`.

  Evaluators that take a `workdir` argument get `workdir`; the evals are recorded in
  workdir/evals.json for the report (`rvjax.report.records.record_evals`).
  """
  results = {}
  for name, ecfg in config.evals.items():
    kwargs = {k: v for k, v in ecfg.items() if k != "type"}
    ev = evaluators_lib.create(ecfg.type, predict_fn, data=config.data, mesh=mesh,
                               workdir=workdir, member_logits_fn=member_logits_fn, **kwargs)
    results.update({f"{name}/{k}": v for k, v in ev.run(state)})
  if results:
    writer.write(step, results)
    if workdir and jax.process_index() == 0:
      report_records.record_evals(workdir, config.evals.to_dict())
  return results


def train_and_evaluate(config, workdir: str, *, allow_config_change: bool = False) -> dict:
  """Trains per `config`, checkpointing and evaluating into `workdir`; returns the summary.

  Everything is loaded and checked before the first write: the workdir (workdir.check_target),
  the loop settings, the data, model, optimizer and hooks, and the fingerprint of the settings
  against the checkpoint the run resumes from. A changed setting is refused unless
  `allow_config_change`, which records it in workdir/history.jsonl. The run holds the
  workdir's lock while it trains.

  Raises:
    FloatingPointError: a non-finite loss or gradient; the last good checkpoint is kept.
    checkpoint.CheckpointError: an existing checkpoint that cannot be resumed or is corrupt.
    workdir.WorkdirError: a workdir that is not one, is in use, or was made with other settings.
    ValueError: a bad setting, named in the message.
  """
  start_time = time.time()
  workdir_lib.check_target(workdir)
  check_loop_settings(config)
  mesh = make_mesh(config)
  sharding.check_batch_size(config.batch_size, mesh)
  train_ds = predictions.load_split(config.data, "train")
  val_ds = predictions.load_split(config.data, "val")
  model, objective, tx, spe, total_steps = build(config, train_ds)
  hooks = {name: hooks_lib.create(h.type, **{k: v for k, v in h.items() if k != "type"})
           for name, h in config.hooks.items()}
  input_shape = (config.batch_size,) + train_ds.images.shape[1:]
  fp = workdir_lib.fingerprint(config, input_shape, train_ds.num_classes)
  changes = workdir_lib.check_settings(workdir, config, fp, allow_change=allow_config_change)
  with workdir_lib.lock(workdir):
    ckpt = checkpoint.Checkpointer(os.path.join(workdir, workdir_lib.CHECKPOINTS),
                                   keep=config.checkpoint.keep)
    try:
      state, source, meta = initial_state(config, model, tx, input_shape, mesh, ckpt)
      workdir_lib.write_config(config, workdir)
      workdir_lib.append_history(workdir, {"step": _step_of(state), "source": source,
                                           "config_changes": changes})
      return _train(config, workdir, mesh, model, objective, tx, spe, total_steps, train_ds,
                    val_ds, hooks, fp, ckpt, state, source, meta, start_time)
    finally:
      ckpt.close()


def _train(config, workdir, mesh, model, objective, tx, spe, total_steps, train_ds, val_ds, hooks,
           fp, ckpt, state, source, meta, start_time) -> dict:
  """The training loop of train_and_evaluate, once every check has passed and the lock is held."""
  start_step = _step_of(state)
  if meta.get("stopped_early"):  # A hook ended this run early; rerunning only evaluates.
    total_steps = start_step
  writer = writers.MetricWriter(workdir)
  writer.truncate_after(start_step)

  train_key = jax.random.fold_in(jax.random.key(config.seed), 1)
  step_fn, train_key, member_seeds = make_train_step(config, objective, tx, mesh, train_key)
  predict_fn = make_predict_fn(config, model, mesh)
  members_fn = make_member_logits_fn(config, model, mesh)
  batches = data_lib.to_device(
      data_lib.train_batches(train_ds, batch_size=config.batch_size, seed=config.seed,
                             start_step=start_step, member_seeds=member_seeds), mesh,
      member_axis=member_seeds is not None)
  every_ckpt = config.checkpoint.every_steps or total_steps
  last_saved = ckpt.latest_step()
  bar = tqdm.tqdm(total=total_steps, initial=start_step, unit="step", desc=f"train ({source})",
                  disable=not config.progress or jax.process_index() != 0)
  acc, count, tick, tick_step, results = None, 0, time.time(), start_step, {}
  ctx = hooks_lib.HookContext(predict_fn=predict_fn, apply_fn=model.apply, mesh=mesh,
                              config=config, train_ds=train_ds, val_ds=val_ds, key=train_key)
  warned_chance = False

  def check_finite(step):
    if acc is not None and jax.device_get(acc["finite"]) < count:
      kept = (f"The last good checkpoint (step {last_saved}) in {ckpt.directory} is kept"
              if last_saved is not None else "No checkpoint had been saved yet")
      raise FloatingPointError(
          f"Non-finite loss or gradient between steps {step - count} and {step}. {kept}; lower "
          "the learning rate or enable optimizer.grad_clip_norm.")

  for step in range(start_step, total_steps):
    if step == config.fail_at_step:
      raise InjectedFailure(f"config.fail_at_step={step}")
    state, metrics = step_fn(state, next(batches), train_key)
    acc = metrics if acc is None else jax.tree.map(lambda a, b: a + b, acc, metrics)
    count += 1
    done = step + 1
    stopped = False
    for name, hook in hooks.items():
      if done % hook.every_steps == 0 and done < total_steps:
        out = hook(done, state, ctx)
        state, stopped = out.state, stopped or out.stop
        if out.metrics:
          writer.write(done, {f"{name}/{k}": v for k, v in out.metrics.items()})
    epoch_end, last = done % spe == 0, done == total_steps or stopped
    if done % config.log_every_steps == 0 or epoch_end or last:
      check_finite(done)
      means = _mean(acc, count)
      rate = (done - tick_step) * config.batch_size / max(time.time() - tick, 1e-9)
      bar.set_postfix(loss=f"{means['loss']:.4f}", img_s=f"{rate:.0f}")
      tick, tick_step = time.time(), done
    bar.update(1)
    if epoch_end or last:
      writer.write(done, {"epoch": done / spe, **{f"train/{k}": v for k, v in means.items()}})
      acc, count = None, 0
      if (not warned_chance and done >= config.schedule.warmup_steps + min(spe, CHANCE_PATIENCE)
          and at_chance(means["loss"], train_ds.num_classes)):
        warned_chance = True
        warnings.warn(
            f"Train loss {np.mean(means['loss']):.4g} at step {done}, after the warm-up, is no "
            f"better than chance (log {train_ds.num_classes} = "
            f"{math.log(train_ds.num_classes):.4f}): the model is not learning. Check "
            "optimizer.lr and the schedule.", RuntimeWarning, stacklevel=2)
    if last and sngp.has_covariance(state.model_state):  # SNGP: Laplace covariance, then T.
      state = sngp.fit_covariance(model.apply, state, train_ds, mesh=mesh,
                                  batch_size=config.batch_size, ridge=model.ridge)
    if last and config.calibrate_temperature:
      state, temperature = fit_temperature(predict_fn, state, ctx.val_ds, mesh, config.batch_size)
      writer.write(done, {"calibration/temperature": temperature})
    if done % every_ckpt == 0 or last:
      check_finite(done)
      ckpt.save(done, state, {"fingerprint": fp, "epoch": done / spe, "data_position": done,
                              "stopped_early": stopped})
      last_saved = done
    if last or (config.eval_every_steps and done % config.eval_every_steps == 0):
      results = run_evals(config, predict_fn, state, mesh, writer, done, workdir, members_fn)
    if stopped:
      total_steps = done
      break
  bar.close()
  if start_step == total_steps:  # Already trained: evaluate the final checkpoint again.
    results = run_evals(config, predict_fn, state, mesh, writer, total_steps, workdir,
                        members_fn)
  summary = {"steps": total_steps, "wall_time_s": time.time() - start_time, "source": source,
             **results}
  writer.write(total_steps, {"summary/wall_time_s": summary["wall_time_s"]})
  writer.close()
  return summary



def restore_workdir(workdir: str):
  """The latest checkpoint of a run: (config, model, state, mesh), ready for `make_predict_fn`.

  Raises:
    FileNotFoundError: not a workdir. checkpoint.CheckpointError: no usable checkpoint, one
      whose settings differ from the workdir's config.json, or a corrupt one.
  """
  config = workdir_lib.load_config(workdir)
  mesh = make_mesh(config)
  train_ds = predictions.load_split(config.data, "train")
  model, _, tx, _, _ = build(config, train_ds)
  input_shape = (config.batch_size,) + train_ds.images.shape[1:]
  step, where = workdir_lib.latest_checkpoint(workdir)
  if step is None:
    raise checkpoint.CheckpointError(f"No checkpoint in {where}: train first with "
                                     "python -m launch.train.")
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, workdir_lib.CHECKPOINTS))
  diff = workdir_lib.differences(ckpt.read_meta(step).get("fingerprint") or {},
                                 workdir_lib.fingerprint(config, input_shape,
                                                         train_ds.num_classes))
  if diff:
    raise checkpoint.CheckpointError(f"Checkpoint {where} does not match "
                                     f"{workdir_lib.CONFIG_FILE}: {'; '.join(diff)}.")
  state, _ = ckpt.restore(abstract_state(config, model, tx, input_shape, mesh), step)
  ckpt.close()
  return config, model, state, mesh


def evaluate_workdir(workdir: str, evals=None) -> dict:
  """Restores the latest checkpoint of `workdir`, runs its config's evals, logs and returns them.

  `evals` (a config.evals-like mapping, e.g. another config's) replaces the saved config's evals.

  Raises:
    FileNotFoundError: not a workdir. checkpoint.CheckpointError: no usable checkpoint.
    workdir.WorkdirError: another run holds the workdir.
  """
  config, model, state, mesh = restore_workdir(workdir)
  if evals is not None:
    with config.unlocked():
      config.evals = evals
  with workdir_lib.lock(workdir):
    writer = writers.MetricWriter(workdir)
    results = run_evals(config, make_predict_fn(config, model, mesh), state, mesh, writer,
                        _step_of(state), workdir, make_member_logits_fn(config, model, mesh))
    writer.close()
  return results

"""The training loop: config -> trained, evaluated, checkpointed workdir.

Resume ladder (big_vision): the workdir's latest checkpoint, else `config.resume` (another run's
workdir: full state), else `config.model_init` (another run's workdir: params only), else
scratch. A resumed run replays exactly the batches and keys an uninterrupted run would see.
"""
import json
import os
import time

import jax
import numpy as np
import tqdm

from rvjax import data as data_lib
from rvjax import evaluators as evaluators_lib
from rvjax import models, objectives, sharding
from rvjax.evaluators import predictions
from rvjax.train import checkpoint, hooks as hooks_lib, optim, step as step_lib, writers
from rvjax.train import state as state_lib


class InjectedFailure(RuntimeError):
  """Raised at `config.fail_at_step` to test crash-then-resume."""


# Errors caused by the user's input or files; launch scripts print them without a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, FloatingPointError, checkpoint.CheckpointError)


def save_config(config, workdir: str) -> None:
  """Writes the resolved config to workdir/config.json (process 0 only)."""
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "config.json"), "w") as f:
      f.write(config.to_json_best_effort(indent=2, sort_keys=True))


def fingerprint(config, input_shape, num_classes: int) -> dict:
  """What a checkpoint must match to be resumed by this config."""
  return {"model": config.model.name, "model_kwargs": json.dumps(dict(config.model.kwargs),
                                                                 sort_keys=True, default=str),
          "input_shape": list(input_shape[1:]), "num_classes": num_classes,
          "optimizer": config.optimizer.name, "groups": [list(g) for g in config.optimizer.groups]}


def build(config, train_ds: data_lib.Dataset):
  """The model, objective and optimizer a config names, and the number of steps."""
  spe = data_lib.steps_per_epoch(len(train_ds), config.batch_size)
  total_steps = config.total_steps or config.num_epochs * spe
  if total_steps < 1:
    raise ValueError(f"Training would run {total_steps} steps: set config.num_epochs or "
                     "config.total_steps to at least 1.")
  model = models.create(config.model.name, num_classes=train_ds.num_classes,
                        **dict(config.model.kwargs))
  objective = objectives.create(config.objective.name, model.apply,
                                **dict(config.objective.kwargs))
  tx = optim.make_optimizer(config.optimizer, config.schedule, total_steps)
  return model, objective, tx, spe, total_steps


def initial_state(config, model, tx, input_shape, mesh, ckpt: checkpoint.Checkpointer, fp):
  """Restores or creates the TrainState following the resume ladder: (state, source, meta)."""
  abstract = state_lib.abstract_state(model, tx, input_shape, mesh)
  if ckpt.latest_step() is not None:
    state, meta = ckpt.restore(abstract, fp)
    return state, f"resumed {ckpt.directory}", meta
  if config.resume:
    other = checkpoint.Checkpointer(os.path.join(config.resume, "checkpoints"))
    state, meta = other.restore(abstract, fp)
    return state, f"resumed from config.resume={config.resume}", meta
  init_key = jax.random.fold_in(jax.random.key(config.seed), 0)
  state = state_lib.create(model, tx, input_shape, init_key, mesh)
  if config.model_init:
    params = checkpoint.restore_params(os.path.join(config.model_init, "checkpoints"),
                                       abstract.params)
    return state.replace(params=params), f"params from config.model_init={config.model_init}", {}
  return state, "scratch", {}


def _mean(acc, count):
  return {k: float(v) / count for k, v in jax.device_get(acc).items()}


def run_evals(config, predict_fn, state, mesh, writer, step: int) -> dict:
  """Runs every evaluator in config.evals and writes "name/metric" values at `step`."""
  results = {}
  for name, ecfg in config.evals.items():
    kwargs = {k: v for k, v in ecfg.items() if k != "type"}
    ev = evaluators_lib.create(ecfg.type, predict_fn, data=config.data, mesh=mesh, **kwargs)
    results.update({f"{name}/{k}": v for k, v in ev.run(state)})
  if results:
    writer.write(step, results)
  return results


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains per `config`, checkpointing and evaluating into `workdir`; returns the summary.

  Raises:
    FloatingPointError: a non-finite loss or gradient; the last good checkpoint is kept.
    checkpoint.CheckpointError: an existing checkpoint that cannot be resumed.
  """
  start_time = time.time()
  os.makedirs(workdir, exist_ok=True)
  save_config(config, workdir)
  mesh = sharding.make_mesh()
  sharding.check_batch_size(config.batch_size, mesh)
  train_ds = predictions.load_split(config.data, "train")
  model, objective, tx, spe, total_steps = build(config, train_ds)
  input_shape = (config.batch_size,) + train_ds.images.shape[1:]
  fp = fingerprint(config, input_shape, train_ds.num_classes)
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"),
                                 keep=config.checkpoint.keep)
  state, source, meta = initial_state(config, model, tx, input_shape, mesh, ckpt, fp)
  start_step = int(jax.device_get(state.step))
  if meta.get("stopped_early"):  # A hook ended this run early; rerunning only evaluates.
    total_steps = start_step
  writer = writers.MetricWriter(workdir)
  writer.truncate_after(start_step)

  train_key = jax.random.fold_in(jax.random.key(config.seed), 1)
  step_fn = step_lib.compile_train_step(objective, tx)
  predict_fn = step_lib.compile_predict(model.apply)
  batches = data_lib.to_device(
      data_lib.train_batches(train_ds, batch_size=config.batch_size, seed=config.seed,
                             start_step=start_step), mesh)
  every_ckpt = config.checkpoint.every_steps or total_steps
  last_saved = start_step if start_step else None
  bar = tqdm.tqdm(total=total_steps, initial=start_step, unit="step", desc=f"train ({source})",
                  disable=not config.progress or jax.process_index() != 0)
  acc, count, tick, tick_step, results = None, 0, time.time(), start_step, {}
  ctx = hooks_lib.HookContext(predict_fn=predict_fn, apply_fn=model.apply, mesh=mesh,
                              config=config, train_ds=train_ds,
                              val_ds=predictions.load_split(config.data, "val"), key=train_key)
  hooks = {name: hooks_lib.create(h.type, **{k: v for k, v in h.items() if k != "type"})
           for name, h in config.hooks.items()}

  def check_finite(step):
    if acc is not None and jax.device_get(acc["finite"]) < count:
      raise FloatingPointError(
          f"Non-finite loss or gradient between steps {step - count} and {step}. The last good "
          f"checkpoint (step {last_saved}) in {ckpt.directory} is kept; lower the learning rate "
          "or enable optimizer.grad_clip_norm.")

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
    if done % every_ckpt == 0 or last:
      check_finite(done)
      ckpt.save(done, state, {"fingerprint": fp, "epoch": done / spe, "data_position": done,
                              "stopped_early": stopped})
      last_saved = done
    if last or (config.eval_every_steps and done % config.eval_every_steps == 0):
      results = run_evals(config, predict_fn, state, mesh, writer, done)
    if stopped:
      total_steps = done
      break
  bar.close()
  if start_step == total_steps:  # Already trained: evaluate the final checkpoint again.
    results = run_evals(config, predict_fn, state, mesh, writer, total_steps)
  summary = {"steps": total_steps, "wall_time_s": time.time() - start_time, "source": source,
             **results}
  writer.write(total_steps, {"summary/wall_time_s": summary["wall_time_s"]})
  writer.close()
  ckpt.close()
  return summary



def load_config(workdir: str):
  """The config a run saved in workdir/config.json, as a locked ConfigDict."""
  import ml_collections
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{workdir!r} is not an rvjax workdir: {path} does not exist. "
                            "Pass the --workdir of a `launch.train` run.")
  with open(path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  config.lock()
  return config


def evaluate_workdir(workdir: str) -> dict:
  """Restores the latest checkpoint of `workdir`, runs its config's evals, logs and returns them.

  Raises:
    FileNotFoundError: not a workdir. checkpoint.CheckpointError: no usable checkpoint.
  """
  config = load_config(workdir)
  mesh = sharding.make_mesh()
  train_ds = predictions.load_split(config.data, "train")
  model, _, tx, _, _ = build(config, train_ds)
  input_shape = (config.batch_size,) + train_ds.images.shape[1:]
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"), keep=config.checkpoint.keep)
  if ckpt.latest_step() is None:
    raise checkpoint.CheckpointError(f"No checkpoint in {ckpt.directory}: train first with "
                                     "python -m launch.train.")
  abstract = state_lib.abstract_state(model, tx, input_shape, mesh)
  state, _ = ckpt.restore(abstract, fingerprint(config, input_shape, train_ds.num_classes))
  writer = writers.MetricWriter(workdir)
  results = run_evals(config, step_lib.compile_predict(model.apply), state, mesh, writer,
                      int(jax.device_get(state.step)))
  writer.close()
  ckpt.close()
  return results

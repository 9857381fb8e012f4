"""The training loop: config -> trained, evaluated, checkpointed workdir.

One loop for every task and replica kind: building lives in rvjax.train.build (keys, data,
model, objective, optimizer), where the state comes from in rvjax.train.resume, evaluation and
the actions after training in rvjax.train.evaluation, the workdir's files, lock and settings
checks in rvjax.train.workdir. Here the steps run, with periodic actions after each: hooks, log,
post-training actions (last step), checkpoint, evaluate. A resumed run replays exactly the
batches and keys an uninterrupted run would see.

After the run, one record gives its provenance (`rvjax.report.records.environment()` and
"run/config", the --config it was launched with) and `rvjax.report.write` renders the report.
"""
import dataclasses
import math
import os
import time
import warnings

import jax
import numpy as np
import tqdm

from rvjax import data as data_lib, report, sharding
from rvjax.objectives.game import Game
from rvjax.report import records as report_records
from rvjax.train import build as build_lib, checkpoint, evaluation, hooks as hooks_lib
from rvjax.train import replicas, resume, workdir as workdir_lib, writers

# The public names other modules, notebooks and tests call (kept stable).
build = build_lib.build
load_config = workdir_lib.load_config
make_mesh = build_lib.make_mesh
abstract_state = build_lib.abstract_state
make_predict_fn = build_lib.make_predict_fn
make_member_logits_fn = build_lib.make_member_logits_fn
fit_temperature = evaluation.fit_temperature
run_evals = evaluation.run_evals
restore_workdir = resume.restore_workdir
evaluate_workdir = evaluation.evaluate_workdir


class InjectedFailure(RuntimeError):
  """Raised at `config.fail_at_step` to test crash-then-resume."""


# Errors caused by the user's input or files; launch scripts print them without a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, FloatingPointError, checkpoint.CheckpointError,
               workdir_lib.WorkdirError)

# A mean train loss at or above this fraction of log(num_classes) is no better than chance; the
# loop warns when it still is one epoch (at most CHANCE_PATIENCE steps) after the warm-up.
CHANCE_FRACTION = 0.98
CHANCE_PATIENCE = 100


def at_chance(loss, num_classes: int) -> bool:
  """True when a mean train loss (a scalar, or one per ensemble member) is no better than
  predicting the uniform distribution: >= CHANCE_FRACTION * log(num_classes)."""
  return float(np.mean(loss)) >= CHANCE_FRACTION * math.log(num_classes)


@dataclasses.dataclass
class _Run:
  """What the loop needs once every check has passed and the lock is held."""
  config: object
  workdir: str
  mesh: object
  model: object
  objective: object
  tx: object
  spe: int
  total_steps: int
  train_ds: object
  val_ds: object
  hooks: dict
  fingerprint: dict
  ckpt: checkpoint.Checkpointer
  config_path: str | None


def train_and_evaluate(config, workdir: str, *, allow_config_change: bool = False,
                       config_path: str | None = None, write_report: bool = True) -> dict:
  """Trains per `config`, checkpointing and evaluating into `workdir`; returns the summary.

  Everything is loaded and checked before the first write: the workdir (workdir.check_target),
  the loop settings, the data, model, optimizer and hooks, and the fingerprint of the settings
  against the checkpoint the run resumes from. A changed setting is refused unless
  `allow_config_change`, which records it in workdir/history.jsonl. The run holds the
  workdir's lock while it trains.

  Args:
    config_path: the --config flag as typed (e.g. "configs/digits_cnn.py:tiny"), recorded as
      "run/config" for the report; None when not launched from a config file.
    write_report: render workdir/report (rvjax.report.write) at the end.

  Raises:
    FloatingPointError: a non-finite loss or gradient; the last good checkpoint is kept.
    checkpoint.CheckpointError: an existing checkpoint that cannot be resumed or is corrupt.
    workdir.WorkdirError: a workdir that is not one, is in use, or was made with other settings.
    ValueError: a bad setting, named in the message.
  """
  start_time = time.time()
  workdir_lib.check_target(workdir)
  build_lib.check_loop_settings(config)
  mesh = build_lib.make_mesh(config)
  sharding.check_batch_size(config.batch_size, mesh)
  train_ds = build_lib.load_split(config, "train")
  val_ds = build_lib.load_split(config, "val")
  model, objective, tx, spe, total_steps = build_lib.build(config, train_ds)
  hooks = build_lib.build_hooks(config)
  input_shape = build_lib.input_shape(config, train_ds)
  fp = workdir_lib.fingerprint(config, input_shape, train_ds.num_classes)
  changes = workdir_lib.check_settings(workdir, config, fp, allow_change=allow_config_change)
  with workdir_lib.lock(workdir):
    ckpt = checkpoint.Checkpointer(os.path.join(workdir, workdir_lib.CHECKPOINTS),
                                   keep=config.checkpoint.keep)
    try:
      state, source, meta = resume.initial_state(config, model, tx, input_shape, mesh, ckpt)
      workdir_lib.write_config(config, workdir)
      workdir_lib.append_history(workdir, {"step": resume.step_of(state), "source": source,
                                           "config_changes": changes})
      run = _Run(config, workdir, mesh, model, objective, tx, spe, total_steps, train_ds, val_ds,
                 hooks, fp, ckpt, config_path)
      summary = _train(run, state, source, meta, start_time)
    finally:
      ckpt.close()
    if write_report and jax.process_index() == 0:
      summary["report"] = report.write(workdir)["markdown"]
  return summary


def _train(run: _Run, state, source: str, meta: dict, start_time: float) -> dict:
  """The steps, each followed by its periodic actions; then the provenance record."""
  config, mesh, ckpt = run.config, run.mesh, run.ckpt
  start_step, total_steps = resume.step_of(state), run.total_steps
  if meta.get("stopped_early"):  # A hook ended this run early; rerunning only evaluates.
    total_steps = start_step
  writer = writers.MetricWriter(run.workdir)
  writer.truncate_after(start_step)

  rep = replicas.from_config(config)
  step_fn = build_lib.compile_step(config, run.objective, run.tx, mesh)
  train_key = rep.train_key(build_lib.seed_key(config, "train"))
  predict_fn = build_lib.make_predict_fn(config, run.model, mesh)
  members_fn = build_lib.make_member_logits_fn(config, run.model, mesh)
  batches = data_lib.to_device(
      build_lib.train_batches(config, run.train_ds, start_step=start_step,
                              member_seeds=rep.data_seeds(config.seed)),
      mesh, member_axis=rep.member_axis)
  ctx = hooks_lib.HookContext(predict_fn=predict_fn, apply_fn=run.model.apply, mesh=mesh,
                              config=config, train_ds=run.train_ds,
                              val_ds=run.val_ds, key=train_key)
  log = _Log(config, run, writer, ckpt, start_step, total_steps, source)
  every_ckpt = config.checkpoint.every_steps or total_steps
  results = {}
  for step in range(start_step, total_steps):
    if step == config.fail_at_step:
      raise InjectedFailure(f"config.fail_at_step={step}")
    state, metrics = step_fn(state, next(batches), train_key)
    done = step + 1
    state, stopped = _run_hooks(run.hooks, done, total_steps, state, ctx, writer)
    last = done == total_steps or stopped
    log.add(done, metrics, last)
    if last:
      for name, action in evaluation.post_training_actions(config, state):
        state, out = action(state, ctx)
        writer.write(done, {f"{name}/{k}": v for k, v in out.items()})
    if done % every_ckpt == 0 or last:
      log.check_finite(done)
      ckpt.save(done, state, {"fingerprint": run.fingerprint, "epoch": done / run.spe,
                              "data_position": done, "stopped_early": stopped})
      log.last_saved = done
    if last or (config.eval_every_steps and done % config.eval_every_steps == 0):
      results = evaluation.run_evals(config, predict_fn, state, mesh, writer, done, run.workdir,
                                     members_fn, run.model.apply)
    if stopped:
      total_steps = done
      break
  log.close()
  if start_step == total_steps:  # Already trained: evaluate the final checkpoint again.
    results = evaluation.run_evals(config, predict_fn, state, mesh, writer, total_steps,
                                   run.workdir, members_fn, run.model.apply)
  # What the objective used (e.g. a perceptual loss's feature network) goes with the results.
  info = ({f"objective/{k}": v for k, v in run.objective.info.items()}
          if isinstance(run.objective, Game) else {})
  summary = {"steps": total_steps, "wall_time_s": time.time() - start_time, "source": source,
             **results, **info}
  provenance = {**report_records.environment(), **info}
  if run.config_path is not None:
    provenance["run/config"] = run.config_path
  writer.write(total_steps, {"summary/wall_time_s": summary["wall_time_s"], **provenance})
  writer.close()
  return summary


def _run_hooks(hooks, done, total_steps, state, ctx, writer):
  """Calls every hook due after step `done` (none after the last); returns (state, stop)."""
  stopped = False
  for name, hook in hooks.items():
    if done % hook.every_steps == 0 and done < total_steps:
      out = hook(done, state, ctx)
      state, stopped = out.state, stopped or out.stop
      if out.metrics:
        writer.write(done, {f"{name}/{k}": v for k, v in out.metrics.items()})
  return state, stopped


class _Log:
  """Accumulates step metrics on device; logs means each epoch, checks they are finite."""

  def __init__(self, config, run: _Run, writer, ckpt, start_step: int, total_steps: int,
               source: str):
    self.config, self.spe, self.writer, self.ckpt = config, run.spe, writer, ckpt
    self.num_classes = run.train_ds.num_classes
    self.acc, self.count, self.tick, self.tick_step = None, 0, time.time(), start_step
    self.last_saved = ckpt.latest_step()
    self.warned_chance = False
    self.bar = tqdm.tqdm(total=total_steps, initial=start_step, unit="step", desc=f"train ({source})",
                         disable=not config.progress or jax.process_index() != 0)

  def check_finite(self, step: int) -> None:
    if self.acc is not None and jax.device_get(self.acc["finite"]) < self.count:
      kept = (f"The last good checkpoint (step {self.last_saved}) in {self.ckpt.directory} is "
              "kept" if self.last_saved is not None else "No checkpoint had been saved yet")
      raise FloatingPointError(
          f"Non-finite loss or gradient between steps {step - self.count} and {step}. {kept}; "
          "lower the learning rate or enable optimizer.grad_clip_norm.")

  def add(self, done: int, metrics: dict, last: bool) -> None:
    self.acc = metrics if self.acc is None else jax.tree.map(lambda a, b: a + b, self.acc,
                                                             metrics)
    self.count += 1
    epoch_end = done % self.spe == 0
    if done % self.config.log_every_steps == 0 or epoch_end or last:
      self.check_finite(done)
      means = {k: (np.asarray(v, np.float64) / self.count).tolist()
               for k, v in jax.device_get(self.acc).items()}
      rate = ((done - self.tick_step) * self.config.batch_size
              / max(time.time() - self.tick, 1e-9))
      self.bar.set_postfix(loss=f"{np.mean(means['loss']):.4f}", img_s=f"{rate:.0f}")
      self.tick, self.tick_step = time.time(), done
    self.bar.update(1)
    if epoch_end or last:
      self.writer.write(done, {"epoch": done / self.spe,
                               **{f"train/{k}": v for k, v in means.items()}})
      self.acc, self.count = None, 0
      self._warn_if_at_chance(done, means["loss"])

  def _warn_if_at_chance(self, done: int, loss) -> None:
    patience = self.config.schedule.warmup_steps + min(self.spe, CHANCE_PATIENCE)
    if self.warned_chance or self.num_classes is None or done < patience:
      return
    if at_chance(loss, self.num_classes):
      self.warned_chance = True
      warnings.warn(
          f"Train loss {np.mean(loss):.4g} at step {done}, after the warm-up, is no better "
          f"than chance (log {self.num_classes} = {math.log(self.num_classes):.4f}): the model "
          "is not learning. Check optimizer.lr and the schedule.", RuntimeWarning, stacklevel=3)

  def close(self) -> None:
    self.bar.close()

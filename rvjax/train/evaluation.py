"""Evaluating a run: the evals of its config, the actions after training, a finished workdir.

Evaluators receive the jitted `predict_fn` (and `member_logits_fn`); only bound propagation
(the certified evaluator) also receives the model's `apply_fn` (rvjax.evaluators). After the last
step, and before the final checkpoint and evals, the loop runs
`post_training_actions(config, state)` in order: each `action(state, ctx) -> (state, metrics)` may
change the state (an SNGP covariance, then a fitted temperature) and logs its metrics under its
name.
"""
import jax
import jax.numpy as jnp

from rvjax import evaluators as evaluators_lib, models, uncertainty
from rvjax.evaluators import predictions
from rvjax.report import records as report_records
from rvjax.train import build as build_lib, resume, workdir as workdir_lib, writers
from rvjax.uncertainty import sngp


def run_evals(config, predict_fn, state, mesh, writer, step: int, workdir: str | None = None,
              member_logits_fn=None, apply_fn=None) -> dict:
  """Runs every evaluator in config.evals and writes "name/metric" values at `step`.

  Optional context goes only to evaluators whose constructor takes it (rvjax.evaluators.create):
  `workdir`, `member_logits_fn`, and the model's `apply_fn` (bound propagation, the certified
  evaluator). The evals are recorded in workdir/evals.json for the report
  (`rvjax.report.records.record_evals`).
  """
  results = {}
  for name, ecfg in config.evals.items():
    kwargs = {k: v for k, v in ecfg.items() if k != "type"}
    ev = evaluators_lib.create(ecfg.type, predict_fn, data=config.data, mesh=mesh,
                               workdir=workdir, member_logits_fn=member_logits_fn,
                               apply_fn=apply_fn, name=name, **kwargs)
    results.update({f"{name}/{k}": v for k, v in ev.run(state)})
  if results:
    writer.write(step, results)
    if workdir and jax.process_index() == 0:
      report_records.record_evals(workdir, config.evals.to_dict())
  return results


def fit_temperature(predict_fn, state, val_ds, mesh, batch_size: int):
  """Fits T on the val logits of `state` at T = 1; returns (state holding T, T)."""
  ones = jnp.ones_like(state.temperature)
  logits = predictions.collect_logits(predict_fn, state.replace(temperature=ones), val_ds,
                                      batch_size=batch_size, mesh=mesh)
  t = uncertainty.fit_temperature(logits, val_ds.labels)
  return state.replace(temperature=ones * t), t  # ones_like keeps the member sharding.


def _temperature_action(state, ctx):
  state, t = fit_temperature(ctx.predict_fn, state, ctx.val_ds, ctx.mesh, ctx.config.batch_size)
  return state, {"temperature": t}


def _sngp_action(state, ctx):
  model = models.from_config(ctx.config.model, num_classes=ctx.train_ds.num_classes)
  state = sngp.fit_covariance(ctx.apply_fn, state, ctx.train_ds, mesh=ctx.mesh,
                              batch_size=ctx.config.batch_size, ridge=model.ridge)
  return state, {"covariance_fitted": 1.0}


def post_training_actions(config, state) -> list:
  """[(name, action)] run once after the last step; `action(state, ctx: HookContext) ->
  (state, metrics)`, its metrics logged as "<name>/<metric>". SNGP's Laplace covariance (one
  pass over the training data) comes before the temperature, which is fitted on its logits."""
  actions = []
  if sngp.has_covariance(state.model_state):
    actions.append(("sngp", _sngp_action))
  if config.calibrate_temperature:
    actions.append(("calibration", _temperature_action))
  return actions


def evaluate_workdir(workdir: str, evals=None) -> dict:
  """Restores the latest checkpoint of `workdir`, runs its config's evals, logs and returns them.

  `evals` (a config.evals-like mapping, e.g. another config's) replaces the saved config's evals.

  Raises:
    FileNotFoundError: not a workdir. checkpoint.CheckpointError: no usable checkpoint.
    workdir.WorkdirError: another run holds the workdir.
  """
  config, model, state, mesh = resume.restore_workdir(workdir)
  if evals is not None:
    with config.unlocked():
      config.evals = evals
  with workdir_lib.lock(workdir):
    writer = writers.MetricWriter(workdir)
    results = run_evals(config, build_lib.make_predict_fn(config, model, mesh), state, mesh,
                        writer, resume.step_of(state), workdir,
                        build_lib.make_member_logits_fn(config, model, mesh), model.apply)
    writer.close()
  return results

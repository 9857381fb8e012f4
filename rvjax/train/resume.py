"""Where a run's state comes from: the resume ladder, and restoring a finished workdir.

Resume ladder (big_vision): the workdir's latest checkpoint, else `config.resume` (another run's
workdir: full state), else `config.model_init` (another run's workdir: params only), else
scratch from the "init" key. Restored states are verified against their checksums
(rvjax.train.checkpoint); the settings were matched before (workdir.check_settings).
"""
import os

import jax
import numpy as np

from rvjax.train import build as build_lib, checkpoint, workdir as workdir_lib


def step_of(state) -> int:
  """Updates applied so far (every member of an ensemble has the same count)."""
  return int(np.max(jax.device_get(state.step)))


def initial_state(config, model, tx, input_shape, mesh, ckpt: checkpoint.Checkpointer):
  """Restores or creates the TrainState following the resume ladder: (state, source, meta)."""
  abstract = build_lib.abstract_state(config, model, tx, input_shape, mesh)
  if ckpt.latest_step() is not None:
    state, meta = ckpt.restore(abstract)
    return state, f"resumed {ckpt.directory}", meta
  if config.resume:
    other = checkpoint.Checkpointer(os.path.join(config.resume, workdir_lib.CHECKPOINTS))
    state, meta = other.restore(abstract)
    other.close()
    return state, f"resumed from config.resume={config.resume}", meta
  state = build_lib.create_state(config, model, tx, input_shape, mesh)
  if config.model_init:
    params = checkpoint.restore_params(os.path.join(config.model_init, workdir_lib.CHECKPOINTS),
                                       abstract.params)
    return state.replace(params=params), f"params from config.model_init={config.model_init}", {}
  return state, "scratch", {}


def restore_workdir(workdir: str):
  """The latest checkpoint of a run: (config, model, state, mesh), ready for `make_predict_fn`.

  Raises:
    FileNotFoundError: not a workdir. checkpoint.CheckpointError: no usable checkpoint, one
      whose settings differ from the workdir's config.json, or a corrupt one.
  """
  config = workdir_lib.load_config(workdir)
  mesh = build_lib.make_mesh(config)
  train_ds = build_lib.load_split(config, "train")
  model, _, tx, _, _ = build_lib.build(config, train_ds)
  shape = build_lib.input_shape(config, train_ds)
  step, where = workdir_lib.latest_checkpoint(workdir)
  if step is None:
    raise checkpoint.CheckpointError(f"No checkpoint in {where}: train first with "
                                     "python -m launch.train.")
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, workdir_lib.CHECKPOINTS))
  try:
    diff = workdir_lib.differences(ckpt.read_meta(step).get("fingerprint") or {},
                                   workdir_lib.fingerprint(config, shape, train_ds.num_classes))
    if diff:
      raise checkpoint.CheckpointError(f"Checkpoint {where} does not match "
                                       f"{workdir_lib.CONFIG_FILE}: {'; '.join(diff)}.")
    state, _ = ckpt.restore(build_lib.abstract_state(config, model, tx, shape, mesh), step)
  finally:
    ckpt.close()
  return config, model, state, mesh

"""Checkpoints with orbax: the TrainState plus a JSON record of what it belongs to.

A checkpoint under `workdir/checkpoints/<step>/` holds `state` (the TrainState pytree) and `meta`
(JSON: the step, the data position and a fingerprint of the model, data shape and objective). A
resumed run checks the fingerprint, then restores into the abstract state of the current config;
any mismatch, missing file or unreadable array raises `CheckpointError`: a bad checkpoint is
refused, never silently replaced by a fresh start.
"""
import os
from typing import Any

import jax
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
  """A checkpoint that exists but cannot be used for this run."""


def _manager(directory: str, *, keep: int = 3) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=False,
                                         create=True)
  return ocp.CheckpointManager(os.path.abspath(directory), options=options)


class Checkpointer:
  """Saves and restores TrainStates under `directory`, keeping the last `keep`."""

  def __init__(self, directory: str, *, keep: int = 3):
    if keep < 1:
      raise ValueError(f"checkpoint keep must be >= 1, got {keep}.")
    self.directory = directory
    self._manager = _manager(directory, keep=keep)

  def latest_step(self) -> int | None:
    """The newest committed step, or None when there is no checkpoint."""
    return self._manager.latest_step()

  def save(self, step: int, state: Any, meta: dict) -> None:
    """Writes `state` and the JSON-serializable `meta` as step `step` (blocking, atomic)."""
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave({**meta, "step": step})),
        force=True)
    self._manager.wait_until_finished()

  def restore(self, abstract_state: Any, fingerprint: dict, step: int | None = None):
    """Restores (state, meta) of `step` (default latest) into `abstract_state`'s structure.

    Raises:
      CheckpointError: no checkpoint, a different fingerprint, other shapes or structure, or
        unreadable files.
    """
    step = self.latest_step() if step is None else step
    where = os.path.join(self.directory, str(step))
    if step is None:
      raise CheckpointError(f"No checkpoint in {self.directory}.")
    try:
      meta = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
    except Exception as e:
      raise CheckpointError(f"Checkpoint {where} is corrupt or truncated: its metadata cannot be "
                            f"read ({type(e).__name__}: {e}). Refusing to start from scratch; "
                            "move it away to start over.") from e
    stored = (meta or {}).get("fingerprint")
    if stored != fingerprint:
      diff = {k: (stored.get(k) if stored else None, v) for k, v in fingerprint.items()
              if not stored or stored.get(k) != v}
      raise CheckpointError(f"Checkpoint {where} belongs to another run: (stored, now) = {diff}. "
                            "Use another --workdir or restore the matching config.")
    try:
      state = self._manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract_state))).state
    except Exception as e:
      raise CheckpointError(f"Checkpoint {where} cannot be restored into this model "
                            f"({type(e).__name__}: {str(e)[:400]}). It is incompatible, corrupt or "
                            "truncated; refusing to start from scratch.") from e
    _check_restored(state, abstract_state, where)
    return state, meta

  def close(self) -> None:
    self._manager.close()


def _check_restored(state, abstract_state, where: str) -> None:
  got = jax.tree.map(lambda x: (x.shape, str(x.dtype)), state)
  want = jax.tree.map(lambda x: (x.shape, str(x.dtype)), abstract_state)
  if jax.tree.structure(got) != jax.tree.structure(want) or got != want:
    raise CheckpointError(f"Checkpoint {where} has other shapes or dtypes than this model.")


def restore_params(directory: str, abstract_params: Any) -> Any:
  """Loads only the params of the latest checkpoint under `directory` (for config.model_init).

  The params must have the structure, shapes and dtypes of `abstract_params` (ShapeDtypeStructs
  with shardings); the optimizer state and step of that checkpoint are ignored.
  """
  manager = _manager(directory)
  step = manager.latest_step()
  if step is None:
    raise CheckpointError(f"model_init: no checkpoint in {directory}.")
  try:
    raw = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore())).state
  except Exception as e:
    raise CheckpointError(f"model_init: cannot read {directory}/{step} "
                          f"({type(e).__name__}: {str(e)[:400]}).") from e
  params = raw["params"]
  where = f"model_init {directory}/{step}"
  try:
    params = jax.tree.map(lambda a, x: jax.device_put(x, a.sharding), abstract_params, params)
  except ValueError as e:
    raise CheckpointError(f"{where}: the params have another structure than this model "
                          f"({str(e)[:300]}).") from e
  _check_restored(params, abstract_params, where)
  return params

"""Checkpoints with orbax: the TrainState plus a JSON record of what it belongs to.

A checkpoint under `workdir/checkpoints/<step>/` holds `state` (the TrainState pytree) and `meta`
(JSON: the step, the data position, the run's fingerprint and a SHA-256 checksum of every array
of the state). Orbax itself does not notice flipped bytes inside an array file, so `restore`
recomputes the checksums of what it read and refuses any mismatch: a missing file, an unreadable
or altered array, other shapes or structure all raise `CheckpointError`; a bad checkpoint is
refused, never silently replaced by a fresh start. Whether the checkpoint belongs to this run's
settings is checked by the caller on `read_meta` (see rvjax.train.workdir).

Reading never creates directories; `save` creates its directory.
"""
import hashlib
import os
import warnings
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils


class CheckpointError(RuntimeError):
  """A checkpoint that exists but cannot be used for this run."""


def _manager(directory: str, *, keep: int = 3) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=False,
                                         create=False)
  return ocp.CheckpointManager(os.path.abspath(directory), options=options)


def _path_name(path) -> str:
  """"params/Conv_0/kernel" for a pytree key path (the same for a TrainState and a plain dict)."""
  return "/".join(str(getattr(k, "name", getattr(k, "key", getattr(k, "idx", k)))) for k in path)


def checksums(tree: Any) -> dict[str, str]:
  """SHA-256 of the bytes of every array leaf, keyed by its path ("opt_state/0/mu/...")."""
  def digest(x):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      x = jax.random.key_data(x)
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      x = multihost_utils.process_allgather(x, tiled=True)
    host = np.ascontiguousarray(jax.device_get(x))
    return hashlib.sha256(str((host.shape, host.dtype)).encode() + host.tobytes()).hexdigest()
  return {_path_name(p): digest(x) for p, x in jax.tree_util.tree_leaves_with_path(tree)}


def verify_checksums(tree: Any, stored: dict[str, str] | None, where: str) -> None:
  """Raises CheckpointError when an array of `tree` differs from its checksum in `stored`;
  warns when `stored` is None (a checkpoint from before checksums)."""
  if stored is None:
    warnings.warn(f"Checkpoint {where} has no checksums (written before rvjax verified "
                  "checkpoints): it is used unverified.", RuntimeWarning, stacklevel=3)
    return
  got = checksums(tree)
  bad = sorted(k for k, v in got.items() if stored.get(k) != v)
  if bad:
    raise CheckpointError(f"Checkpoint {where} is corrupt: {len(bad)} of {len(got)} arrays differ "
                          f"from their saved checksums ({', '.join(bad[:3])}"
                          f"{', ...' if len(bad) > 3 else ''}). Refusing to use it; move it away "
                          "to resume from an older checkpoint or to start over.")


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
    """Writes `state` and the JSON-serializable `meta` (plus the state's checksums) as step
    `step` (blocking, atomic)."""
    os.makedirs(self.directory, exist_ok=True)
    meta = {**meta, "step": step, "checksums": checksums(state)}
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)
    self._manager.wait_until_finished()

  def read_meta(self, step: int | None = None) -> dict:
    """The JSON record of `step` (default latest), without reading the state.

    Raises:
      CheckpointError: no checkpoint, or its record cannot be read.
    """
    step = self.latest_step() if step is None else step
    if step is None:
      raise CheckpointError(f"No checkpoint in {self.directory}.")
    try:
      meta = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
    except Exception as e:
      raise CheckpointError(f"Checkpoint {os.path.join(self.directory, str(step))} is corrupt or "
                            f"truncated: its metadata cannot be read ({type(e).__name__}: {e}). "
                            "Refusing to start from scratch; move it away to start over.") from e
    return meta or {}

  def restore(self, abstract_state: Any, step: int | None = None):
    """Restores and verifies (state, meta) of `step` (default latest) into `abstract_state`.

    Raises:
      CheckpointError: no checkpoint, other shapes or structure, unreadable files, or arrays
        that differ from their saved checksums.
    """
    step = self.latest_step() if step is None else step
    meta = self.read_meta(step)
    where = os.path.join(self.directory, str(step))
    try:
      state = self._manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract_state))).state
    except Exception as e:
      raise CheckpointError(f"Checkpoint {where} cannot be restored into this model "
                            f"({type(e).__name__}: {str(e)[:400]}). It is incompatible, corrupt or "
                            "truncated; refusing to start from scratch.") from e
    _check_restored(state, abstract_state, where)
    verify_checksums(state, meta.get("checksums"), where)
    return state, meta

  def close(self) -> None:
    self._manager.close()


def _check_restored(state, abstract_state, where: str) -> None:
  got = jax.tree.map(lambda x: (x.shape, str(x.dtype)), state)
  want = jax.tree.map(lambda x: (x.shape, str(x.dtype)), abstract_state)
  if jax.tree.structure(got) != jax.tree.structure(want) or got != want:
    raise CheckpointError(f"Checkpoint {where} has other shapes or dtypes than this model.")


def restore_params(directory: str, abstract_params: Any) -> Any:
  """Loads only the verified params of the latest checkpoint under `directory` (model_init).

  The params must have the structure, shapes and dtypes of `abstract_params` (ShapeDtypeStructs
  with shardings); the optimizer state and step of that checkpoint are ignored.
  """
  ckpt = Checkpointer(directory)
  step = ckpt.latest_step()
  if step is None:
    raise CheckpointError(f"model_init: no checkpoint in {directory}.")
  meta = ckpt.read_meta(step)
  where = f"model_init {directory}/{step}"
  try:
    raw = ckpt._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore())).state
  except Exception as e:
    raise CheckpointError(f"{where}: cannot read it ({type(e).__name__}: {str(e)[:400]}).") from e
  ckpt.close()
  stored = meta.get("checksums")
  verify_checksums({"params": raw["params"]}, stored and {k: v for k, v in stored.items()
                                                          if k.startswith("params/")}, where)
  try:
    params = jax.tree.map(lambda a, x: jax.device_put(x, a.sharding), abstract_params,
                          raw["params"])
  except ValueError as e:
    raise CheckpointError(f"{where}: the params have another structure than this model "
                          f"({str(e)[:300]}).") from e
  _check_restored(params, abstract_params, where)
  return params

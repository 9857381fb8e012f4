"""Frozen source models for synthetic-to-real training: the file format, checks and features.

A source model stands in for an ImageNet-pretrained network (ASG/CSG): a registered model trained
on an auxiliary task (e.g. rotation prediction on photo patches), stored as one msgpack file
holding its variables and a JSON header {model, model_kwargs, num_classes, task}. Its backbone
(every parameter outside the "head" dense layer) must match the new model's, whose own head may
have another number of classes.
"""
import json
import os

import flax
import flax.linen as nn
import jax
import numpy as np

from rvjax import models

HEAD = "head"  # The name of the final dense layer of every classifier (models.layers).
FEATURE_MAP = "feature_map"  # What a model sows into "intermediates" before its global pool.


@flax.struct.dataclass
class Source:
  """A loaded source model: `variables` {"params", ...} and the unbound `model` (static)."""
  variables: dict
  model: nn.Module = flax.struct.field(pytree_node=False)
  task: str = flax.struct.field(pytree_node=False, default="")


def save(path: str, model_name: str, variables: dict, *, num_classes: int,
         model_kwargs: dict | None = None, task: str = "") -> None:
  """Writes a source model file atomically; refuses to overwrite an existing `path`."""
  if os.path.exists(path):
    raise FileExistsError(f"Source model {path!r} exists; remove it or choose another path.")
  header = json.dumps({"model": model_name, "model_kwargs": dict(model_kwargs or {}),
                       "num_classes": int(num_classes), "task": task}, sort_keys=True)
  blob = flax.serialization.msgpack_serialize(
      {"header": header, "variables": jax.tree.map(np.asarray, variables)})
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "wb") as f:
    f.write(blob)
  os.replace(tmp, path)


def load(path: str) -> Source:
  """Reads a file written by `save`; a missing or unreadable file raises a clear error."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"Source model {path!r} does not exist; create it with "
                            "rvjax.train.syn2real.pretrain_source.")
  try:
    with open(path, "rb") as f:
      raw = flax.serialization.msgpack_restore(f.read())
    header = json.loads(raw["header"])
  except Exception as e:
    raise ValueError(f"{path!r} is not an rvjax source model ({type(e).__name__}: {e}).") from e
  model = models.create(header["model"], num_classes=header["num_classes"],
                        **header["model_kwargs"])
  return Source(variables=raw["variables"], model=model, task=header.get("task", ""))


def backbone(params: dict) -> dict:
  """`params` without the head."""
  return {k: v for k, v in params.items() if k != HEAD}


def check_matches(source: Source, params: dict, *, where: str = "source model") -> None:
  """Raises ValueError unless the backbone of `params` has the source's structure and shapes."""
  shape = lambda t: jax.tree.map(lambda x: tuple(np.shape(x)), t)
  mine, theirs = shape(backbone(params)), shape(backbone(source.variables["params"]))
  if mine != theirs:
    flat = lambda t: {jax.tree_util.keystr(p): v for p, v in
                      jax.tree_util.tree_flatten_with_path(t, is_leaf=lambda x: isinstance(
                          x, tuple))[0]}
    a, b = flat(mine), flat(theirs)
    diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))[:3]
    detail = "; ".join(f"{k}: model {a.get(k)} vs source {b.get(k)}" for k in diff)
    raise ValueError(f"The {where} ({source.model.__class__.__name__}) does not match the "
                     f"model's backbone: {detail}.")


def warm_start(source: Source, params: dict, model_state: dict) -> tuple[dict, dict]:
  """The model's (params, model_state) with the source's backbone and batch statistics; the
  model's own head is kept."""
  check_matches(source, params)
  src = source.variables
  params = {**params, **backbone(src["params"])}
  model_state = {k: jax.tree.map(np.asarray, src[k]) if k in src else v
                 for k, v in model_state.items()}
  return params, model_state


def features_and_logits(apply_fn, variables: dict, images, **kwargs):
  """(features (N, D) entering the head, logits (N, K)) of a classifier; `kwargs` go to
  `apply_fn` (e.g. train=False). With `mutable=...` the third output is the updated state."""
  captured = {}

  def grab(next_fun, args, kw, context):
    if context.module.name == HEAD and context.method_name == "__call__":
      captured["features"] = args[0]
    return next_fun(*args, **kw)

  with nn.intercept_methods(grab):
    out = apply_fn(variables, images, **kwargs)
  if isinstance(out, tuple):
    return (captured["features"],) + out
  return captured["features"], out


def feature_map_and_logits(apply_fn, variables: dict, images, *, mutable=(), **kwargs):
  """(feature map (N, h, w, C) entering the global pool, logits (N, K), updated collections
  named in `mutable` (a dict, {} for none)) of a classifier that sows its map (models.cnn).

  Raises:
    ValueError: the model does not sow "intermediates"/FEATURE_MAP.
  """
  logits, new = apply_fn(variables, images, mutable=list(mutable) + ["intermediates"], **kwargs)
  new = dict(new)
  sown = new.pop("intermediates", {})
  if FEATURE_MAP not in sown:
    raise ValueError(f"The model does not sow its feature map (intermediates/{FEATURE_MAP!r}); "
                     "attentional pooling needs a model that does, e.g. 'cnn'.")
  return sown[FEATURE_MAP][-1], logits, new


def head_logits(variables: dict, features):
  """The classifier head of `variables` applied to (N, D) features: (N, K) float32 logits."""
  head = variables["params"][HEAD]
  return features.astype(np.float32) @ head["kernel"] + head["bias"]

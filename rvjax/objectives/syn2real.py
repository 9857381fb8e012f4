"""Synthetic-to-real objectives guided by a frozen source model: ASG proxy guidance and CSG.

`make_guided` (config name "syn2real"): cross-entropy on the synthetic labels plus
`lam` times a guidance term tying the new model to the frozen source model of `source`:
  * "kl": ASG proxy guidance (Chen et al. ICML 2020), KL(p_old || p_new), where p_old is the
    source's prediction on its own task and p_new applies the source's frozen head to the new
    model's features (batchmean over the batch, in nats);
  * "feature_l2": feature distillation, the squared distance of the head's input features,
    averaged over feature dimensions and examples;
  * "weight_l2": L2-SP, the squared distance of the backbone weights to the source's;
  * "none": plain cross-entropy (with `freeze_bn`, e.g. the linear probe on frozen features).
With `freeze_bn` (ASG's setting) the model runs its batch norm on the running statistics and
never updates them.

`make_csg` (config name "csg"): CSG (Chen et al. ICLR 2021) cross-entropy plus `lam` times
InfoNCE between the new model's L2-normalized features on one augmented view and the source's on
another view, with negatives from a FIFO queue of past source features kept in
model_state["csg_queue"] (`init_queue`), temperature 0.07.
"""
import jax
import jax.numpy as jnp
import optax

from rvjax import augment, validate
from rvjax.objectives import forward
from rvjax.objectives import source as source_lib

GUIDANCE = ("kl", "feature_l2", "weight_l2", "none")
QUEUE = "csg_queue"


def _load(source):
  return source if isinstance(source, source_lib.Source) else source_lib.load(source)


def model_variables(params, model_state) -> dict:
  """The flax variables of the model: params and model_state without the CSG queue."""
  return {"params": params, **{k: v for k, v in model_state.items() if k != QUEUE}}


def _forward(apply_fn, params, model_state, images, key, freeze_bn):
  """(features, logits, new model_state) in train mode, or with frozen batch norm."""
  variables = model_variables(params, model_state)
  if freeze_bn:
    feats, logits = source_lib.features_and_logits(apply_fn, variables, images, train=False)
    return feats, logits, model_state
  mutable = [k for k in model_state if k != QUEUE]
  feats, logits, new = source_lib.features_and_logits(
      apply_fn, variables, images, train=True, mutable=mutable, rngs={"dropout": key})
  return feats, logits, {**model_state, **new}


def _source_features(src, images):
  return source_lib.features_and_logits(src.model.apply, src.variables, images, train=False)


def _ce(logits, batch):
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
  return forward.masked_mean(loss, batch["mask"])


def make_guided(apply_fn, *, source: str = "", guidance: str = "kl", lam: float = 1.0,
                freeze_bn: bool = True):
  """The guided objective `(params, model_state, batch, key) -> (loss, (model_state, metrics))`.

  Args:
    apply_fn: the new model's apply (a registered classifier whose backbone matches the source).
    source: path of a source-model file (rvjax.objectives.source.save) or a loaded Source; may be
      "" only for guidance "none".
    guidance: one of GUIDANCE.
    lam: weight >= 0 of the guidance term.
    freeze_bn: run batch norm on its running statistics (no updates).

  Raises:
    ValueError: unknown guidance, negative lam, a missing source, or (at the first trace) a
      source whose backbone does not match the model.
  """
  validate.check_choice(guidance, "guidance", GUIDANCE)
  validate.check_positive(lam, "lam", allow_zero=True)
  if guidance != "none" and not source:
    raise ValueError(f"guidance={guidance!r} needs a source model file (objective.kwargs.source).")
  src = _load(source) if source else None

  def objective(params, model_state, batch, key):
    if src is not None:
      source_lib.check_matches(src, params)
    feats, logits, model_state = _forward(apply_fn, params, model_state, batch["image"], key,
                                          freeze_bn)
    ce = _ce(logits, batch)
    metrics = {"ce": ce, "accuracy": forward.accuracy(logits, batch["label"], batch["mask"])}
    if guidance == "kl":
      old_feats, _ = _source_features(src, batch["image"])
      log_p_old = jax.nn.log_softmax(source_lib.head_logits(src.variables, old_feats))
      log_p_new = jax.nn.log_softmax(source_lib.head_logits(src.variables, feats))
      kl = jnp.sum(jnp.exp(log_p_old) * (log_p_old - log_p_new), -1)
      term = forward.masked_mean(kl, batch["mask"])
    elif guidance == "feature_l2":
      old_feats, _ = _source_features(src, batch["image"])
      term = forward.masked_mean(jnp.mean((feats - old_feats) ** 2, -1), batch["mask"])
    elif guidance == "weight_l2":
      term = optax.tree.norm(jax.tree.map(
          jnp.subtract, source_lib.backbone(params),
          source_lib.backbone(src.variables["params"])), squared=True)
    else:
      term = jnp.zeros(())
    metrics[guidance] = term
    return ce + lam * term, (model_state, metrics)

  return objective


def info_nce(query, positive, negatives, mask, *, temperature: float = 0.07):
  """InfoNCE of L2-normalized query (N, D) against its positive (N, D) and shared negatives
  (Q, D): mean over mask-1 rows of -log softmax([q.k+, q.n_1, ..., q.n_Q] / T)[0]."""
  logits = jnp.concatenate([jnp.sum(query * positive, -1, keepdims=True),
                            query @ negatives.T], -1) / temperature
  return forward.masked_mean(-jax.nn.log_softmax(logits)[:, 0], mask)


def normalize(x):
  """Rows of (N, D) scaled to unit L2 norm."""
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def init_queue(key, size: int, dim: int):
  """A queue of `size` random unit vectors (dim,), for model_state[QUEUE]."""
  validate.check_positive(size, "queue size")
  return normalize(jax.random.normal(key, (size, dim)))


def make_csg(apply_fn, *, source: str, lam: float = 0.1, temperature: float = 0.07,
             freeze_bn: bool = True, shift: int = 1):
  """CSG objective; model_state must hold QUEUE (Q, D) from `init_queue`, D the feature size.

  Two views are random crops of the batch padded by `shift` pixels; the queue is updated with
  the source's (positive) features of the batch, oldest out first.
  """
  validate.check_positive(lam, "lam", allow_zero=True)
  validate.check_positive(temperature, "temperature")
  src = _load(source)

  def objective(params, model_state, batch, key):
    source_lib.check_matches(src, params)
    if QUEUE not in model_state:
      raise ValueError(f"The CSG objective needs model_state[{QUEUE!r}] (see init_queue).")
    k_drop, k1, k2 = jax.random.split(key, 3)
    view1 = augment.random_crop(k1, batch["image"], padding=shift)
    view2 = augment.random_crop(k2, batch["image"], padding=shift)
    feats, logits, model_state = _forward(apply_fn, params, model_state, view1, k_drop,
                                          freeze_bn)
    old, _ = _source_features(src, view2)
    query, positive = normalize(feats), jax.lax.stop_gradient(normalize(old))
    queue = model_state[QUEUE]
    nce = info_nce(query, positive, queue, batch["mask"], temperature=temperature)
    ce = _ce(logits, batch)
    new_queue = jnp.concatenate([positive, queue])[:queue.shape[0]]
    metrics = {"ce": ce, "info_nce": nce,
               "accuracy": forward.accuracy(logits, batch["label"], batch["mask"])}
    return ce + lam * nce, ({**model_state, QUEUE: new_queue}, metrics)

  return objective

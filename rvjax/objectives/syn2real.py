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

`make_csg` (config name "csg"): CSG (Chen et al. ICLR 2021), cross-entropy plus `lam` times
InfoNCE (temperature 0.07) between a query and a key on two augmented views:
  query = normalize(projection(A-pool(new model's feature map of view 1)))
  key   = normalize(key projection(A-pool(frozen source's feature map of view 2)))
with negatives from a FIFO memory queue of past keys. The projection head (dense -> relu ->
dense, trained) lives in params[PROJECTION]; the key projection is its momentum (EMA) copy in
model_state[KEY_PROJECTION]; the queue is model_state[QUEUE] (all three from `init_csg`).
A-pool weights each location of a feature map by its dot product with the map's spatial mean
(`attention_weights`); `apool` says which map gives the weights: "model" (as the authors' code:
the new model's own map for the query, the new model's map of view 2, without gradient, for the
key), "source" (the source's maps of view 1 and view 2) or "none" (global average pooling).
"""
import jax
import jax.numpy as jnp
import optax

from rvjax import augment, validate
from rvjax.objectives import forward
from rvjax.objectives import source as source_lib

GUIDANCE = ("kl", "feature_l2", "weight_l2", "none")
APOOL = ("model", "source", "none")
PROJECTION = "projection"  # params: CSG's projection head.
QUEUE = "csg_queue"  # model_state: CSG's memory queue of keys.
KEY_PROJECTION = "csg_key_projection"  # model_state: the EMA copy of the projection head.
CSG_STATE = (QUEUE, KEY_PROJECTION)


def _load(source):
  return source if isinstance(source, source_lib.Source) else source_lib.load(source)


def model_variables(params, model_state) -> dict:
  """The flax variables of the model: params without the CSG projection head, model_state
  without the CSG queue and key projection."""
  return {"params": {k: v for k, v in params.items() if k != PROJECTION},
          **{k: v for k, v in model_state.items() if k not in CSG_STATE}}


def _forward(extract, apply_fn, params, model_state, images, key, freeze_bn):
  """(features or feature map, logits, new model_state) in train mode, or with frozen batch
  norm; `extract` is source_lib.features_and_logits or source_lib.feature_map_and_logits."""
  variables = model_variables(params, model_state)
  if freeze_bn:
    out = extract(apply_fn, variables, images, train=False)
    return out[0], out[1], model_state
  mutable = [k for k in model_state if k not in CSG_STATE]
  feats, logits, new = extract(apply_fn, variables, images, train=True, mutable=mutable,
                               rngs={"dropout": key})
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
    feats, logits, model_state = _forward(source_lib.features_and_logits, apply_fn, params,
                                          model_state, batch["image"], key, freeze_bn)
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


def attention_weights(feature_map):
  """A-pool weights (N, h, w), each image's summing to 1: a location's feature vector dotted
  with the map's spatial mean, clipped at 0 and normalized (uniform where all are 0).
  feature_map: (N, h, w, C)."""
  score = jax.nn.relu(jnp.einsum("nhwc,nc->nhw", feature_map, jnp.mean(feature_map, (1, 2))))
  total = jnp.sum(score, (1, 2), keepdims=True)
  uniform = jnp.full_like(score, 1.0 / (score.shape[1] * score.shape[2]))
  return jnp.where(total > 0, score / jnp.where(total > 0, total, 1.0), uniform)


def attentional_pool(feature_map, weights):
  """(N, h, w, C) map pooled with (N, h, w) weights: (N, C)."""
  return jnp.einsum("nhwc,nhw->nc", feature_map, weights)


def init_csg(key, feature_dim: int, *, dim: int = 128, queue_size: int = 512):
  """(projection params for params[PROJECTION], {QUEUE: (queue_size, dim) random unit rows,
  KEY_PROJECTION: a copy of the projection}) for model_state). The projection maps
  (N, feature_dim) -> dense(feature_dim) -> relu -> dense(dim); LeCun-normal kernels, zero
  biases."""
  validate.check_positive(queue_size, "queue size")
  validate.check_positive(dim, "projection dim")
  k_hidden, k_out, k_queue = jax.random.split(key, 3)
  init = jax.nn.initializers.lecun_normal()
  projection = {"hidden": {"kernel": init(k_hidden, (feature_dim, feature_dim)),
                           "bias": jnp.zeros(feature_dim)},
                "out": {"kernel": init(k_out, (feature_dim, dim)), "bias": jnp.zeros(dim)}}
  queue = normalize(jax.random.normal(k_queue, (queue_size, dim)))
  return projection, {QUEUE: queue, KEY_PROJECTION: jax.tree.map(jnp.array, projection)}


def project(projection, x):
  """The projection head (init_csg) on (N, feature_dim) features: (N, dim)."""
  h = jax.nn.relu(x @ projection["hidden"]["kernel"] + projection["hidden"]["bias"])
  return h @ projection["out"]["kernel"] + projection["out"]["bias"]


def make_csg(apply_fn, *, source: str, lam: float = 0.1, temperature: float = 0.07,
             freeze_bn: bool = True, shift: int = 1, apool: str = "model",
             momentum: float = 0.999):
  """The CSG objective `(params, model_state, batch, key) -> (loss, (model_state, metrics))`.

  params must hold PROJECTION and model_state QUEUE and KEY_PROJECTION (`init_csg`); the model
  must sow its feature map (source_lib.feature_map_and_logits). The two views are random crops
  of the batch padded by `shift` pixels. Each step the key projection moves to
  momentum * key + (1 - momentum) * projection, then the batch's keys enter the front of the
  queue and as many of the oldest leave its end.

  Raises:
    ValueError: unknown apool, lam < 0, temperature <= 0, momentum outside [0, 1), or (at the
      first trace) missing CSG state or a source that does not match the model.
  """
  validate.check_positive(lam, "lam", allow_zero=True)
  validate.check_positive(temperature, "temperature")
  validate.check_choice(apool, "apool", APOOL)
  if not 0.0 <= momentum < 1.0:
    raise ValueError(f"CSG momentum must be in [0, 1), got {momentum}.")
  src = _load(source)
  source_map = lambda images: source_lib.feature_map_and_logits(
      src.model.apply, src.variables, images, train=False)[0]

  def objective(params, model_state, batch, key):
    missing = [k for k in CSG_STATE if k not in model_state]
    if PROJECTION not in params:
      missing.append(PROJECTION)
    if missing:
      raise ValueError(f"The CSG objective needs {missing} in params/model_state (init_csg).")
    source_lib.check_matches(src, model_variables(params, {})["params"])
    k_drop, k1, k2 = jax.random.split(key, 3)
    view1 = augment.random_crop(k1, batch["image"], padding=shift)
    view2 = augment.random_crop(k2, batch["image"], padding=shift)
    fmap, logits, model_state = _forward(source_lib.feature_map_and_logits, apply_fn, params,
                                         model_state, view1, k_drop, freeze_bn)
    old_map = source_map(view2)
    if apool == "model":
      w_query = attention_weights(fmap)
      own_map = source_lib.feature_map_and_logits(
          apply_fn, model_variables(params, model_state), view2, train=False)[0]
      w_key = attention_weights(jax.lax.stop_gradient(own_map))
    elif apool == "source":
      w_query, w_key = attention_weights(source_map(view1)), attention_weights(old_map)
    else:
      w_query = w_key = jnp.full(fmap.shape[:3], 1.0 / (fmap.shape[1] * fmap.shape[2]))
    key_projection = jax.tree.map(lambda k, q: momentum * k + (1.0 - momentum) * q,
                                  model_state[KEY_PROJECTION],
                                  jax.lax.stop_gradient(params[PROJECTION]))
    query = normalize(project(params[PROJECTION], attentional_pool(fmap, w_query)))
    positive = jax.lax.stop_gradient(normalize(project(
        key_projection, attentional_pool(old_map, w_key))))
    queue = model_state[QUEUE]
    nce = info_nce(query, positive, queue, batch["mask"], temperature=temperature)
    ce = _ce(logits, batch)
    new_queue = jnp.concatenate([positive, queue])[:queue.shape[0]]
    metrics = {"ce": ce, "info_nce": nce,
               "accuracy": forward.accuracy(logits, batch["label"], batch["mask"])}
    return ce + lam * nce, ({**model_state, QUEUE: new_queue, KEY_PROJECTION: key_projection},
                            metrics)

  return objective

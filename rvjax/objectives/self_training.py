"""Self-training for domain adaptation: pseudo-labels (CBST), confidence regularization (CRST)
and density-ratio weights (DRST), and the weighted objective that trains on them.

* CBST (Zou et al. ECCV 2018): class-balanced pseudo-labels. For class k, the threshold
  lambda_k is the confidence p_k of the example ranked ceil(portion * n_k) among the n_k unlabeled
  examples predicted as k (sorted by p_k, highest first); an example gets the pseudo-label
  argmax_k p_k / lambda_k when that ratio is >= 1, and is left out otherwise. `portion` grows
  round by round.
* CRST (Zou et al. ICCV 2019): CBST plus the model regularizer MRKLD, for each pseudo-labelled
  example -(1/K) sum_k log p_k (the KL from the uniform distribution to p up to a constant),
  which keeps the model from growing over-confident on its own labels.
* DRST (Wang et al. 2021, distributionally robust self-training): a domain classifier between
  source (synthetic) and target (real) features gives the density ratio
  r(x) = p_s(x) / p_t(x) = (P(s|x) / P(t|x)) * (n_t / n_s); pseudo-labels are weighted by r
  normalized to mean 1 over the selected examples and clipped at `max_weight`, so target
  examples far from the source, where the model is least reliable, count less.

The objective reads batch {"image", "label", "mask", "weight" (B,) >= 0, "pseudo" (B,) in {0, 1}}:
    loss = sum_i mask_i * weight_i * (CE_i + mrkld * pseudo_i * R_i) / sum_i mask_i.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvjax import validate

METHODS = ("cbst", "crst", "drst")


def class_balanced_thresholds(probs, portion: float) -> np.ndarray:
  """CBST thresholds lambda (K,) of probs (N, K) for the fraction `portion` in (0, 1] of each
  predicted class; a class nobody is predicted as gets threshold 1."""
  if not 0.0 < portion <= 1.0:
    raise ValueError(f"The pseudo-label portion must be in (0, 1]; got {portion}.")
  probs = np.asarray(probs, np.float64)
  pred = probs.argmax(-1)
  thresholds = np.ones(probs.shape[1])
  for k in range(probs.shape[1]):
    conf = np.sort(probs[pred == k, k])[::-1]
    if len(conf):
      thresholds[k] = conf[int(np.ceil(portion * len(conf))) - 1]
  return thresholds


def pseudo_labels(probs, thresholds) -> tuple[np.ndarray, np.ndarray]:
  """(labels (N,) int32, selected (N,) bool): argmax_k p_k / lambda_k and whether it is >= 1."""
  ratio = np.asarray(probs, np.float64) / np.asarray(thresholds)[None]
  return ratio.argmax(-1).astype(np.int32), ratio.max(-1) >= 1.0 - 1e-12


def mrkld(logits):
  """MRKLD per example (N,): -(1/K) sum_k log softmax(logits)_k, >= log K."""
  return -jnp.mean(jax.nn.log_softmax(logits), -1)


def density_ratio_weights(p_source, num_source: int, num_target: int, *,
                          max_weight: float = 5.0) -> np.ndarray:
  """DRST weights (N,) of target examples from a domain classifier's P(source | x) (N,) in
  (0, 1): r = P(s|x) / P(t|x) * num_target / num_source, normalized to mean 1, clipped."""
  p = np.clip(np.asarray(p_source, np.float64), 1e-6, 1 - 1e-6)
  r = p / (1.0 - p) * (num_target / num_source)
  return np.minimum(r / r.mean(), max_weight).astype(np.float32)


def make(apply_fn, *, mrkld_weight: float = 0.0, freeze_bn: bool = False):
  """The weighted self-training objective (see the module docstring); with `freeze_bn` batch
  norm runs on its running statistics (the ASG model's setting)."""
  validate.check_positive(mrkld_weight, "mrkld_weight", allow_zero=True)

  def objective(params, model_state, batch, key):
    variables = {"params": params, **model_state}
    if freeze_bn or not model_state:
      logits = apply_fn(variables, batch["image"], train=False)
    else:
      logits, new = apply_fn(variables, batch["image"], train=True, mutable=list(model_state),
                             rngs={"dropout": key})
      model_state = {**model_state, **new}
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
    per_example = ce + mrkld_weight * batch["pseudo"] * mrkld(logits)
    w = batch["mask"] * batch["weight"]
    loss = jnp.sum(w * per_example) / jnp.maximum(jnp.sum(batch["mask"]), 1.0)
    pseudo = batch["mask"] * batch["pseudo"]
    metrics = {"ce": jnp.sum(w * ce) / jnp.maximum(jnp.sum(w), 1e-6),
               "pseudo_fraction": jnp.sum(pseudo) / jnp.maximum(jnp.sum(batch["mask"]), 1.0)}
    return loss, (model_state, metrics)

  return objective

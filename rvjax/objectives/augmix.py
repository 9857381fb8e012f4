"""AugMix training (Hendrycks et al., ICLR 2020): clean CE plus Jensen-Shannon consistency.

  L = CE(f(x), y) + lambda * JS(p(x), p(x_aug1), p(x_aug2)),   lambda = 12 (the paper's),

x_aug1, x_aug2 = two independent `rvjax.augment.augmix` views of the batch, drawn by one augmix
call on [x; x] (every image gets its own key, so the views are independent; one call halves the
compiled program); JS = `rvjax.augment.jsd_consistency` (mean KL to the clipped mixture),
averaged over the batch mask. With `no_jsd=True` the model trains with CE on ONE AugMix view
and never sees the clean image, as the reference code's --no-jsd mode.

Batch norm: as the reference code (augmix/cifar.py), ONE train-mode forward pass on the
concatenated 3B batch [x; x_aug1; x_aug2], so the batch statistics mix clean and augmented
images and the running averages are updated once per step. Gradients flow through all three
predictions (the reference does not stop any of them).

The reference applies random crop + flip to every image before AugMix; here the batch arrives
as the data iterator gives it (no crop / flip). `severity`, `width`, `depth` and `alpha` are
passed to `augmix` (paper: 3, 3, 1..3, 1).
"""
import jax
import jax.numpy as jnp
import optax

from rvjax import augment, validate
from rvjax.objectives import forward

JSD_WEIGHT = 12.0  # the paper's lambda


def make(apply_fn, *, jsd_weight: float = JSD_WEIGHT, no_jsd: bool = False,
         severity: float = 3.0, width: int = 3, depth=(1, 3), alpha: float = 1.0):
  """AugMix objective `(params, model_state, batch, key) -> (loss, (model_state, metrics))`.

  Args:
    apply_fn: the flax module's `apply`.
    jsd_weight: lambda >= 0 of the consistency term (0: clean CE on the 3B forward pass).
    no_jsd: train with CE on one AugMix view only (no clean image, no consistency term).
    severity, width, depth, alpha: AugMix's op magnitude bound in (0.1, 10], chains >= 1,
      ops per chain (int or inclusive (min, max)), Dirichlet / Beta concentration > 0.

  Metrics: clean_loss (CE in nats), accuracy (clean, or of the view with no_jsd), and jsd
  (the consistency term before weighting, nats) unless no_jsd.
  """
  validate.check_positive(jsd_weight, "jsd_weight", allow_zero=True)
  depth = tuple(depth) if isinstance(depth, (list, tuple)) else int(depth)
  mix = lambda key, x: augment.augmix(key, x, width=width, depth=depth, severity=severity,
                                      alpha=alpha)
  jax.eval_shape(mix, jax.random.key(0), jnp.zeros((1, 8, 8, 1)))  # Checks the arguments now.

  def ce(logits, labels, mask):
    return forward.masked_mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels),
                               mask)

  def objective(params, model_state, batch, key):
    k_aug, k_fwd = jax.random.split(key)
    x, y, mask = batch["image"], batch["label"], batch["mask"]
    if no_jsd:
      logits, model_state = forward.train_forward(apply_fn, params, model_state, mix(k_aug, x),
                                                  k_fwd)
      loss = ce(logits, y, mask)
      return loss, (model_state, {"clean_loss": loss,
                                  "accuracy": forward.accuracy(logits, y, mask)})
    views = jnp.concatenate([x, mix(k_aug, jnp.concatenate([x, x]))])  # [x; aug1(x); aug2(x)]
    logits_all, model_state = forward.train_forward(apply_fn, params, model_state, views, k_fwd)
    logits, logits_aug1, logits_aug2 = jnp.split(logits_all, 3)
    per_example = jax.vmap(lambda a, b, c: augment.jsd_consistency(a[None], b[None], c[None]))
    jsd = forward.masked_mean(per_example(logits, logits_aug1, logits_aug2), mask)
    clean_loss = ce(logits, y, mask)
    metrics = {"clean_loss": clean_loss, "jsd": jsd, "accuracy": forward.accuracy(logits, y, mask)}
    return clean_loss + jsd_weight * jsd, (model_state, metrics)

  return objective

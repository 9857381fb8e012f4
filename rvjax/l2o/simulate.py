"""Learning to simulate (Ruiz et al. ICLR 2019): learning the renderer's knobs psi.

psi is a vector u (D,) over the knobs in `LEARNED` (the rest stay at the "none" preset); knob d
gets the fraction f_d = sigmoid(u_d) of its span, e.g. rotation in (-45 f, 45 f) degrees
(`knob_ranges`). One evaluation of psi trains a small model from scratch for `steps` steps on
images rendered on device with those knobs (the core's train_for with a sampler reading
hyper["data"] = the knobs) and measures it on a held-out labelled validation split.

* REINFORCE: a Gaussian policy u ~ N(mu, sigma^2) (mu learned, sigma fixed); N inner trainings
  run as one vmapped program; reward = validation accuracy; moving-average baseline
  (rvjax.l2o.reinforce).
* Gradient: the renderer is differentiable in the knob ranges, so d(validation CE)/du flows
  through the unrolled inner training (truncated at `steps` steps); gradient descent on u.
"""
import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from rvjax import models, objectives
from rvjax.data import knobs as knobs_lib
from rvjax.data import synthetic
from rvjax.l2o import reinforce
from rvjax.report import records
from rvjax.train import inner, optim, state as state_lib

# knob -> (symmetric?, span): the range at fraction f is (-span f, span f) if symmetric, else
# (0, span f); "scale" is (1 - span f, 1 + span f).
LEARNED = {"rotation": (True, 45.0), "shear": (True, 0.5), "scale": (True, 0.5),
           "blur": (False, 2.0), "noise": (False, 0.3), "jitter": (False, 0.1)}


def knob_ranges(u) -> dict:
  """{knob: (lo, hi)} (traced arrays) of psi u (len(LEARNED),) (any real values)."""
  f = jax.nn.sigmoid(u)
  out = {}
  for i, (name, (symmetric, span)) in enumerate(LEARNED.items()):
    if name == "scale":
      out[name] = jnp.stack([1.0 - span * f[i], 1.0 + span * f[i]])
    elif symmetric:
      out[name] = jnp.stack([-span * f[i], span * f[i]])
    else:
      out[name] = jnp.stack([0.0, span * f[i]])
  return out


def knobs_of(u) -> knobs_lib.Knobs:
  """The renderer's Knobs for psi u: the "none" preset with the LEARNED ranges replaced."""
  return knobs_lib.make("none").replace(**knob_ranges(u))


def as_overrides(u) -> dict:
  """psi u as plain {knob: [lo, hi]} floats, for `data.load("syndigits", knobs=...)`."""
  return {k: [round(float(v[0]), 4), round(float(v[1]), 4)] for k, v in knob_ranges(u).items()}


def save_psi(path: str, u) -> dict:
  """Writes psi u as JSON {knob: [lo, hi]} atomically (refusing to overwrite); returns it.
  A config reads it with `configs/syn2real_digits.py:knobs=PATH`."""
  if os.path.exists(path):
    raise FileExistsError(f"psi file {path!r} exists; remove it or choose another path.")
  overrides = as_overrides(u)
  records.atomic_write(path, json.dumps(overrides, indent=1, sort_keys=True))
  return overrides


class InnerTraining:
  """Trains a small classifier from scratch on rendered digits and scores it on `val`."""

  def __init__(self, val_images, val_labels, *, steps: int = 30, batch_size: int = 32,
               lr: float = 0.05, widths=(8, 16, 16), size: int = 8):
    self.model = models.create("cnn", num_classes=10, widths=tuple(widths))
    # SGD, not Adam: Adam's early updates are ~lr * sign(gradient), piecewise constant in psi,
    # which would zero the unrolled gradient of the gradient-based variant.
    opt = ml_collections.ConfigDict(dict(name="sgd", lr=lr, momentum=0.9, nesterov=False,
                                         b1=0.9, b2=0.999, weight_decay=0.0, grad_clip_norm=0.0,
                                         groups=(("all", ".*"),)))
    self.tx = optim.make_optimizer(opt, ml_collections.ConfigDict({"name": "constant"}), steps)
    self.objective = objectives.create("erm", self.model.apply)
    self.init = state_lib.init_fn(self.model, self.tx, (batch_size, size, size, 1))
    self.val_x, self.val_y = jnp.asarray(val_images), jnp.asarray(val_labels)
    self.steps, self.batch_size, self.size = steps, batch_size, size

  def sampler(self, key, step, knobs):
    kl, kr = jax.random.split(key)
    labels = jax.random.randint(kl, (self.batch_size,), 0, 10)
    return {"image": synthetic.render(kr, labels, knobs, self.size), "label": labels,
            "mask": jnp.ones((self.batch_size,))}

  def train(self, u, key):
    """The model state after `steps` steps on renders of psi u (differentiable in u)."""
    state = self.init(jax.random.fold_in(key, 0))
    state, _ = inner.train_for(state, self.sampler, jax.random.fold_in(key, 1), self.steps,
                               {"data": knobs_of(u)}, objective=self.objective, tx=self.tx)
    return state

  def val_scores(self, u, key):
    """(validation accuracy in [0, 1], validation CE) of a model trained on psi u."""
    state = self.train(u, key)
    logits = self.model.apply({"params": state.params, **state.model_state}, self.val_x,
                              train=False)
    ce = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, self.val_y))
    return jnp.mean(jnp.argmax(logits, -1) == self.val_y), ce


def _fractions(u) -> str:
  return " ".join(f"{k} {f:.2f}" for k, f in zip(LEARNED, np.asarray(jax.nn.sigmoid(u))))


def gaussian_log_prob(u, mu, sigma):
  """log N(u; mu, sigma^2 I) summed over the last axis: u (..., D), mu (D,), sigma scalar."""
  return jnp.sum(-0.5 * ((u - mu) / sigma) ** 2 - jnp.log(sigma) - 0.5 * jnp.log(2 * jnp.pi), -1)


def reinforce_search(inner_run: InnerTraining, mu0, *, iterations: int, num: int = 8,
                     sigma: float = 0.5, lr: float = 0.3, baseline_decay: float = 0.8,
                     seed: int = 0, log=print):
  """REINFORCE over mu of N(mu, sigma^2); returns (mu, [(mean reward, mu)] per iteration)."""
  scores = jax.jit(jax.vmap(inner_run.val_scores))
  grad_fn = jax.jit(jax.grad(lambda mu, u, ret, b: reinforce.surrogate_loss(
      gaussian_log_prob(u, mu, sigma)[:, None], ret[:, None], b, jnp.zeros((u.shape[0], 1)),
      entropy_bonus=0.0)))
  mu, opt = jnp.asarray(mu0, jnp.float32), optax.adam(lr)
  opt_state, baseline, history = opt.init(mu), None, []
  for it in range(iterations):
    k_u, k_train = jax.random.split(jax.random.key(seed * 1000 + it))
    u = mu + sigma * jax.random.normal(k_u, (num, mu.shape[0]))
    acc, _ = scores(u, jax.random.split(k_train, num))
    baseline = acc.mean()[None] if baseline is None else reinforce.update_baseline(
        baseline, acc[:, None], decay=baseline_decay)
    updates, opt_state = opt.update(grad_fn(mu, u, acc, baseline), opt_state)
    mu = optax.apply_updates(mu, updates)
    history.append((float(acc.mean()), np.asarray(mu)))
    log(f"REINFORCE {it}: mean val acc {float(acc.mean()):.3f}, f = {_fractions(mu)}")
  return mu, history


def gradient_search(inner_run: InnerTraining, u0, *, iterations: int, num: int = 2,
                    lr: float = 0.3, seed: int = 0, log=print):
  """Gradient descent on the validation CE through the unrolled inner trainings (mean over
  `num` vmapped trainings); returns (u, [(mean val accuracy, u)] per iteration)."""
  def loss(u, keys):
    acc, ce = jax.vmap(inner_run.val_scores, (None, 0))(u, keys)
    return jnp.mean(ce), jnp.mean(acc)
  grad_fn = jax.jit(jax.value_and_grad(loss, has_aux=True))
  u, opt = jnp.asarray(u0, jnp.float32), optax.adam(lr)
  opt_state, history = opt.init(u), []
  for it in range(iterations):
    (ce, acc), g = grad_fn(u, jax.random.split(jax.random.key(seed * 1000 + it), num))
    updates, opt_state = opt.update(g, opt_state)
    u = optax.apply_updates(u, updates)
    history.append((float(acc), np.asarray(u)))
    log(f"gradient {it}: val CE {float(ce):.3f}, val acc {float(acc):.3f}, f = {_fractions(u)}")
  return u, history

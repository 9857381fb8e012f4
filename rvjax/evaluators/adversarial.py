"""Adversarial robustness evaluator: robust accuracy against eps under several attacks.

Config (an entry of `config.evals` with type "adversarial"; every field but `type` is a kwarg):

  split, batch_size, num_examples: the data (num_examples 0: the whole split, else its first n).
  norm: "linf" or "l2"; eps: radii in [0, 1] pixel units, sorted and deduplicated (the curve
    starts at eps = 0 with the clean accuracy; include 0 to run every attack there too; the
    sanity report runs them at 0 on the first batch either way).
  attacks: {name: {"type": kind, **kwargs}} (type defaults to the name), built by
    `rvjax.attacks.create(kind, norm=norm, **kwargs)`; kinds and settings are listed in
    `rvjax.attacks.factory` (fgsm, fgsm_rs, pgd, apgd_ce, autoattack, spatial). Evaluation PGD
    keeps the per-example best iterate (select="best"). APGD-T inside autoattack counts any
    misclassification as success (as AutoAttack). spatial's max_translation is in pixels of a
    32-px image, scaled by W / 32 (0.75 px on 8x8 digits, as Engstrom et al.'s +-3 px is ~10% of
    CIFAR's width); it has no eps and is reported once.
    Default: fgsm, pgd (steps 20, restarts 5), apgd_ce, autoattack, spatial.
  sanity, large_eps, slack: the gradient-masking checks of `adversarial_sanity`.
  seed: attack randomness; each (attack, eps, batch) gets its own fold of it.

An example counts as robust under an attack iff it is classified correctly both clean and at the
attack's output; "worst" is robust iff robust under every eps-bounded attack (the pointwise worst
case). Attacks run on `predict_fn`, i.e. in eval mode (running BN averages).

Yields "clean_accuracy", "<attack>/eps=<eps>" and "worst/eps=<eps>" (fractions in [0, 1], eps
printed with 4 significant digits), "<eps-free attack>", "sanity/<check>" (1.0 pass, 0.0 fail),
"sanity/passed" and "sanity/num_failed"; a failed check is also logged with its detail. Numbers
only: `launch.report` draws accuracy against eps and puts the masking flags beside every number.
"""
import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from rvjax import data as data_lib
from rvjax import attacks as attacks_lib
from rvjax import compiler, sharding, validate
from rvjax.evaluators import adversarial_sanity, predictions


EPS_FREE = attacks_lib.factory.EPS_FREE
SANITY_SALT = 1_000_000  # keys of the sanity runs: fold_in(key, SANITY_SALT + i)
DEFAULT_ATTACKS = {"fgsm": {}, "pgd": {"steps": 20, "restarts": 5}, "apgd_ce": {},
                   "autoattack": {}, "spatial": {}}


class Evaluator:
  """Robust accuracy of `predict_fn(state, images) -> logits` under the configured attacks.

  Args: see the module docstring; predict_fn, data and mesh as for every evaluator.
  """

  def __init__(self, predict_fn, *, data, mesh, split: str = "test", batch_size: int = 128,
               num_examples: int = 0, norm: str = "linf", eps=(8 / 255,), attacks=None,
               sanity: bool = True, large_eps: float | None = None, slack: float = 0.01,
               seed: int = 0):
    validate.check_choice(norm, "norm", ("linf", "l2"))
    validate.check_positive(num_examples, "num_examples", allow_zero=True)
    self.predict_fn, self.mesh, self.batch_size, self.norm = predict_fn, mesh, batch_size, norm
    validate.check_positive(slack, "slack", allow_zero=True)
    ds = _head(data_lib.load_split(data, split), num_examples or None)
    self.dataset, self.split = ds, split
    self.eps = sorted({float(e) for e in eps})
    if not self.eps or self.eps[0] < 0:
      raise ValueError(f"eps values must be >= 0, got {tuple(eps)}.")
    self.attack_configs, self.attacks = {}, {}
    for attack_name, cfg in dict(DEFAULT_ATTACKS if attacks is None else attacks).items():
      cfg = dict(cfg)
      kind = cfg.pop("type", attack_name)
      self.attack_configs[attack_name] = (kind, cfg)
      self.attacks[attack_name] = (kind, self.make_attack(kind, **cfg))
    dim = int(np.prod(ds.images.shape[1:]))
    self.large_eps = large_eps or (0.5 if norm == "linf" else 0.5 * float(np.sqrt(dim)))
    self.sanity, self.slack, self.key = sanity, slack, jax.random.key(seed)
    self._compiled, self._grad = {}, None

  def make_attack(self, kind: str, **kwargs):
    """`attacks.create(kind, norm=this evaluator's norm, **kwargs)`."""
    return attacks_lib.create(kind, norm=self.norm, **kwargs)

  def key_for(self, salt: int) -> jax.Array:
    """A key for extra attack runs (sanity checks), independent of the configured attacks'."""
    return jax.random.fold_in(self.key, SANITY_SALT + salt)

  def other_batch_size(self) -> int:
    """A valid batch size other than `batch_size` (half of it, or double)."""
    half, devices = self.batch_size // 2, sharding.data_size(self.mesh)
    return half if half >= devices and half % devices == 0 else 2 * self.batch_size

  def _fn(self, attack):
    if attack not in self._compiled:
      # Attacks are gradient-heavy: compiled with the backend's gradient options.
      self._compiled[attack] = compiler.gradient_jit(
          functools.partial(_correct, self.predict_fn, attack))
    return self._compiled[attack]

  def correct(self, state, attack, eps: float, key, *, batch_size: int | None = None,
              num_examples: int | None = None):
    """(n,) bool: the prediction at `attack`'s output is the label (not yet AND-ed with clean).

    On the first `num_examples` examples (default all N), in batches of `batch_size`.
    """
    fn, eps, batch = self._fn(attack), jnp.float32(eps), itertools.count()
    out = predictions.collect(lambda x, y: fn(state, x, y, jax.random.fold_in(key, next(batch)),
                                              eps),
                              _head(self.dataset, num_examples),
                              batch_size=batch_size or self.batch_size, mesh=self.mesh)
    return out.astype(bool)

  def logits(self, state, *, batch_size: int | None = None) -> np.ndarray:
    """(N, K) eval logits."""
    return predictions.collect_logits(self.predict_fn, state, self.dataset,
                                      batch_size=batch_size or self.batch_size, mesh=self.mesh)

  def input_gradients(self, state) -> np.ndarray:
    """(N, H, W, C) gradient of each example's cross-entropy with respect to its input."""
    if self._grad is None:
      loss = lambda s, x, y: jnp.sum(attacks_lib.ce(self.predict_fn(s, x), y))
      self._grad = jax.jit(jax.grad(loss, argnums=1))
    return predictions.collect(lambda x, y: self._grad(state, x, y), self.dataset,
                               batch_size=self.batch_size, mesh=self.mesh)

  def run(self, state):
    """Yields the metrics of the module docstring."""
    labels = self.dataset.labels
    clean = np.argmax(self.logits(state), -1) == labels
    res = {"clean": clean, "eps": self.eps, "raw": {}, "robust": {}, "eps_free": {}}
    yield "clean_accuracy", float(clean.mean())
    for i, (name, (kind, attack)) in enumerate(self.attacks.items()):
      key = jax.random.fold_in(self.key, i)
      if kind in EPS_FREE:
        res["eps_free"][name] = clean & self.correct(state, attack, 0.0, key)
        yield name, float(res["eps_free"][name].mean())
        continue
      res["raw"][name] = [self.correct(state, attack, e, jax.random.fold_in(key, j))
                          for j, e in enumerate(self.eps)]
      res["robust"][name] = [clean & r for r in res["raw"][name]]
      for e, r in zip(self.eps, res["robust"][name]):
        yield f"{name}/eps={e:.4g}", float(r.mean())
    if res["robust"]:
      res["worst"] = [np.logical_and.reduce([r[j] for r in res["robust"].values()])
                      for j in range(len(self.eps))]
      for e, r in zip(self.eps, res["worst"]):
        yield f"worst/eps={e:.4g}", float(r.mean())
    checks = {}
    if self.sanity:
      checks = adversarial_sanity.run(self, state, res)
      for check, (ok, detail) in checks.items():
        if not ok:
          logging.warning("Adversarial sanity check %r failed (possible gradient masking): %s",
                          check, detail)
        yield f"sanity/{check}", float(ok)
      yield "sanity/passed", float(all(ok for ok, _ in checks.values()))
      yield "sanity/num_failed", float(sum(not ok for ok, _ in checks.values()))


def _head(ds, n: int | None):
  """The first n examples of `ds` (all if n is None)."""
  return ds if n is None else type(ds)(ds.images[:n], ds.labels[:n], ds.num_classes)


def _correct(predict_fn, attack, state, x, y, key, eps):
  logits_fn = lambda z: predict_fn(state, z)
  return jnp.argmax(predict_fn(state, attack(logits_fn, x, y, key, eps)), -1) == y

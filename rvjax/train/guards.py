"""Guard against catastrophic overfitting (CO) in Fast-AT, as a hook (`config.hooks`).

FGSM-RS training (Wong et al. 2020) can collapse within a few steps: FGSM accuracy on the training
batches shoots up while PGD accuracy falls to about 0. Wong et al.'s early stopping checks PGD
accuracy on a fixed minibatch after every epoch and, when it drops by more than 0.2, stops and
keeps the model from before the drop (their train_fgsm.py, --early-stop).

`PGDGuard` (hook type "pgd_guard") does the same between train steps:

  every `every_steps` steps: a = PGD accuracy (eval mode, running BN averages) on the first
    `num_examples` images of the val split, with a fixed attack key;
    if a < best - threshold: a collapse. Restore the last good state (params, model_state and
      opt_state, so momentum too; the step counter keeps counting) and/or stop, per `action`;
    else: best = max(best, a) and a host copy of this state becomes the last good one.

Config example (Fast-AT on digits, checked once per epoch):

  config.hooks = {"co_guard": {"type": "pgd_guard", "eps": 0.1, "norm": "linf",
                               "every_steps": 22, "threshold": 0.2}}

eps is given explicitly (usually the objective's); the attack is `rvjax.attacks.create("pgd")`,
so its step-size default is the one of every other PGD (2.5 eps / steps). Metrics, logged by the loop as
"<hook name>/<metric>": pgd_accuracy, best_pgd_accuracy, collapsed (0/1), rolled_back (0/1).
The first check only records the best; host memory holds one copy of the state.
"""
import jax
import jax.numpy as jnp
import numpy as np

from rvjax import attacks, validate
from rvjax.train import hooks

ACTIONS = ("rollback_and_stop", "rollback", "stop")


@hooks.register("pgd_guard")
class PGDGuard:
  """Rolls back and/or stops training when PGD accuracy on a fixed val batch collapses.

  Args:
    eps: attack radius > 0 (required; usually the objective's eps).
    norm: "linf" or "l2".
    steps: PGD iterations >= 1.
    step_size: PGD step > 0; None: the factory's default 2.5 * eps / steps.
    restarts: PGD random starts >= 1.
    num_examples: size of the fixed val batch (the first examples of the val split).
    threshold: a drop of more than this (accuracy fraction, >= 0) below the best is a collapse;
      Wong et al. use 0.2.
    action: "rollback_and_stop" (Wong et al.), "rollback" (restore and train on) or "stop".
    seed: seed of the fixed attack key.
  """

  def __init__(self, *, eps: float | None = None, norm: str = "linf", steps: int = 10,
               step_size: float | None = None, restarts: int = 1, num_examples: int = 256,
               threshold: float = 0.2, action: str = "rollback_and_stop", seed: int = 0):
    validate.check_choice(action, "pgd_guard action", ACTIONS)
    validate.check_positive(threshold, "pgd_guard threshold", allow_zero=True)
    validate.check_positive(num_examples, "pgd_guard num_examples")
    if eps is None:
      raise ValueError("pgd_guard needs eps: set hooks.<name>.eps (usually objective.kwargs.eps).")
    validate.check_positive(eps, "pgd_guard eps")
    self.eps = eps
    self.attack = attacks.create("pgd", norm=norm, steps=steps, restarts=restarts,
                                 step_size=step_size)
    self.num_examples, self.threshold, self.action = num_examples, threshold, action
    self.key = jax.random.key(seed)
    self.best = -np.inf
    self.good = None  # host copy of (params, model_state, opt_state) of the last good check
    self._accuracy = None

  def _build(self, ctx):
    """Jit-compiles the PGD accuracy on the fixed val batch."""
    predict_fn = ctx.predict_fn

    def accuracy(state, x, y, key):
      logits_fn = lambda z: predict_fn(state, z)
      x_adv = self.attack(logits_fn, x, y, key, self.eps)
      return jnp.mean(jnp.argmax(logits_fn(x_adv), -1) == y)

    self._accuracy = jax.jit(accuracy)
    n = min(self.num_examples, len(ctx.val_ds))
    self._batch = (ctx.val_ds.images[:n], ctx.val_ds.labels[:n])

  def __call__(self, step, state, ctx) -> hooks.HookResult:
    if self._accuracy is None:
      self._build(ctx)
    acc = float(self._accuracy(state, *self._batch, self.key))
    collapsed = acc < self.best - self.threshold
    rolled_back = False
    if collapsed:
      if self.action != "stop" and self.good is not None:
        state = _restore(state, self.good)
        rolled_back = True
    else:
      self.best = max(self.best, acc)
      self.good = jax.device_get((state.params, state.model_state, state.opt_state))
    stop = collapsed and self.action != "rollback"
    metrics = {"pgd_accuracy": acc, "best_pgd_accuracy": self.best,
               "collapsed": float(collapsed), "rolled_back": float(rolled_back)}
    return hooks.HookResult(state, stop=stop, metrics=metrics)


def _restore(state, good):
  """`state` with (params, model_state, opt_state) from the host copy `good`, same shardings."""
  current = (state.params, state.model_state, state.opt_state)
  restored = jax.tree.map(lambda h, d: jax.device_put(h, d.sharding), good, current)
  params, model_state, opt_state = restored
  return state.replace(params=params, model_state=model_state, opt_state=opt_state)

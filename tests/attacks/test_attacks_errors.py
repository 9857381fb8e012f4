"""Every bad input raises a ValueError that names the argument, before any compute."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvjax import attacks

W = np.random.default_rng(0).normal(size=(16, 5)).astype(np.float32)
X = jnp.full((4, 4, 4, 1), 0.5, jnp.float32)
Y = jnp.asarray([0, 1, 2, 3], jnp.int32)
KEY = jax.random.key(0)


def f(x, k=5):
  return x.reshape(x.shape[0], -1) @ W[:, :k]


def pgd(**kw):
  args = dict(key=KEY, eps=0.1, step_size=0.02, steps=2)
  args.update(kw)
  return lambda: attacks.pgd(args.pop("fn", f), args.pop("x", X), args.pop("y", Y), **args)


def apgd(**kw):
  args = dict(key=KEY, eps=0.1, steps=2)
  args.update(kw)
  return lambda: attacks.apgd(args.pop("fn", f), X, args.pop("y", Y), **args)


def fgsm(**kw):
  return lambda: attacks.fgsm(f, X, Y, **{"eps": 0.1, **kw})


def autoattack(**kw):
  args = dict(key=KEY, eps=0.1, steps=2, n_target_classes=2)
  args.update(kw)
  return lambda: attacks.autoattack(args.pop("fn", f), X, args.pop("y", Y), **args)


def spatial(**kw):
  return lambda: attacks.spatial(f, X, Y, **kw)


CASES = {
    "fgsm eps<0": (fgsm(eps=-0.1), "eps"),
    "pgd eps<0": (pgd(eps=-1.0), "eps"),
    "apgd eps<0": (apgd(eps=-0.1), "eps"),
    "autoattack eps<0": (autoattack(eps=-0.1), "eps"),
    "pgd steps=0": (pgd(steps=0), "steps"),
    "apgd steps=0": (apgd(steps=0), "steps"),
    "autoattack steps=0": (autoattack(steps=0), "steps"),
    "pgd steps float": (pgd(steps=2.0), "steps"),
    "pgd step_size=0": (pgd(step_size=0.0), "step_size"),
    "pgd step_size<0": (pgd(step_size=-0.1), "step_size"),
    "fgsm alpha=0": (fgsm(alpha=0.0, key=KEY), "alpha"),
    "pgd restarts=0": (pgd(restarts=0), "restarts"),
    "fgsm norm": (fgsm(norm="l1"), "norm"),
    "pgd norm": (pgd(norm="linf2"), "norm"),
    "apgd norm": (apgd(norm="L2"), "norm"),
    "autoattack norm": (autoattack(norm="l0"), "norm"),
    "pgd loss": (pgd(loss="hinge"), "loss"),
    "apgd loss": (apgd(loss="dlr_t"), "loss"),
    "pgd y_target == y": (pgd(targeted=True, y_target=jnp.asarray([1, 2, 2, 0])), "y_target"),
    "apgd y_target == y": (apgd(targeted=True, y_target=Y), "y_target"),
    "pgd targeted without y_target": (pgd(targeted=True), "y_target"),
    "apgd y_target without targeted": (apgd(y_target=(Y + 1) % 5), "targeted"),
    "pgd y_target out of range": (pgd(targeted=True, y_target=Y + 2), "y_target"),
    "pgd label >= K": (pgd(y=jnp.asarray([0, 1, 2, 5])), "y"),
    "apgd label < 0": (apgd(y=jnp.asarray([0, -1, 2, 3])), "y"),
    "fgsm float labels": (lambda: attacks.fgsm(f, X, Y.astype(jnp.float32), eps=0.1), "y"),
    "pgd wrong label count": (pgd(y=Y[:3]), "y"),
    "pgd images out of [0, 1]": (pgd(x=X + 1.0), "x"),
    "pgd images rank 3": (pgd(x=X[0]), "x"),
    "pgd dlr with 2 classes": (pgd(fn=lambda x: f(x, 2), y=Y % 2, loss="dlr"), "loss"),
    "apgd targeted dlr with 3 classes": (
        apgd(fn=lambda x: f(x, 3), y=Y % 3, loss="dlr", targeted=True, y_target=(Y + 1) % 3),
        "loss"),
    "pgd bad logits shape": (pgd(fn=lambda x: x), "logits_fn"),
    "autoattack too many targets": (autoattack(n_target_classes=5), "n_target_classes"),
    "autoattack 3 classes": (autoattack(fn=lambda x: f(x, 3), y=Y % 3), "logits_fn"),
    "spatial max_rotation<0": (spatial(max_rotation=-1.0), "max_rotation"),
    "spatial max_translation<0": (spatial(max_translation=-1), "max_translation"),
    "spatial grid 0": (spatial(grid=(5, 0, 31)), "grid"),
    "spatial grid length": (spatial(grid=(5, 5)), "grid"),
    "spatial random_search without key": (spatial(random_search=4), "key"),
    "spatial random_search=0": (spatial(random_search=0, key=KEY), "random_search"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_raises_naming_argument(case):
  call, name = CASES[case]
  with pytest.raises(ValueError, match=name):
    call()


def test_checkpoints_reject_bad_steps():
  with pytest.raises(ValueError, match="steps"):
    attacks.apgd_checkpoints(0)


def test_concrete_arrays_closed_over_under_jit_are_still_checked():
  bad_eps, bad_y = jnp.float32(-0.1), Y + 2  # concrete, made outside the trace
  with pytest.raises(ValueError, match="eps"):
    jax.jit(lambda k: attacks.pgd(f, X, Y, key=k, eps=bad_eps, step_size=0.1, steps=1))(KEY)
  with pytest.raises(ValueError, match="y"):
    jax.jit(lambda k: attacks.apgd(f, X, bad_y, key=k, eps=0.1, steps=1))(KEY)

"""The adversarial evaluator on a linear digits classifier: curve, files, sanity flags."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from rvjax import data, evaluators, sharding

DATA = ml_collections.ConfigDict({"name": "digits", "data_dir": "", "kwargs": {}})
EPS = (0.05, 0.1, 0.2)
SMALL_ATTACKS = {"fgsm": {}, "pgd": {"steps": 5, "restarts": 2}}


pytestmark = pytest.mark.usefixtures("fast_compile")  # Small graphs: optimizing costs more.


@pytest.fixture(scope="module")
def params():
  """Least-squares linear classifier on flattened digits (about 95% test accuracy)."""
  train = data.load("digits", "train")
  feats = np.c_[train.images.reshape(len(train), -1), np.ones(len(train))]
  coef = np.linalg.lstsq(feats, np.eye(10)[train.labels] * 10, rcond=None)[0].astype(np.float32)
  return {"w": jnp.asarray(coef[:-1]), "b": jnp.asarray(coef[-1])}


def linear(s, x):
  return x.reshape(x.shape[0], -1) @ s["w"] + s["b"]


PREDICT = {
    "normal": linear,
    "stop_gradient": lambda s, x: jax.lax.stop_gradient(linear(s, x)),
    "quantized_input": lambda s, x: linear(s, jnp.round(x * 4) / 4),
    "softmax_output": lambda s, x: jax.nn.softmax(linear(s, x)),
}


def evaluate(params, kind, eps=EPS, **kw):
  ev = evaluators.create("adversarial", jax.jit(PREDICT[kind]), data=DATA,
                         mesh=sharding.make_mesh(), num_examples=96,
                         batch_size=32, eps=eps, seed=1, **kw)
  return dict(ev.run(params))


@pytest.fixture(scope="module")
def normal(params):
  attacks = {**SMALL_ATTACKS, "apgd_ce": {"steps": 10},
             "autoattack": {"steps": 10, "n_target_classes": 3},
             "rotate": {"type": "spatial", "max_translation": 1, "grid": (3, 3, 5)}}
  return evaluate(params, "normal", eps=(0.0,) + EPS, attacks=attacks)


def test_eps_zero_is_clean_accuracy_and_curves_fall(normal):
  m = normal
  assert m["clean_accuracy"] > 0.9
  names = ("fgsm", "pgd", "apgd_ce", "autoattack", "worst")
  for name in names:
    curve = [m[f"{name}/eps={e:.4g}"] for e in (0,) + EPS]
    assert curve[0] == m["clean_accuracy"], name
    assert all(b <= a for a, b in zip(curve, curve[1:])), (name, curve)
  assert m["pgd/eps=0.2"] < 0.2 and m["rotate"] < m["clean_accuracy"]


def test_normal_model_passes_every_sanity_check(normal):
  m = normal
  checks = {k: v for k, v in m.items() if k.startswith("sanity/")}
  assert len(checks) == 12
  assert checks["sanity/passed"] == 1.0 and checks["sanity/num_failed"] == 0.0, checks


@pytest.mark.parametrize("kind, failing", [
    ("stop_gradient", "gradients_nonzero"),
    ("quantized_input", "gradients_nonzero"),
    ("softmax_output", "outputs_are_logits"),
])
def test_masked_models_are_flagged(params, kind, failing):
  m = evaluate(params, kind, attacks=SMALL_ATTACKS)
  assert m["sanity/passed"] == 0.0 and m[f"sanity/{failing}"] == 0.0
  # Gradient masking inflates robust accuracy: the masked linear model looks more robust.
  if kind != "softmax_output":
    assert m["pgd/eps=0.1"] > evaluate(params, "normal", attacks=SMALL_ATTACKS,
                                       sanity=False)["pgd/eps=0.1"]


def test_bad_configs(params):
  with pytest.raises(ValueError, match="Unknown attack type 'cw'"):
    evaluate(params, "normal", attacks={"cw": {}})
  with pytest.raises(ValueError, match="'pgd' has no argument.*iters.*valid: steps"):
    evaluate(params, "normal", attacks={"pgd": {"iters": 3}})
  with pytest.raises(ValueError, match="Unknown norm"):
    evaluate(params, "normal", norm="l1")

"""The certified evaluator on a small trained FlatCNN: its numbers are rvjax.certify's, computed
directly, and never exceed PGD accuracy or clean accuracy."""
import jax
import jax.numpy as jnp
import ml_collections
import pytest

from rvjax import attacks, certify, data, evaluators, models, objectives, sharding
from rvjax.train import fit, state as state_lib, step as step_lib

DATA = ml_collections.ConfigDict({"name": "digits", "data_dir": "", "kwargs": {}})
N, CROWN_N = 64, 8
EPS = (0.0, 0.01, 0.03)

pytestmark = pytest.mark.usefixtures("fast_compile")  # Small graphs: optimizing costs more.


@pytest.fixture(scope="module")
def trained():
  """ibp_tiny (conv4/2, fc16) trained with ERM for 150 Adam steps on digits (~90% test)."""
  train = data.load("digits", "train")
  model = models.create("ibp_tiny", num_classes=10)
  tx = fit.make_optimizer(1e-2, 150)
  init = state_lib.init_fn(model, tx, (1, 8, 8, 1))(jax.random.key(0))
  step_fn = step_lib.compile_train_step(objectives.create("erm", model.apply), tx)
  state, _ = fit.fit(step_fn, fit.start(init, tx), {"image": train.images, "label": train.labels},
                     key=jax.random.key(1), steps=150, batch_size=64, seed=0)
  return model, state


def test_certified_accuracy_is_certifys_and_below_pgd(trained):
  model, state = trained
  predict_fn = step_lib.compile_predict(model.apply)
  ev = evaluators.create("certified", predict_fn, data=DATA, mesh=sharding.make_mesh(),
                         apply_fn=model.apply, num_examples=N, batch_size=32, eps=EPS,
                         methods=("ibp", "crown_ibp", "crown"), crown_examples=CROWN_N)
  out = dict(ev.run(state))
  test = data.load("digits", "test")
  x, y = jnp.asarray(test.images[:N]), jnp.asarray(test.labels[:N])
  variables = {"params": state.params, **state.model_state}
  logits_fn = lambda z: model.apply(variables, z, train=False)
  clean = float(jnp.mean(jnp.argmax(logits_fn(x), -1) == y))
  assert out["clean_accuracy"] == pytest.approx(clean) and clean > 0.8
  direct_fn = jax.jit(lambda n, eps, m: certify.certified_accuracy(
      model.apply, variables, x[:n], y[:n], eps, method=m), static_argnums=(0, 2))
  pgd_fn = jax.jit(lambda eps: jnp.mean(jnp.argmax(logits_fn(attacks.pgd(
      logits_fn, x, y, key=jax.random.key(2), eps=eps, step_size=jnp.maximum(eps, 1e-3) / 4,
      steps=10)), -1) == y))
  for eps in EPS:
    # Bounds at eps 0 are the logits: certified = correct (checks model, variables and labels).
    for m, n in (("ibp", N), ("crown_ibp", N), ("crown", CROWN_N)):
      direct = float(direct_fn(n, jnp.float32(eps), m))
      assert out[f"{m}/eps={eps:.4g}"] == pytest.approx(direct), (m, eps)
    pgd = float(pgd_fn(jnp.float32(eps)))
    assert max(out[f"ibp/eps={eps:.4g}"], out[f"crown_ibp/eps={eps:.4g}"]) <= pgd <= clean
  assert out["ibp/eps=0"] == pytest.approx(clean)
  assert out["ibp/eps=0.01"] > 0.3  # Not vacuous: a small ball certifies many examples ...
  assert out["ibp/eps=0.03"] < out["ibp/eps=0"]  # ... and a larger one fewer.


def test_certified_evaluator_needs_apply_fn_and_valid_settings():
  mesh = sharding.make_mesh()
  predict_fn = lambda state, x: x.reshape(x.shape[0], -1)[:, :10]
  with pytest.raises(ValueError, match="apply_fn"):
    evaluators.create("certified", predict_fn, data=DATA, mesh=mesh)
  with pytest.raises(ValueError, match="bound method"):
    evaluators.create("certified", predict_fn, data=DATA, mesh=mesh, apply_fn=predict_fn,
                      methods=("ibp", "milp"))
  with pytest.raises(ValueError, match="eps"):
    evaluators.create("certified", predict_fn, data=DATA, mesh=mesh, apply_fn=predict_fn,
                      eps=(-0.1,))

"""IBP / CROWN-IBP / Gaussian-noise objectives, their schedules, and the certified configs."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import cifar10_certified, digits_certified
from rvjax import certify, data, models, objectives
from rvjax.objectives import certified
from rvjax.train import loop, writers


@pytest.fixture(scope="module")
def flat():
  """ibp_tiny (no batch norm) on a digits batch of 16."""
  ds = data.load("digits", "train")
  model = models.create("ibp_tiny")
  variables = model.init(jax.random.key(0), ds.images[:2], train=False)
  batch = {"image": jnp.asarray(ds.images[:16]), "label": jnp.asarray(ds.labels[:16]),
           "mask": jnp.ones(16, jnp.float32)}
  return model.apply, variables["params"], batch


def _run(objective, params, batch, step):
  loss, (_, metrics) = jax.jit(objective)(params, {}, {**batch, "step": jnp.int32(step)},
                                 jax.random.key(0))
  return float(loss), {k: float(v) for k, v in metrics.items()}


def test_ramp_schedule():
  values = [float(certified.ramp(s, 10, 20)) for s in (0, 10, 20, 30, 50)]
  assert values == [0.0, 0.0, 0.5, 1.0, 1.0]
  assert [float(certified.ramp(s, 5, 0)) for s in (4, 5, 6)] == [0.0, 0.0, 1.0]


def test_robust_ce_is_ce_of_the_worst_case_logits():
  """z_hat_y = 0 and z_hat_j = -m_j; catches a sign flip or a dropped true-class term."""
  m = jnp.array([[0.5, -1.0, 2.0], [3.0, 3.0, 3.0]])
  z_hat = jnp.concatenate([jnp.zeros((2, 1)), -m], -1)
  np.testing.assert_allclose(certified.robust_ce(m),
                             optax.softmax_cross_entropy_with_integer_labels(z_hat, jnp.zeros(
                                 2, jnp.int32)), rtol=1e-6)


def test_ibp_schedule_and_mixing(flat):
  apply_fn, params, batch = flat
  objective = objectives.create("ibp", apply_fn, eps=0.1, warmup_steps=2, ramp_steps=4,
                                kappa_start=1.0, kappa_end=0.5)
  # Warmup: eps = 0, where the worst case is the clean point: robust loss = clean loss.
  loss, m = _run(objective, params, batch, 1)
  assert (m["eps"], m["kappa"]) == (0.0, 1.0)
  assert m["robust_loss"] == pytest.approx(m["clean_loss"], rel=1e-4)
  assert loss == pytest.approx(m["clean_loss"], rel=1e-5)
  # Mid-ramp and after it: eps and kappa interpolate, the loss mixes the two terms.
  for step, eps, kappa in ((4, 0.05, 0.75), (9, 0.1, 0.5)):
    loss, m = _run(objective, params, batch, step)
    assert (m["eps"], m["kappa"]) == (pytest.approx(eps), pytest.approx(kappa))
    assert m["robust_loss"] > m["clean_loss"]
    assert loss == pytest.approx(kappa * m["clean_loss"] + (1 - kappa) * m["robust_loss"],
                                 rel=1e-5)
  x, y = batch["image"], batch["label"]
  margins = certify.margin_lower_bounds(apply_fn, {"params": params}, x, y, 0.1)
  assert m["robust_loss"] == pytest.approx(float(jnp.mean(certified.robust_ce(margins))),
                                           rel=1e-5)
  # The robust term has a gradient (through the bounds) that training can follow.
  grads = jax.grad(lambda p: objective(p, {}, {**batch, "step": jnp.int32(9)},
                                       jax.random.key(0))[0])(params)
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
  assert float(optax.tree.norm(grads)) > 0


def test_crown_ibp_beta_mixes_the_bounds(flat):
  """beta = 0 is IBP exactly; beta = 1 uses the CROWN-IBP margins (catches a swapped beta)."""
  apply_fn, params, batch = flat
  kw = dict(eps=0.1, warmup_steps=0, ramp_steps=1, kappa_start=0.0, kappa_end=0.0)
  ibp = _run(objectives.create("ibp", apply_fn, **kw), params, batch, 5)
  beta0 = _run(objectives.create("crown_ibp", apply_fn, beta_start=0.0, beta_end=0.0, **kw),
               params, batch, 5)
  assert beta0[0] == pytest.approx(ibp[0], rel=1e-5)
  beta1 = _run(objectives.create("crown_ibp", apply_fn, beta_start=1.0, beta_end=1.0, **kw),
               params, batch, 5)
  margins = certify.margin_lower_bounds(apply_fn, {"params": params}, batch["image"],
                                        batch["label"], 0.1, method="crown_ibp")
  assert beta1[0] == pytest.approx(float(jnp.mean(certified.robust_ce(margins))), rel=1e-5)
  assert beta1[0] != pytest.approx(ibp[0], rel=1e-3)


def test_gaussian_noise_objective_trains_on_noisy_images(flat):
  apply_fn, params, batch = flat
  clean = _run(objectives.create("erm", apply_fn), params, batch, 0)[0]
  noisy = objectives.create("gaussian_noise", apply_fn, sigma=0.5)
  assert _run(noisy, params, batch, 0)[0] != pytest.approx(clean, rel=1e-3)
  tiny_sigma = objectives.create("gaussian_noise", apply_fn, sigma=1e-7)
  assert _run(tiny_sigma, params, batch, 0)[0] == pytest.approx(clean, rel=1e-5)


@pytest.mark.parametrize("name, kwargs, match", [
    ("ibp", dict(eps=0.0), "eps"),
    ("ibp", dict(kappa_end=1.5), "kappa_end must lie in"),
    ("crown_ibp", dict(beta_start=-0.1), "beta_start must lie in"),
    ("ibp", dict(ramp_steps=2.5), "ramp_steps must be an integer"),
    ("gaussian_noise", dict(sigma=0.0), "sigma"),
])
def test_bad_arguments(name, kwargs, match):
  with pytest.raises(ValueError, match=match):
    objectives.create(name, lambda *a, **k: None, **kwargs)


def test_missing_step_is_a_clear_error(flat):
  apply_fn, params, batch = flat
  with pytest.raises(ValueError, match=r"batch\['step'\]"):
    objectives.create("ibp", apply_fn)(params, {}, batch, jax.random.key(0))


def test_configs():
  c = digits_certified.get_config("method=crown_ibp,eps=0.2")
  assert c.model.name == "ibp_small" and c.objective.name == "crown_ibp"
  kw = c.objective.kwargs
  assert (kw.eps, kw.kappa_end, kw.beta_start, kw.beta_end) == (pytest.approx(0.22), 0.0, 1.0, 0.0)
  assert kw.warmup_steps + kw.ramp_steps < c.num_epochs * 19
  c = digits_certified.get_config("method=smoothing,sigma=0.5")
  assert (c.objective.name, c.objective.kwargs.sigma, c.evals.smooth.sigma) == \
      ("gaussian_noise", 0.5, 0.5)
  c = cifar10_certified.get_config("method=ibp")
  assert (c.data.name, c.model.name, c.objective.kwargs.eps) == \
      ("cifar10", "ibp_large", pytest.approx(8.8 / 255))
  with pytest.raises(ValueError, match="method must be one of"):
    digits_certified.get_config("method=lp")


def test_tiny_crown_ibp_run_ramps_eps(tmp_path):
  """End to end through the train step: batch['step'] drives the schedule."""
  summary = loop.train_and_evaluate(digits_certified.get_config("method=crown_ibp,tiny"),
                                    str(tmp_path))
  assert summary["steps"] == 4 and np.isfinite(summary["test/accuracy"])
  logged = [r["train/eps"] for r in writers.read_metrics(str(tmp_path)) if "train/eps" in r]
  # The mean over steps 0..3 of eps = 0.11 x ramp (warmup 1, ramp 2): 0, 0, 0.055, 0.11.
  assert logged[-1] == pytest.approx((0.055 + 0.11) / 4)

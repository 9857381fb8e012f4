"""The AugMix objective: loss = CE + lambda JSD, identity views, no_jsd, registry, config run."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import digits_augmix
from rvjax import augment, objectives
from rvjax.objectives import augmix as augmix_objective
from rvjax.train import loop, writers


def call(tiny, batch=None, **kw):
  """Runs the jitted objective made with `kw` (compiled once per kw set)."""
  key = tuple(sorted(kw.items()))
  if key not in _COMPILED:
    _COMPILED[key] = jax.jit(objectives.create("augmix", tiny.apply, **kw))
  return _COMPILED[key](tiny.params, tiny.model_state, batch or tiny.batch, jax.random.key(0))


_COMPILED = {}


@pytest.fixture(scope="module")
def default(tiny):
  return call(tiny)


def test_loss_is_ce_plus_12_jsd_and_finite(tiny, default):
  loss, (state, m) = default
  assert set(m) == {"clean_loss", "jsd", "accuracy"}
  assert np.isfinite(loss) and float(m["jsd"]) > 0
  assert float(loss) == pytest.approx(float(m["clean_loss"]) + 12 * float(m["jsd"]), rel=1e-6)
  assert augmix_objective.JSD_WEIGHT == 12.0
  # BN statistics were updated once, from the 3B batch.
  assert jax.tree.structure(state) == jax.tree.structure(tiny.model_state)
  changed = jax.tree.map(lambda a, b: not np.allclose(a, b), state, tiny.model_state)
  assert all(jax.tree.leaves(changed))


def test_matches_a_hand_computation_on_the_3b_forward(tiny, default):
  loss, _ = default
  x, y = tiny.batch["image"], tiny.batch["label"]

  @jax.jit
  def by_hand(key):
    k_aug, k_fwd = jax.random.split(key)
    views = jnp.concatenate([x, augment.augmix(k_aug, jnp.concatenate([x, x]))])
    logits, _ = tiny.apply({"params": tiny.params, **tiny.model_state}, views, train=True,
                           mutable=["batch_stats"], rngs={"dropout": k_fwd})
    clean, a1, a2 = jnp.split(logits, 3)
    return (optax.softmax_cross_entropy_with_integer_labels(clean, y).mean()
            + 12 * augment.jsd_consistency(clean, a1, a2))

  assert float(loss) == pytest.approx(float(by_hand(jax.random.key(0))), rel=1e-5)


def test_identical_views_give_zero_jsd(tiny):
  black = {**tiny.batch, "image": jnp.zeros_like(tiny.batch["image"])}  # AugMix(0) = 0
  loss, (_, m) = call(tiny, black)
  assert abs(float(m["jsd"])) < 1e-6
  assert float(loss) == pytest.approx(float(m["clean_loss"]), abs=1e-5)


def test_no_jsd_trains_on_one_view_with_ce(tiny):
  loss, (_, m) = call(tiny, no_jsd=True)
  assert set(m) == {"clean_loss", "accuracy"} and float(loss) == float(m["clean_loss"])
  assert np.isfinite(loss)


def test_registry_checks_arguments(tiny):
  with pytest.raises(ValueError, match="no argument"):
    objectives.create("augmix", tiny.apply, lam=1.0)
  with pytest.raises(ValueError, match="severity"):
    objectives.create("augmix", tiny.apply, severity=11)
  with pytest.raises(ValueError, match="jsd_weight"):
    objectives.create("augmix", tiny.apply, jsd_weight=-1.0)


def test_tiny_augmix_config_trains_and_runs_the_shift_evals(tmp_path):
  config = digits_augmix.get_config("tiny")
  assert config.objective.name == "augmix" and config.objective.kwargs.jsd_weight == 12.0
  summary = loop.train_and_evaluate(config, str(tmp_path))
  assert summary["steps"] == 3
  keys = set().union(*writers.read_metrics(str(tmp_path)))
  for k in ("train/jsd", "train/clean_loss", "calib/ece", "corruption/mean/accuracy",
            "corruption/contrast/5/ece", "ood/skimage_photos/max_softmax/auroc",
            "ood/uniform_noise/neg_entropy/fpr95"):
    assert k in keys, k
  # The run ends with its report, whose severity curves come from the logged numbers.
  assert (tmp_path / "report" / f"{tmp_path.name}_severity_corruption.png").is_file()
  assert digits_augmix.get_config("holdout=2").data.kwargs.exclude_classes == (8, 9)

"""Tests for rvjax.models: registry, shapes, parameter counts, BN state, dropout, input checks.

Big models are only traced (jax.eval_shape); everything that runs uses tiny variants on 2 images.
Keys use the "rbg" PRNG: XLA compiles its initializers ~8x faster on CPU than threefry's.
"""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvjax import models
from rvjax.models import layers

BIG = ("preact_resnet18", "wide_resnet", "wrn28_10", "wrn28_2")


def _key(seed):
  return jax.random.key(seed, impl="rbg")


def _images(name):
  """(2, 8, 8, 1) for the CNNs, (2, 32, 32, 3) for the ResNets, uniform in [0, 1)."""
  shape = (2, 8, 8, 1) if name.startswith("cnn") else (2, 32, 32, 3)
  return jax.random.uniform(jax.random.key(0), shape)


def _init(model, x):
  return model.init({"params": _key(0), "dropout": _key(1)}, x, train=False)


@functools.lru_cache(maxsize=None)
def _variables(name):
  """Variables of registered model `name` on `_images(name)`, compiled once per session.

  Dropout fields add no parameters, so these serve every dropout variant of `name`.
  """
  model = models.create(name)
  return jax.jit(lambda x: _init(model, x))(_images(name))


def _run_modes(model, variables, x):
  """Runs `model` in every mode as one compiled program (one compilation keeps this fast).

  Returns:
    {"train" | "eval" | "mc": (logits (2 keys, N, K), new batch_stats with a leading 2-key
    axis)} for train=True, train=False and train=False with mc_dropout=True, each vmapped over
    the same two dropout keys; and "plain": (N, K) logits of train=False without any rng.
  """
  @jax.jit
  def run(variables, x, keys):
    out = {}
    for mode, train, mc in (("train", True, False), ("eval", False, False), ("mc", False, True)):
      m = model.clone(mc_dropout=mc)
      f = lambda k, m=m, train=train: m.apply(variables, x, train=train, mutable=["batch_stats"],
                                               rngs={"dropout": k})
      logits, state = jax.vmap(f)(keys)
      out[mode] = logits, state["batch_stats"]
    out["plain"] = model.apply(variables, x, train=False)
    return out
  return jax.tree.map(np.asarray, run(variables, x, jax.random.split(_key(7))))


def _param_count(name, **kw):
  model = models.create(name, **kw)
  variables = jax.eval_shape(lambda x: _init(model, x), _images(name))
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(variables["params"]))


def test_names_cover_every_family():
  assert set(models.names("classifier")) == {
      "cnn", "cnn_tiny", "resnet20", "resnet_tiny", "preact_resnet18", "preact_resnet_tiny",
      "wide_resnet", "wrn28_10", "wrn28_2", "wrn_tiny", "sngp_cnn", "sngp_cnn_tiny", "ibp_small",
      "ibp_large", "ibp_tiny"}
  assert models.names() == sorted(models.names())


# SNGP models hold other collections (spectral_stats, random_features, laplace): see
# tests/uncertainty/test_sngp.py.
@pytest.mark.parametrize("name", [n for n in models.names("classifier")
                                  if n not in BIG and not n.startswith("sngp")])
def test_builds_inits_and_gives_finite_logits(name):
  model = models.create(name)
  x = _images(name)
  variables = _variables(name)
  # The bound-propagation models (certified training) have no batch norm.
  assert set(variables) == ({"params"} if name.startswith("ibp") else {"params", "batch_stats"})
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(variables["params"]))
  logits = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, x)
  assert logits.shape == (2, 10) and logits.dtype == jnp.float32
  assert np.all(np.isfinite(logits))


@pytest.mark.parametrize("name", BIG)
def test_big_models_trace_to_the_right_shapes(name):
  model = models.create(name, num_classes=7)
  x = _images(name)
  variables = jax.eval_shape(lambda x: _init(model, x), x)
  logits = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x)
  assert logits.shape == (2, 7) and logits.dtype == jnp.float32
  assert set(variables) == {"params", "batch_stats"}


def test_param_counts_match_the_papers():
  # He et al. 2016: ResNet-20 has 0.27M parameters with option-A (parameter-free) shortcuts.
  resnet20 = _param_count("resnet20")
  assert resnet20 == 269_722
  assert abs(resnet20 - 0.27e6) / 0.27e6 < 0.01
  assert _param_count("resnet20", shortcut="B") == 272_474  # + 1x1 projection convs and BN.
  # PreAct ResNet-18 of the adversarial-training literature: 11.17M (incl. the final BN).
  preact = _param_count("preact_resnet18")
  assert preact == 11_172_170
  assert abs(preact - 11.17e6) < 5e3
  # Zagoruyko & Komodakis: WRN-28-10 has 36.5M parameters.
  wrn = _param_count("wrn28_10")
  assert wrn == 36_479_194
  assert abs(wrn - 36.5e6) / 36.5e6 < 1e-3
  assert _param_count("wide_resnet", depth=28, widen_factor=10) == wrn
  assert _param_count("wrn28_2") == 1_467_610
  assert _param_count("cnn") < 200_000  # Small enough for ~30 s CPU training on digits.


@pytest.mark.parametrize("name,kw,stochastic", [
    ("cnn_tiny", dict(dropout_rate=0.5, dropout_placement="all"), True),
    ("cnn_tiny", dict(mc_dropout=True), False),  # dropout_rate=0: no dropout at all.
    ("resnet_tiny", dict(dropout_rate=0.5, dropout_placement="all"), True),
    ("preact_resnet_tiny", dict(dropout_rate=0.5), True),
    ("wrn_tiny", dict(block_dropout_rate=0.5), True),  # The WRN paper's in-block dropout.
], ids=["cnn_all", "cnn_no_dropout", "resnet_all", "preact_head", "wrn_block"])
def test_train_flag_controls_batch_stats_and_dropout(name, kw, stochastic):
  model, x, variables = models.create(name, **kw), _images(name), _variables(name)
  out = _run_modes(model, variables, x)
  stats = variables["batch_stats"]
  # BN: train=True updates every running statistic; train=False (MC or not) leaves them.
  for key_index in (0, 1):
    trained = jax.tree.map(lambda a: a[key_index], out["train"][1])
    changed = jax.tree.map(lambda a, b: bool(np.any(a != b)), stats, trained)
    assert jax.tree.leaves(changed) and all(jax.tree.leaves(changed))
    for mode in ("eval", "mc"):
      jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b[key_index]), stats,
                   out[mode][1])
  # Dropout: deterministic at evaluation (and equal to evaluating without an rng) ...
  np.testing.assert_array_equal(out["eval"][0][0], out["eval"][0][1])
  np.testing.assert_allclose(out["plain"], out["eval"][0][0], atol=1e-5)
  # ... different keys differ in training and under MC dropout, if there is dropout.
  for mode in ("train", "mc"):
    assert np.allclose(out[mode][0][0], out[mode][0][1]) != stochastic, mode
  # Same keys, same logits.
  again = _run_modes(model, variables, x)
  np.testing.assert_array_equal(again["train"][0], out["train"][0])
  np.testing.assert_array_equal(again["mc"][0], out["mc"][0])


def test_dropout_placement_all_adds_block_sites():
  x, variables = _images("resnet_tiny"), _variables("resnet_tiny")
  head = models.create("resnet_tiny", dropout_rate=0.9, dropout_placement="head", mc_dropout=True)
  every = head.clone(dropout_placement="all")

  @jax.jit
  def both(variables, x, key):
    return [m.apply(variables, x, train=False, rngs={"dropout": key}) for m in (head, every)]

  # Same rng, same head mask; only "all" also perturbs the features before the head.
  a, b = both(variables, x, _key(0))
  assert not np.allclose(a, b)


def test_jit_train_step_and_bfloat16_compute():
  x = _images("cnn_tiny")
  model = models.create("cnn_tiny", dtype=jnp.bfloat16, dropout_rate=0.1)
  variables = _variables("cnn_tiny")
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(variables["params"]))

  @jax.jit
  def loss_fn(params, x, key):
    logits, _ = model.apply({**variables, "params": params}, x, train=True,
                            mutable=["batch_stats"], rngs={"dropout": key})
    assert logits.dtype == jnp.float32
    return jnp.mean(logits ** 2)

  grads = jax.grad(loss_fn)(variables["params"], x, _key(0))
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


def test_normalize_broadcasts_over_channels():
  x = jax.random.uniform(jax.random.key(0), (2, 4, 4, 3))
  np.testing.assert_allclose(layers.normalize(x, (0.5,), (0.25,)), (x - 0.5) / 0.25, rtol=1e-6)
  mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
  np.testing.assert_allclose(layers.normalize(x, mean, std),
                             (x - np.array(mean)) / np.array(std), rtol=1e-6)
  with pytest.raises(ValueError, match="mean must have length 1 or 3"):
    layers.normalize(x, (0.1, 0.2), (1.0,))
  with pytest.raises(ValueError, match="std entries must be > 0"):
    layers.normalize(x, (0.1,), (0.0,))


def test_normalization_lives_in_the_model():
  x, variables = _images("cnn_tiny"), _variables("cnn_tiny")
  model = models.create("cnn_tiny")
  shifted = model.clone(mean=(0.25,), std=(0.5,))
  both = jax.jit(lambda v, x: [m.apply(v, x, train=False) for m in (model, shifted)])
  a, b = both(variables, x)
  assert not np.allclose(a, b)


def test_unknown_name_lists_valid_names():
  with pytest.raises(ValueError, match="Unknown model 'resnet21'.*resnet20.*wrn_tiny"):
    models.create("resnet21")


def test_unknown_kwarg_names_it_and_the_model():
  with pytest.raises(ValueError, match="'cnn_tiny'.*no field.*widen_factor.*valid:.*widths"):
    models.create("cnn_tiny", widen_factor=2)
  assert "dropout_placement" in models.fields("wrn_tiny")


def test_list_kwargs_become_tuples_and_none_classes_means_ten():
  model = models.create("cnn_tiny", widths=[2, 4], num_classes=None)
  assert model.widths == (2, 4) and model.num_classes == 10


@pytest.mark.parametrize("bad,match", [
    (jnp.zeros((2, 8, 8)), "rank-4"),
    (jnp.zeros((2, 8, 8, 1), jnp.int32), "floating point"),
    (jnp.full((2, 8, 8, 1), 255.0), r"\[0, 1\]"),
])
def test_bad_inputs_raise_clear_errors(bad, match):
  model = models.create("cnn_tiny")
  with pytest.raises(ValueError, match=match):
    model.init(jax.random.key(0), bad, train=False)


def test_bad_rank_raises_under_jit_too():
  model = models.create("cnn_tiny")
  with pytest.raises(ValueError, match="rank-4"):
    jax.jit(lambda x: model.init(jax.random.key(0), x, train=False))(jnp.zeros((8, 8, 1)))


@pytest.mark.parametrize("name,kw,match", [
    ("cnn_tiny", dict(dropout_placement="middle"), "dropout_placement 'middle'; valid: all, head"),
    ("resnet_tiny", dict(dropout_rate=1.0), "dropout_rate must lie in"),
    ("cnn_tiny", dict(num_classes=0), "num_classes must be > 0"),
    ("cnn_tiny", dict(widths=()), "widths"),
    ("wide_resnet", dict(depth=27), "6n \\+ 4"),
    ("wrn_tiny", dict(block_dropout_rate=-0.1), "block_dropout_rate"),
    ("resnet_tiny", dict(shortcut="C"), "shortcut 'C'"),
    ("preact_resnet_tiny", dict(stage_sizes=(1, 1)), "same length"),
])
def test_bad_fields_raise_when_built(name, kw, match):
  with pytest.raises(ValueError, match=match):
    models.create(name, **kw)


def test_mean_std_length_is_checked_against_the_channels():
  model = models.create("resnet_tiny", mean=(0.1, 0.2))
  with pytest.raises(ValueError, match="mean must have length 1 or 3"):
    jax.eval_shape(lambda x: _init(model, x), _images("resnet_tiny"))


@pytest.mark.parametrize("conv_impl", ["xla", "im2col"])
def test_cnn_without_batch_norm_equals_conv_relu_pool_as_written(conv_impl):
  """The BN-free CNN's pooling stage is a layers.ConvReluPool: its variables and logits are
  those of conv (with bias) -> relu -> 2x2 max pool written out with lax and flax below."""
  model = models.create("cnn_tiny", use_batch_norm=False, conv_impl=conv_impl)
  x = jax.random.uniform(jax.random.key(0), (3, 8, 8, 1))
  variables = model.init(jax.random.key(1), x, train=False)
  p = jax.tree.map(lambda v: v + 0.05 * jax.random.normal(jax.random.key(2), v.shape),
                   variables["params"])
  conv = lambda z, q: jax.lax.conv_general_dilated(
      z, q["kernel"], (1, 1), ((1, 1), (1, 1)),
      dimension_numbers=("NHWC", "HWIO", "NHWC")) + q["bias"]

  def written(p, x):
    z = jax.nn.relu(conv((x - 0.5) / 0.25, p["conv0"]))
    z = jax.nn.relu(conv(nn.max_pool(z, (2, 2), strides=(2, 2)), p["conv1"]))  # 4x4: no pool
    return jnp.mean(z, axis=(1, 2)) @ p["head"]["kernel"] + p["head"]["bias"]

  assert set(p) == {"conv0", "conv1", "head"} and set(p["conv0"]) == {"kernel", "bias"}
  got, inter = model.apply({"params": p}, x, train=False, capture_intermediates=True,
                           mutable=["intermediates"])
  np.testing.assert_allclose(got, written(p, x), atol=1e-5)
  # conv0 is the fused stage (its output already pooled), not an nn.Conv followed by the pool.
  assert inter["intermediates"]["conv0"]["__call__"][0].shape == (3, 4, 4, 4)
  loss = lambda f: jax.grad(lambda p, x: jnp.sum(jnp.sin(3.0 * f(p, x))), (0, 1))
  ours = loss(lambda p, x: model.apply({"params": p}, x, train=False))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-4), ours(p, x),
               loss(written)(p, x))
  # On one input channel "xla" means ConvReluPool's "auto": conv0 runs as taps, no convolution.
  convs = str(jax.make_jaxpr(ours)(p, x)).count("conv_general_dilated[")
  assert convs == (3 if conv_impl == "xla" else 0)  # conv1: forward, input and kernel grads


def test_cnn_reaches_97_percent_on_digits():
  """~11 s of CPU: 30 epochs of AdamW on sklearn digits (80/20 stratified split)."""
  import optax
  from sklearn import datasets, model_selection
  digits = datasets.load_digits()
  images = (digits.images / 16.0).astype(np.float32)[..., None]
  x_tr, x_te, y_tr, y_te = model_selection.train_test_split(
      images, digits.target.astype(np.int32), test_size=0.2, stratify=digits.target,
      random_state=0)
  model = models.create("cnn")
  variables = model.init(jax.random.key(0), x_tr[:2], train=False)
  params, stats = variables["params"], variables["batch_stats"]
  epochs, batch = 30, 64
  steps = len(x_tr) // batch
  tx = optax.adamw(optax.cosine_decay_schedule(3e-3, epochs * steps), weight_decay=1e-4)
  opt = tx.init(params)

  @jax.jit
  def step(params, stats, opt, x, y):
    def loss_fn(p):
      logits, new = model.apply({"params": p, "batch_stats": stats}, x, train=True,
                                mutable=["batch_stats"])
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new
    (_, new), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt = tx.update(grads, opt, params)
    return optax.apply_updates(params, updates), new["batch_stats"], opt

  rng = np.random.default_rng(0)
  for _ in range(epochs):
    order = rng.permutation(len(x_tr))
    for i in range(steps):
      idx = order[i * batch:(i + 1) * batch]
      params, stats, opt = step(params, stats, opt, x_tr[idx], y_tr[idx])
  logits = jax.jit(lambda v, x: model.apply(v, x, train=False))(
      {"params": params, "batch_stats": stats}, x_te)
  assert np.mean(np.argmax(logits, -1) == y_te) >= 0.97

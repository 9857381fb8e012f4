"""Convolution as im2col + matmul (layers.Im2colConv) against flax's nn.Conv, and conv_impl."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from rvjax import models
from rvjax.models import layers


def _loss(module):
  # sin makes every output's cotangent distinct, so a wrong patch order shows in the gradients.
  return lambda variables, x: jnp.sum(jnp.sin(3.0 * module.apply(variables, x)))


@pytest.mark.parametrize("kernel,strides,padding,use_bias", [
    ((3, 3), (1, 1), 1, False),          # the models' 3x3 convs
    ((3, 3), (2, 2), 1, False),          # their stride-2 convs
    ((1, 1), (2, 2), 0, True),           # option-B projections
    ((3, 2), (2, 1), "SAME", True),      # non-square kernel and strides: catches a swapped (kh, kw)
    ((5, 3), (1, 3), "VALID", False),
    ((3, 3), (1, 2), ((2, 0), (1, 3)), True),  # asymmetric explicit padding
])
def test_im2col_conv_equals_flax_conv_values_and_gradients(kernel, strides, padding, use_bias):
  x = jax.random.uniform(jax.random.key(0), (2, 9, 7, 3))
  ref = nn.Conv(5, kernel, strides=strides, padding=padding, use_bias=use_bias)
  mine = layers.Im2colConv(5, kernel, strides=strides, padding=padding, use_bias=use_bias)
  variables = ref.init(jax.random.key(1), x)
  if use_bias:  # A non-zero bias, so a dropped bias shows.
    variables = jax.tree.map(lambda v: v + 0.1, variables)
  # Same parameter names and shapes: variables are interchangeable both ways.
  assert (jax.tree.map(jnp.shape, mine.init(jax.random.key(1), x))
          == jax.tree.map(jnp.shape, variables))
  want, got = ref.apply(variables, x), mine.apply(variables, x)
  assert got.shape == want.shape
  np.testing.assert_allclose(got, want, atol=1e-5)
  want_grads = jax.grad(_loss(ref), (0, 1))(variables, x)
  got_grads = jax.grad(_loss(mine), (0, 1))(variables, x)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-4), got_grads, want_grads)


def test_vmapped_im2col_conv_is_a_batched_matmul_not_a_grouped_conv():
  mine = layers.Im2colConv(4, (3, 3), padding=1, use_bias=False)
  x = jnp.ones((3, 2, 6, 6, 2))  # 3 members
  kernels = jnp.ones((3, 3, 3, 2, 4))
  apply = jax.vmap(lambda k, xm: mine.apply({"params": {"kernel": k}}, xm))
  text = str(jax.make_jaxpr(jax.grad(lambda k, x: jnp.sum(apply(k, x))))(kernels, x))
  assert "conv_general_dilated" not in text and "dot_general" in text
  ref = nn.Conv(4, (3, 3), padding=1, use_bias=False)
  want = jax.vmap(lambda k, xm: ref.apply({"params": {"kernel": k}}, xm))(kernels * 0.5, x)
  np.testing.assert_allclose(apply(kernels * 0.5, x), want, atol=1e-5)


@pytest.mark.parametrize("name,kw,shape", [
    ("cnn_tiny", {}, (2, 8, 8, 1)),
    ("resnet_tiny", dict(shortcut="B"), (2, 16, 16, 3)),  # stride-2 3x3 and 1x1 convs
    ("ibp_tiny", {}, (2, 8, 8, 1)),                         # biased, stride 2, no padding change
])
def test_conv_impl_config_reaches_the_model_and_keeps_its_logits(name, kw, shape):
  x = jax.random.uniform(jax.random.key(0), shape)
  config = ml_collections.ConfigDict({"name": name, "conv_impl": "im2col", "kwargs": kw})
  im2col = models.from_config(config)
  xla = models.create(name, **kw)
  assert im2col.conv_impl == "im2col" and xla.conv_impl == "xla"
  variables = xla.init(jax.random.key(1), x, train=False)
  assert (jax.tree.map(jnp.shape, im2col.init(jax.random.key(1), x, train=False))
          == jax.tree.map(jnp.shape, variables))
  want = xla.apply(variables, x, train=False)
  got = im2col.apply(variables, x, train=False)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  assert float(jnp.std(want)) > 1e-3  # Not trivially equal constants.


def test_conv_impl_defaults_and_bad_values():
  no_field = ml_collections.ConfigDict({"name": "cnn_tiny", "kwargs": {}})  # an older config
  assert models.from_config(no_field).conv_impl == "xla"
  with pytest.raises(ValueError, match="conv_impl"):
    models.create("cnn_tiny", conv_impl="fft")
  with pytest.raises(ValueError, match="conv_impl='xla' only"):
    models.create("sngp_cnn_tiny", conv_impl="im2col")
  image_model = ml_collections.ConfigDict({"name": "dncnn_tiny", "conv_impl": "im2col",
                                           "kwargs": {}})
  with pytest.raises(ValueError, match="has no field.*conv_impl"):
    models.from_config(image_model)

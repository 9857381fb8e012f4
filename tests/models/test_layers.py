"""layers.max_pool against flax.linen.max_pool (values, gradients, fallback, ties),
conv_general_dilated against lax, stored, ConvReluPool against conv -> relu -> pool as written, and
taps.taps_conv_pool against conv -> max_pool."""
from unittest import mock

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvjax.models import fast_conv, layers, taps


def _primitives(fn, x):
  """The jaxpr's text, nested calls included."""
  return str(jax.make_jaxpr(fn)(x))


def _value_and_grad(pool, x, cotangent):
  return jax.value_and_grad(lambda z: jnp.sum(pool(z) * cotangent))(x)


@pytest.mark.parametrize("shape, window, strides, fast", [
    ((3, 8, 12, 5), (2, 2), (2, 2), True),
    ((2, 9, 9, 4), (3, 3), (3, 3), True),
    ((2, 8, 6, 3), (2, 3), (2, 3), True),
    ((2, 7, 8, 3), (2, 2), (2, 2), False),   # H not divisible: flax's floor
    ((2, 8, 8, 3), (3, 3), (2, 2), False),   # overlapping windows
])
def test_max_pool_equals_flax_values_and_gradients(shape, window, strides, fast):
  """Catches a wrong reshape order (H/W or window axes swapped), a pool over the wrong axes,
  a gradient routed to the wrong entry, a fallback that mis-sizes the output, and a fast path
  that never runs (or runs on shapes it cannot handle)."""
  kx, kc = jax.random.split(jax.random.key(0))
  x = jax.random.normal(kx, shape)  # continuous: no ties
  ref_shape = nn.max_pool(x, window, strides=strides).shape
  cotangent = jax.random.normal(kc, ref_shape)
  ours = _value_and_grad(lambda z: layers.max_pool(z, window, strides), x, cotangent)
  ref = _value_and_grad(lambda z: nn.max_pool(z, window, strides=strides), x, cotangent)
  assert layers.max_pool(x, window, strides).shape == ref_shape
  np.testing.assert_allclose(ours[0], ref[0], atol=1e-6)
  np.testing.assert_allclose(ours[1], ref[1], atol=1e-6)
  prims = _primitives(lambda z: layers.max_pool(z, window, strides), x)
  assert ("reduce_window_max" not in prims) == fast
  assert ("reduce_max[" in prims) == fast


def test_max_pool_numpy_reference_and_ties_like_flax():
  """Values against a numpy loop; at ties the gradient goes to the window's first maximum, as
  flax's reduce_window gives it (catches jnp.max's even split: 1/4 each on a flat input)."""
  x = np.random.default_rng(0).random((1, 4, 6, 2)).astype(np.float32)
  ref = np.stack([[x[0, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max(axis=(0, 1)) for j in range(3)]
                  for i in range(2)])[None]
  np.testing.assert_array_equal(layers.max_pool(jnp.asarray(x), (2, 2), (2, 2)), ref)
  ties = jnp.asarray(np.random.default_rng(1).integers(0, 3, (2, 6, 8, 3)), jnp.float32)
  cotangent = jax.random.normal(jax.random.key(2), (2, 3, 4, 3))
  ours = _value_and_grad(lambda z: layers.max_pool(z, (2, 2), (2, 2)), ties, cotangent)[1]
  want = _value_and_grad(lambda z: nn.max_pool(z, (2, 2), strides=(2, 2)), ties, cotangent)[1]
  np.testing.assert_array_equal(ours, want)
  flat = jax.grad(lambda z: jnp.sum(layers.max_pool(z, (2, 2), (2, 2))))(jnp.ones((1, 4, 4, 1)))
  np.testing.assert_array_equal(flat[0, :, :, 0], np.tile([[1, 0], [0, 0]], (2, 2)))


def test_max_pool_rejects_non_nhwc():
  with pytest.raises(ValueError, match="NHWC"):
    layers.max_pool(jnp.zeros((4, 4, 1)), (2, 2), (2, 2))
  with pytest.raises(ValueError, match="2-D window"):
    layers.max_pool(jnp.zeros((1, 4, 4, 1)), (2,), (2,))
  with pytest.raises(ValueError, match=">= 1"):
    layers.max_pool(jnp.zeros((1, 4, 4, 1)), (2, 2), (0, 2))


@pytest.mark.parametrize("strides, padding, groups, dilation, features", [
    ((1, 1), "SAME", 1, None, (4, 6)),
    ((2, 2), ((1, 0), (2, 1)), 1, None, (3, 5)),  # uneven padding, Cin != Cout
    ((1, 2), "VALID", 2, (2, 1), (4, 6)),         # feature groups, kernel dilation
])
def test_conv_general_dilated_equals_lax(strides, padding, groups, dilation, features):
  """Values, both gradients, forward-mode and second-order derivatives equal lax's.
  Catches a wrong kernel transpose (swapping axes other than in/out, caught when Cin != Cout),
  dimension numbers left unswapped, a dropped tangent term (of x or of the kernel) and
  settings (strides, padding, groups, dilation) not passed to the gradient convolution."""
  cin, cout = features
  kx, kw, kc = jax.random.split(jax.random.key(1), 3)
  x = jax.random.normal(kx, (2, 9, 8, cin))
  w = jax.random.normal(kw, (3, 2, cin // groups, cout))

  def loss(conv):
    def f(x, w):
      out = conv(x, w, strides, padding, rhs_dilation=dilation,
                 dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups)
      return jnp.sum(jnp.sin(out) * jax.random.normal(kc, out.shape))
    return f

  ours, ref = loss(layers.conv_general_dilated), loss(jax.lax.conv_general_dilated)
  np.testing.assert_allclose(ours(x, w), ref(x, w), rtol=1e-6)
  for a, b in zip(jax.grad(ours, (0, 1))(x, w), jax.grad(ref, (0, 1))(x, w)):
    np.testing.assert_allclose(a, b, atol=1e-5)
  np.testing.assert_allclose(jax.jvp(ours, (x, w), (w.sum() * x, x.sum() * w))[1],
                             jax.jvp(ref, (x, w), (w.sum() * x, x.sum() * w))[1], rtol=1e-5)
  second = lambda f: jax.grad(lambda z: jnp.sum(jax.grad(f)(z, w) ** 2))(x)
  np.testing.assert_allclose(second(ours), second(ref), atol=1e-4)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU's conv layout pass")
def test_conv_input_gradient_in_loop_body_reads_kernel_in_standard_layout():
  """In a fori_loop body lax's input-gradient convolution keeps the swapped kernel layout
  ("01oi": XLA:CPU's slow generic emitter); ours reads it as "01io" (Eigen) and the loop's result
  equals lax's unrolled one. Catches a formulation XLA folds back into the swapped layout."""
  kx, kw = jax.random.split(jax.random.key(2))
  x = jax.random.uniform(kx, (2, 6, 6, 3))
  w = jax.random.normal(kw, (3, 3, 3, 4))

  def attack(conv, unroll):
    grad = jax.grad(lambda z: jnp.sum(jnp.tanh(conv(z, w, (1, 1), "SAME",
                                                    dimension_numbers=("NHWC", "HWIO", "NHWC")))))
    body = lambda _, z: jnp.clip(z + 0.01 * jnp.sign(grad(z)), 0, 1)
    return jax.jit(lambda z: jax.lax.fori_loop(0, 3, body, z, unroll=unroll)).lower(x).compile()

  swapped = lambda compiled: compiled.as_text().count("01oi->")
  ours = attack(layers.conv_general_dilated, False)
  assert swapped(attack(jax.lax.conv_general_dilated, False)) > 0
  assert swapped(ours) == 0
  np.testing.assert_allclose(ours(x), attack(jax.lax.conv_general_dilated, True)(x), atol=1e-6)


def test_stored_returns_its_input_with_an_identity_gradient():
  """Both branches of the conditional (the second, taken when the first element is NaN) return
  x, and the gradient passes through unchanged; off CPU the very same array comes back."""
  x = jax.random.normal(jax.random.key(3), (2, 3, 4))
  nan_first = x.at[0, 0, 0].set(jnp.nan)
  for value in (x, nan_first, jnp.zeros((0, 3)), x > 0, jnp.arange(5)):  # any dtype
    np.testing.assert_array_equal(jax.jit(fast_conv.stored)(value), value)
  cotangent = jax.random.normal(jax.random.key(4), x.shape)
  np.testing.assert_array_equal(jax.grad(lambda z: jnp.sum(fast_conv.stored(z) * cotangent))(x),
                                cotangent)
  with mock.patch.object(jax, "default_backend", lambda: "gpu"):
    assert fast_conv.stored(x) is x


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU's fusion")
def test_conv_kernel_gradient_reads_a_stored_input_on_cpu():
  """The compiled kernel gradient of a conv whose input is an elementwise chain keeps the
  conditional (XLA would drop one with identical branches and recompute the chain inside the
  transposing copy); an input gradient alone (an attack) has none. Catches `stored` dropped
  from the kernel tangent, branches XLA folds together, or a fence on the input gradient."""
  kx, kw = jax.random.split(jax.random.key(5))
  x = jax.random.normal(kx, (4, 8, 8, 3))
  w = jax.random.normal(kw, (3, 3, 3, 5))

  def loss(x, w):
    y = jax.nn.relu(x * 1.5 + 0.25)  # a producer XLA would fuse into the transposing copy
    out = layers.conv_general_dilated(y, w, (1, 1), "SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.sum(jnp.tanh(out))

  compiled = lambda argnum: jax.jit(jax.grad(loss, argnum)).lower(x, w).compile().as_text()
  assert "conditional(" in compiled(1)
  assert "conditional(" not in compiled(0)



def test_kernel_grad_chunks_are_the_most_that_divide_the_batch_and_keep_enough_rows():
  """The digits CNN's second conv (batch 256, 16x16) splits 8 ways, ResNet-20's last stage at
  batch 64 (8x8) not at all; every count divides the batch, keeps KERNEL_GRAD_MIN_ROWS rows per
  chunk and is the largest such up to KERNEL_GRAD_MAX_CHUNKS; off CPU or on several devices, 1.
  Catches a count that leaves a remainder, ignores the row floor or stops short of the largest
  divisor."""
  assert fast_conv.kernel_grad_chunks(256, 256) == 8
  assert fast_conv.kernel_grad_chunks(64, 64) == 1
  assert fast_conv.kernel_grad_chunks(64, 256) == 4
  assert fast_conv.kernel_grad_chunks(9, 4096) == 3
  rows = fast_conv.KERNEL_GRAD_MIN_ROWS
  for batch in range(1, 40):
    for positions in (1, 64, 1000, 4096, 9000):
      n = fast_conv.kernel_grad_chunks(batch, positions)
      fits = [m for m in range(1, fast_conv.KERNEL_GRAD_MAX_CHUNKS + 1)
              if batch % m == 0 and (m == 1 or batch // m * positions >= rows)]
      assert n == max(fits), (batch, positions, n)
  with mock.patch.object(jax, "default_backend", lambda: "gpu"):
    assert fast_conv.kernel_grad_chunks(256, 256) == 1
  with mock.patch.object(jax, "device_count", lambda: 2):
    assert fast_conv.kernel_grad_chunks(256, 256) == 1


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="chunks are for XLA:CPU only")
@pytest.mark.parametrize("numbers", [("NHWC", "HWIO", "NHWC"), ("HWCN", "OIHW", "NCHW")])
def test_chunked_kernel_gradient_equals_lax_one_convolution_per_chunk(numbers):
  """With the row floor lowered so that 6 images split 6 ways, the kernel gradient (and the
  forward-mode kernel derivative) equals lax's, for batch axes first and last, and compiles to
  one kernel-gradient convolution per chunk (plus the forward one); at the default floor, one.
  Catches a dropped or repeated chunk, slicing or concatenating along the wrong axis, and the
  chunking not reaching the compiled gradient."""
  kx, kw, kc = jax.random.split(jax.random.key(6), 3)
  x = jax.random.normal(kx, (6, 8, 8, 3))
  x = jnp.transpose(x, (1, 2, 3, 0)) if numbers[0] == "HWCN" else x
  w = jax.random.normal(kw, (3, 3, 3, 4))
  w = jnp.transpose(w, (3, 2, 0, 1)) if numbers[1] == "OIHW" else w

  def loss(conv):
    def f(w):
      out = conv(x, w, (1, 1), "SAME", dimension_numbers=numbers)
      return jnp.sum(jnp.sin(out) * jax.random.normal(kc, out.shape))
    return f

  convolutions = lambda: jax.jit(jax.grad(loss(layers.conv_general_dilated))).lower(
      w).compile().as_text().count(" convolution(")
  assert convolutions() == 2
  with mock.patch.object(fast_conv, "KERNEL_GRAD_MIN_ROWS", 64):
    assert fast_conv.kernel_grad_chunks(6, 64) == 6
    assert convolutions() == 7
    np.testing.assert_allclose(jax.grad(loss(layers.conv_general_dilated))(w),
                               jax.grad(loss(jax.lax.conv_general_dilated))(w), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(jax.jvp(loss(layers.conv_general_dilated), (w,), (w * 0.5,))[1],
                               jax.jvp(loss(jax.lax.conv_general_dilated), (w,), (w * 0.5,))[1],
                               rtol=1e-5)

class _Written(nn.Module):
  """nn.Conv (with bias) named "conv" -> relu -> max pool, in the order a user writes them."""
  kernel: tuple
  padding: object
  window: tuple

  @nn.compact
  def __call__(self, x):
    y = nn.Conv(5, self.kernel, padding=self.padding, name="conv")(x)
    return nn.max_pool(nn.relu(y), self.window, strides=self.window)


class _Fused(nn.Module):
  """The same stage as one `layers.ConvReluPool` named "conv"."""
  kernel: tuple
  padding: object
  window: tuple
  impl: str

  @nn.compact
  def __call__(self, x):
    return layers.ConvReluPool(5, self.kernel, padding=self.padding, window=self.window,
                               impl=self.impl, name="conv")(x)


@pytest.mark.parametrize("impl, shape, kernel, padding, window", [
    ("xla", (2, 8, 12, 3), (3, 3), 1, (2, 2)),
    ("im2col", (2, 8, 12, 3), (3, 3), 1, (2, 2)),
    ("xla", (2, 9, 9, 1), (3, 2), "SAME", (3, 3)),   # one input channel, non-square kernel
    ("xla", (2, 7, 9, 2), (3, 3), "VALID", (2, 2)),  # odd pooled size: flax's floor
])
def test_conv_relu_pool_equals_the_written_order(impl, shape, kernel, padding, window):
  """Same parameters (names, shapes, init values), values and gradients as conv -> relu -> pool.
  The bias has both signs, so relu clips whole windows and a dropped bias, a relu before the
  pool on unbiased values, or an average pool shows; the sin loss catches a wrong gradient."""
  kx, kb, kc = jax.random.split(jax.random.key(3), 3)
  x = jax.random.normal(kx, shape)
  ref, ours = _Written(kernel, padding, window), _Fused(kernel, padding, window, impl)
  variables = ref.init(jax.random.key(4), x)
  jax.tree.map(np.testing.assert_array_equal, ours.init(jax.random.key(4), x), variables)
  variables["params"]["conv"]["bias"] = 2.0 * jax.random.normal(kb, (5,))
  want, got = ref.apply(variables, x), ours.apply(variables, x)
  assert got.shape == want.shape and 0.1 < float(jnp.mean(want == 0)) < 0.9
  if impl == "xla":  # the same convolution: exactly equal (max commutes with rounding)
    np.testing.assert_array_equal(got, want)
  else:
    np.testing.assert_allclose(got, want, atol=1e-5)
  cotangent = jax.random.normal(kc, want.shape)
  grads = lambda m: jax.grad(lambda v, z: jnp.sum(jnp.sin(3.0 * m.apply(v, z)) * cotangent),
                             (0, 1))(variables, x)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-4), grads(ours),
               grads(ref))


def _shapes_of(primitive, fn, *args):
  """Output shapes of every `primitive` equation in fn's jaxpr, nested calls included."""
  shapes = []

  def walk(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == primitive:
        shapes.extend(v.aval.shape for v in eqn.outvars)
      for value in eqn.params.values():
        inner = getattr(value, "jaxpr", None)
        if inner is not None:
          walk(getattr(inner, "jaxpr", inner))
  walk(jax.make_jaxpr(fn)(*args).jaxpr)
  return shapes


def test_conv_relu_pool_adds_bias_and_applies_relu_on_the_pooled_map():
  """The point of the layer: no add, relu (max) or select on the full (N, H, W, F) conv output,
  in the forward pass or in the gradient; catches the written order behind the same name."""
  x = jnp.ones((2, 8, 8, 3))
  layer = layers.ConvReluPool(4, (3, 3), padding=1)
  params = layer.init(jax.random.key(0), x)
  grad = lambda p, z: jax.grad(lambda p: jnp.sum(layer.apply(p, z)))(p)
  for primitive in ("add", "max", "select_n"):
    assert (2, 8, 8, 4) not in _shapes_of(primitive, grad, params, x), primitive
  assert (2, 4, 4, 4) in _shapes_of("add", grad, params, x)
  with pytest.raises(ValueError, match="impl"):
    layers.ConvReluPool(4, (3, 3), impl="fft")
  with pytest.raises(ValueError, match=r"window \(0, 2\).*>= 1"):
    layers.ConvReluPool(4, (3, 3), window=(0, 2)).init(jax.random.key(0), x)


def _conv_then_pool(x, kernel, pads, window):
  y = jax.lax.conv_general_dilated(x, kernel, (1, 1), pads,
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
  return layers.max_pool(y, window, window)


@pytest.mark.parametrize("shape, kernel, pads, window", [
    ((3, 8, 12, 1), (3, 3), ((1, 1), (1, 1)), (2, 2)),
    ((2, 9, 8, 2), (2, 3), ((0, 1), (1, 1)), (3, 2)),   # uneven pads, non-square everything
    ((2, 12, 10, 1), (5, 5), ((0, 0), (0, 0)), (2, 2)),  # VALID, a kernel wider than 2 windows
])
def test_taps_conv_pool_equals_conv_then_pool_exactly(shape, kernel, pads, window):
  """Small integers make every sum exact in float32, so values, the input gradient and the
  kernel gradient must equal conv -> max_pool's bit for bit, ties included: inputs in {0, 1, 2}
  tie many windows, where both must send the gradient to the first maximum (row-major). A
  wrong tap offset, phase order, tie rule, shift in the input gradient or a dropped phase in
  the kernel gradient all show."""
  kx, kk, kg = jax.random.split(jax.random.key(0), 3)
  x = jax.random.randint(kx, shape, 0, 3).astype(jnp.float32)
  k = jax.random.randint(kk, (*kernel, shape[-1], 4), -2, 3).astype(jnp.float32)
  fused = jax.jit(lambda x, k: taps.taps_conv_pool(x, k, pads, window))
  want, vjp_want = jax.vjp(lambda x, k: _conv_then_pool(x, k, pads, window), x, k)
  got, vjp_got = jax.vjp(fused, x, k)
  np.testing.assert_array_equal(got, want)
  n, h, w, f = want.shape
  y = jax.lax.conv_general_dilated(x, k, (1, 1), pads, dimension_numbers=("NHWC", "HWIO", "NHWC"))
  y = y.reshape(n, h, window[0], w, window[1], f)
  tied = np.asarray((y == y.max(axis=(2, 4), keepdims=True)).sum(axis=(2, 4)) > 1)
  assert tied.mean() > 0.05  # windows whose maximum sits at two or more positions
  g = jax.random.randint(kg, want.shape, -3, 4).astype(jnp.float32)
  for a, b in zip(vjp_got(g), vjp_want(g)):
    np.testing.assert_array_equal(a, b)


def test_taps_conv_pool_on_floats_under_vmap_over_kernels():
  """Ensemble members (vmapped kernels) and float data: values and both gradients within
  float summation order of conv -> max_pool, member by member."""
  kx, kk = jax.random.split(jax.random.key(1))
  x = jax.random.uniform(kx, (4, 16, 16, 1))
  kernels = jax.random.normal(kk, (3, 3, 3, 1, 8))
  pads = ((1, 1), (1, 1))
  loss = lambda f: lambda k, x: jnp.sum(jnp.sin(3.0 * f(x, k, pads, (2, 2))))
  np.testing.assert_allclose(jax.vmap(lambda k: taps.taps_conv_pool(x, k, pads, (2, 2)))(kernels),
                             jax.vmap(lambda k: _conv_then_pool(x, k, pads, (2, 2)))(kernels),
                             atol=1e-5)
  got = jax.vmap(jax.grad(loss(taps.taps_conv_pool), (0, 1)), (0, None))(kernels, x)
  want = jax.vmap(jax.grad(loss(_conv_then_pool), (0, 1)), (0, None))(kernels, x)
  for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_conv_relu_pool_auto_takes_taps_for_gray_input_only():
  """impl "auto": no convolution at all for a 3x3 conv on one channel (forward or gradient),
  XLA's for three; "taps" where it cannot apply is a one-line error."""
  grad = lambda layer, x: (lambda p: jax.grad(lambda p: jnp.sum(layer.apply(p, x)))(p))
  for channels, convs in ((1, 0), (3, 2)):  # the forward conv and the kernel gradient's
    x = jnp.ones((2, 8, 8, channels))
    layer = layers.ConvReluPool(4, (3, 3), padding=1)
    params = layer.init(jax.random.key(0), x)
    assert len(_shapes_of("conv_general_dilated", grad(layer, x), params)) == convs
  x = jnp.ones((2, 8, 8, 1))
  with pytest.raises(ValueError, match=r"impl 'taps' needs strides \(1, 1\), got \(2, 2\)"):
    layers.ConvReluPool(4, (3, 3), strides=(2, 2), impl="taps").init(jax.random.key(0), x)
  with pytest.raises(ValueError, match="window that divides the conv output.*7x7"):
    layers.ConvReluPool(4, (3, 3), padding=0, impl="taps").init(
        jax.random.key(0), jnp.ones((2, 9, 9, 1)))
  with pytest.raises(ValueError, match="taps_conv_pool needs a window with 1 to 127"):
    taps.taps_conv_pool(x, jnp.ones((1, 1, 1, 2)), ((0, 0), (0, 0)), (8, 16))

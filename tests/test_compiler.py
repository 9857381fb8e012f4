"""compiler.gradient_options / gradient_jit: CPU-only options, same outputs as jax.jit."""
import jax
import jax.numpy as jnp
import numpy as np

from rvjax import compiler


def test_options_only_on_cpu():
  """Catches options leaking into a GPU/TPU compile (where an xla_cpu option is refused)."""
  assert compiler.gradient_options("cpu") == compiler.CPU_GRADIENT_OPTIONS
  assert compiler.CPU_GRADIENT_OPTIONS  # the CPU choice is not empty
  for backend in ("gpu", "cuda", "rocm", "tpu", "METAL"):
    assert compiler.gradient_options(backend) == {}
  assert compiler.gradient_options() == compiler.gradient_options(jax.default_backend())


def _conv_loss(x, w):
  y = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  return jnp.sum(jnp.tanh(y) ** 2)


def test_gradient_jit_matches_jax_jit_and_changes_the_cpu_program():
  """Same input and weight gradients (1e-4) as plain jit; on CPU the compiled program differs
  (catches options silently dropped), elsewhere it is the same program."""
  kx, kw = jax.random.split(jax.random.key(0))
  # Large enough for XLA:CPU to put the default program's convolutions in library fusions.
  x, w = jax.random.normal(kx, (4, 16, 16, 32)), 0.1 * jax.random.normal(kw, (3, 3, 32, 32))
  grad = jax.grad(_conv_loss, argnums=(0, 1))
  ours, ref = compiler.gradient_jit(grad), jax.jit(grad)
  for a, b in zip(ours(x, w), ref(x, w)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
  texts = [f.lower(x, w).compile().as_text() for f in (ours, ref)]
  assert (texts[0] != texts[1]) == (jax.default_backend() == "cpu")


def test_gradient_jit_passes_jit_arguments():
  f = compiler.gradient_jit(lambda x, n: x * n, static_argnums=1)
  assert float(f(jnp.float32(2.0), 3)) == 6.0


def test_gradient_jit_sends_large_reductions_to_the_library_on_cpu():
  """A batch-norm-sized reduction and its gradient: equal to plain jit (1e-4), and on CPU no
  reduce-window tree in the program (catches the reduction option dropped)."""
  x = jax.random.normal(jax.random.key(1), (64, 32, 32, 16))
  loss = lambda x: jnp.sum(jnp.mean(x * x, axis=(0, 1, 2)) ** 2)
  ours, ref = compiler.gradient_jit(jax.value_and_grad(loss)), jax.jit(jax.value_and_grad(loss))
  for a, b in zip(ours(x), ref(x)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  text = ours.lower(x).compile().as_text()
  assert ("reduce-window" in text) == (jax.default_backend() != "cpu")

r"""Convolution forward passes and weight gradients as XLA convolutions or as matmuls, on XLA:CPU.

  python benchmarks/conv_formulations.py [--repeats=5]

For the train-step convolutions of benchmarks/peers.py's digits CNN (batch 256: 32x32x1 -> 32,
16x16x32 -> 64) and a PreAct ResNet-18 stage-1 conv (batch 128: 32x32x64 -> 64), all 3x3 with
padding 1, it prints milliseconds and GFLOP/s of
  fwd  conv + relu (N, H, W, Cin) -> (N, H, W, F);
  dW   the weight gradient (3, 3, Cin, F) of sum(conv(x, k) * dy),
for three formulations, each compiled with `rvjax.compiler.gradient_jit` ("grad-opts", what
train steps use) and plain `jax.jit`:
  xla     `lax.conv_general_dilated` and its autodiff weight gradient (a convolution);
  im2col  patches (N, H, W, 9 Cin) of the padded input, then one matmul: patches @ k for the
          forward pass, patches^T @ dy (contracting N*H*W) for dW (layers.Im2colConv's form);
  shifts  nine matmuls of the shifted input, one per kernel tap: sum_t x_t @ k_t forward,
          dW_t = x_t^T @ dy, with no patch array.
Every formulation is checked against xla to 1e-4 (relative to the largest value) before timing.
Wall times on a shared machine; compare rows within one run.
"""
import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from rvjax import compiler  # noqa: E402

CASES = (("digits CNN conv0", (256, 32, 32, 1), 32), ("digits CNN conv1", (256, 16, 16, 32), 64),
         ("ResNet-18 stage 1", (128, 32, 32, 64), 64))


def _taps(x):
  """The nine (N, H, W, C) shifted views of the 1-padded x, in kernel order (row, column)."""
  _, h, w, _ = x.shape
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  return [xp[:, i:i + h, j:j + w, :] for i in range(3) for j in range(3)]


def xla_conv(x, k):
  return lax.conv_general_dilated(x, k, (1, 1), ((1, 1), (1, 1)),
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))


def im2col_conv(x, k):
  return jnp.concatenate(_taps(x), -1) @ k.reshape(-1, k.shape[-1])


def shifts_conv(x, k):
  return sum(t @ kt for t, kt in zip(_taps(x), k.reshape(9, *k.shape[2:])))


def xla_dw(x, dy):
  kernel = jnp.zeros((3, 3, x.shape[-1], dy.shape[-1]), x.dtype)
  return jax.vjp(lambda k: xla_conv(x, k), kernel)[1](dy)[0]


def _contract(a, dy):
  """a^T @ dy over all of N, H, W: (N, H, W, P), (N, H, W, F) -> (P, F)."""
  return lax.dot_general(a.reshape(-1, a.shape[-1]), dy.reshape(-1, dy.shape[-1]),
                          (((0,), (0,)), ((), ())))


def im2col_dw(x, dy):
  return _contract(jnp.concatenate(_taps(x), -1), dy).reshape(3, 3, x.shape[-1], -1)


def shifts_dw(x, dy):
  return jnp.stack([_contract(t, dy) for t in _taps(x)]).reshape(3, 3, x.shape[-1], -1)


FORMULATIONS = {"xla": (xla_conv, xla_dw), "im2col": (im2col_conv, im2col_dw),
                "shifts": (shifts_conv, shifts_dw)}


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()
  print(f"backend={jax.default_backend()} load={os.getloadavg()[0]:.1f}")
  print(f"{'case':18s} {'formulation':18s} {'fwd ms':>8s} {'GFLOP/s':>8s} {'dW ms':>8s} "
        f"{'GFLOP/s':>8s}")
  rng = np.random.default_rng(0)
  for name, shape, features in CASES:
    x = jnp.asarray(rng.random(shape, np.float32))
    k = jnp.asarray(rng.standard_normal((3, 3, shape[-1], features), np.float32))
    dy = jnp.asarray(rng.standard_normal(shape[:3] + (features,), np.float32))
    flops = 2 * np.prod(shape) * 9 * features
    ref_y, ref_dw = xla_conv(x, k), xla_dw(x, dy)
    for formulation, (conv, dw) in FORMULATIONS.items():
      for label, jit in (("grad-opts", compiler.gradient_jit), ("plain", jax.jit)):
        fwd, grad = jit(lambda x, k, c=conv: jax.nn.relu(c(x, k))), jit(dw)
        for got, want in ((fwd(x, k), jax.nn.relu(ref_y)), (grad(x, dy), ref_dw)):
          err = float(jnp.max(jnp.abs(got - want)) / jnp.max(jnp.abs(want)))
          if err > 1e-4:
            raise SystemExit(f"{name} {formulation}: relative error {err:.1e} against xla.")
        t_fwd = common.time_fn(fwd, x, k, repeats=args.repeats)
        t_dw = common.time_fn(grad, x, dy, repeats=args.repeats)
        print(f"{name:18s} {formulation + ' ' + label:18s} {t_fwd * 1e3:8.2f} "
              f"{flops / t_fwd / 1e9:8.1f} {t_dw * 1e3:8.2f} {flops / t_dw / 1e9:8.1f}", flush=True)


if __name__ == "__main__":
  main()

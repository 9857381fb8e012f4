"""XLA compiler options for gradient-heavy programs (attacks, train steps), chosen per backend.

On XLA:CPU (jax 0.10.2) convolutions go by default into fused library calls (YNNPACK fusions):
fast for the forward pass, slow for the convolutions of a gradient (input and weight
gradients). The option `xla_cpu_experimental_ynn_fusion_type` set to
`LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE` (the command-line flag
`--xla_cpu_experimental_ynn_fusion_type=individual_dot,reduce`) keeps only dots and reductions
in those calls: convolutions go to Eigen, which is faster for gradients and slower for a forward
pass alone (benchmarks/peers.py measures both), and reductions (batch-norm statistics and their
gradients, bias gradients) to YNNPACK, where XLA:CPU would otherwise rewrite each large
reduction into a tree of reduce-windows on a slow generic emitter: PreAct ResNet-18's train step
(batch 128) 2.89 -> 2.29 s, the digits CNN's 114 -> 91 ms, with ResNet-20's parameter gradient
closer to a float64 reference (relative L2 error 5e-5 against 2e-3 with dots alone). So programs
that differentiate through a network (attacks, train steps) compile with `gradient_jit`;
evaluation keeps `jax.jit`. Outputs agree to float rounding (1e-4 checked in tests). Other
backends get no options: an xla_cpu option in a GPU or TPU compile would be refused, so the
decision is made per backend.
"""
from typing import Callable

import jax

CPU_GRADIENT_OPTIONS = {
    "xla_cpu_experimental_ynn_fusion_type":
        "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"}


def gradient_options(backend: str | None = None) -> dict[str, str]:
  """Compiler options for gradient-heavy programs on `backend` (default: jax's default backend).

  Returns `CPU_GRADIENT_OPTIONS` for "cpu", {} for any other backend ("gpu", "cuda", "tpu", ...).
  """
  backend = jax.default_backend() if backend is None else backend
  return dict(CPU_GRADIENT_OPTIONS) if backend == "cpu" else {}


def gradient_jit(fun: Callable, **jit_kwargs) -> Callable:
  """`jax.jit(fun, **jit_kwargs)` compiled with `gradient_options()` of the default backend.

  For attacks and train steps (programs dominated by gradients of convolutions), not for
  evaluation-only forward passes.
  """
  return jax.jit(fun, compiler_options=gradient_options() or None, **jit_kwargs)

r"""Where the digits-CNN train step's time goes on XLA:CPU, per compiler option set, next to torch.

  python benchmarks/train_step_breakdown.py [--repeats=20]

For benchmarks/peers.py's digits CNN (batch 256 at 32x32, identical weights) it prints the
milliseconds of the forward loss and of its parameter gradient (forward + backward), compiled
with each set of XLA:CPU options below, then torch's forward (no_grad) and forward + backward.
Every gradient is checked against the default compile's to 1e-4 (relative to its largest value).

  default          jax.jit as is: convolutions in fused YNNPACK calls (fast forward pass);
  individual_dot   LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT: convolutions to Eigen (fast gradient
                   convolutions, slower forward);
  gradient         `rvjax.compiler.CPU_GRADIENT_OPTIONS`, what attacks and train steps use:
                   individual_dot plus reductions in YNNPACK (no reduce-window trees);
  individual_conv  LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION;
  onednn           xla_cpu_use_onednn=True.

Quiet-machine figures go in docs/results.md; under load only same-run ratios mean anything.
"""
import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common, peers  # noqa: E402
from rvjax import compiler  # noqa: E402

OPTIONS = {
    "default": {},
    "individual_dot": {"xla_cpu_experimental_ynn_fusion_type":
                       "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"},
    "gradient": compiler.CPU_GRADIENT_OPTIONS,
    "individual_conv": {"xla_cpu_experimental_ynn_fusion_type":
                        "LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION"},
    "onednn": {"xla_cpu_use_onednn": True},
}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=20)
  args = parser.parse_args()
  import torch
  print(f"backend={jax.default_backend()} load={os.getloadavg()[0]:.1f} "
        f"torch threads={torch.get_num_threads()}")
  x, y = peers.digits("train", 256)
  model = peers.DigitsCNN()
  params = model.init(jax.random.key(0), x[:1])["params"]
  images, labels = jnp.asarray(x), jnp.asarray(y)

  def loss(p):
    logits = model.apply({"params": p}, images)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

  reference = jax.jit(jax.grad(loss))(params)
  print(f"{'XLA options':16s} {'forward ms':>10s} {'fwd+bwd ms':>10s}")
  for name, options in OPTIONS.items():
    forward = jax.jit(loss, compiler_options=options or None)
    gradient = jax.jit(jax.grad(loss), compiler_options=options or None)
    got = gradient(params)
    err = max(float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
              for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(reference)))
    if err > 1e-4:
      raise SystemExit(f"{name}: gradient differs from the default compile's by {err:.1e}.")
    t_fwd = common.time_fn(forward, params, repeats=args.repeats)
    t_grad = common.time_fn(gradient, params, repeats=args.repeats)
    print(f"{name:16s} {t_fwd * 1e3:10.1f} {t_grad * 1e3:10.1f}", flush=True)

  net = peers.torch_cnn(params).train()
  xt, yt = peers.to_torch(x), torch.from_numpy(y.astype(np.int64))

  def torch_forward():
    with torch.no_grad():
      torch.nn.functional.cross_entropy(net(xt), yt)

  def torch_gradient():
    net.zero_grad()
    torch.nn.functional.cross_entropy(net(xt), yt).backward()

  times = {name: peers.torch_time(fn, args.repeats)
           for name, fn in (("forward", torch_forward), ("fwd+bwd", torch_gradient))}
  print(f"{'torch':16s} {times['forward'] * 1e3:10.1f} {times['fwd+bwd'] * 1e3:10.1f}")


if __name__ == "__main__":
  main()

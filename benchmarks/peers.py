r"""rvjax against the PyTorch tools, in one process, on identical weights and inputs.

  pip install -e ".[bench]"     # torch, torchvision, torchattacks, imagecorruptions
  python benchmarks/peers.py [--quick] [--sections=attacks,train,gflops,corruptions,ensembles]
                             [--torch_threads=2] [--no-keep_freed_memory]

Sections (`SECTIONS`; each prints its own lines, compile time excluded, median of the repeats):
  attacks  PGD-10 (linf 8/255, step 2/255, uniform random start, last iterate: torchattacks'
           PGD exactly), APGD-CE (100 steps; 20 with --quick) and FGSM (8/255) of rvjax and
           torchattacks on the digits CNN at 32x32 (conv 32 -> pool -> conv 64 -> pool ->
           dense 128 -> dense 10, trained here for a few seconds) and 256 test digits: images/s,
           the ratio rvjax / torch, robust accuracy of each and the fraction of examples on which
           they agree (robust or not). The random starts come from each library's own generator,
           so PGD and APGD agree in distribution, not pixel by pixel; FGSM is deterministic.
           rvjax is timed compiled with `gradient_jit` and with plain `jax.jit`. The CNN's stages
           are `layers.ConvReluPool` (impl "auto", as the zoo's): the first, on one input
           channel, runs as `taps.taps_conv_pool`, the second's conv as
           `layers.conv_general_dilated`, whose input gradient stays fast in APGD's rolled loop.
  train    one SGD (momentum 0.9) step of the same CNN on the same batch: rvjax's
           `compile_train_step` (ERM) against a torch step; steps/s, ratio, and the largest
           parameter difference after one step from identical weights. rvjax is timed with its
           `layers.ConvReluPool` stages (compiled by `gradient_jit` and by plain `jax.jit`) and
           with the stages as written (conv -> relu -> pool, `gradient_jit`).
  gflops   the ERM train-step GFLOP/s (XLA's FLOP count of the step as written, over the step time)
           of the digits CNN (also as written, see train) and
           PreAct ResNet-18 (32x32x3) as a fraction of a float32 jnp matmul measured in the same
           run; with `gradient_jit`'s compiler options (what rvjax uses) and plain `jax.jit`.
           The matmul and the steps are timed interleaved, each once per round, and each
           figure is the fastest of the rounds (`common.fastest_interleaved`): on a shared
           host the matmul's speed swings far more than the steps': medians of 5 calls each,
           taken round after round in one process, gave the digits CNN shares of 34-58%.
  corruptions  the 19 corruptions against imagecorruptions at 32 and 224 px
           (benchmarks/corruption_throughput.py's table: images/s, ratio, CPU-time ratio).
  ensembles  a K-member ensemble train step against K single steps, K = 2, 4, 8, per
           formulation (benchmarks/ensemble_throughput.py, run as a process of its own with
           this run's --keep_freed_memory; no PyTorch peer).
The logits of the two copies of the CNN are checked to agree to 1e-4 before anything is timed.
The process first calls `rvjax.host_memory.keep_freed_memory()`, as the launch scripts do
(`--no-keep_freed_memory` leaves glibc's defaults); it is process-wide, so torch's buffers are
reused as well.
Times are wall times on whatever else the machine is doing: compare only within one run.
"""
import argparse
import os
import subprocess
import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common, corruption_throughput  # noqa: E402
from rvjax import attacks, compiler, data, host_memory, models, objectives, sharding  # noqa: E402
from rvjax.models import layers  # noqa: E402
from rvjax.train import optim, replicas, state as state_lib, step as step_lib  # noqa: E402

EPS, ALPHA, SIZE, LR, MOMENTUM = 8 / 255, 2 / 255, 32, 0.01, 0.9


class DigitsCNN(nn.Module):
  """conv3x3(32) -> relu -> pool -> conv3x3(64) -> relu -> pool -> dense 128 -> relu -> dense 10.

  Each conv -> relu -> pool stage is one `layers.ConvReluPool` (pool before bias and relu: same
  parameters and values, what rvjax's models use; impl "auto" computes the first stage, on the
  gray input, from taps without its full-resolution conv output), or with `as_written=True`
  nn.Conv, relu and `layers.max_pool` in the order written (and in torch's copy).
  """
  as_written: bool = False

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    del train
    for i, width in enumerate((32, 64)):
      if self.as_written:
        x = nn.relu(nn.Conv(width, (3, 3), padding=1, name=f"conv{i}",
                            conv_general_dilated=layers.conv_general_dilated)(x))
        x = layers.max_pool(x, (2, 2), (2, 2))
      else:
        x = layers.ConvReluPool(width, (3, 3), padding=1, name=f"conv{i}")(x)
    x = nn.relu(nn.Dense(128, name="dense0")(x.reshape(x.shape[0], -1)))
    return nn.Dense(10, name="dense1")(x)


def torch_cnn(params):
  """The same network in torch (NCHW), holding `params` (flax HWIO / (in, out) layouts)."""
  import torch
  net = torch.nn.Sequential(
      torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
      torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
      torch.nn.Flatten(), torch.nn.Linear(64 * (SIZE // 4) ** 2, 128), torch.nn.ReLU(),
      torch.nn.Linear(128, 10))
  p = jax.tree.map(np.asarray, params)
  side = SIZE // 4
  # flax flattens (h, w, c), torch (c, h, w): reorder the first dense layer's input rows.
  dense0 = p["dense0"]["kernel"].reshape(side, side, 64, 128).transpose(2, 0, 1, 3)
  weights = [p["conv0"]["kernel"].transpose(3, 2, 0, 1), p["conv0"]["bias"],
             p["conv1"]["kernel"].transpose(3, 2, 0, 1), p["conv1"]["bias"],
             dense0.reshape(-1, 128).T, p["dense0"]["bias"],
             p["dense1"]["kernel"].T, p["dense1"]["bias"]]
  with torch.no_grad():
    for param, w in zip(net.parameters(), weights):
      param.copy_(torch.from_numpy(np.array(w, np.float32)))
  return net.eval()


def to_torch(x):
  import torch
  return torch.from_numpy(np.array(np.asarray(x).transpose(0, 3, 1, 2)))


def digits(split, num):
  """(num, 32, 32, 1) digits in [0, 1] (8x8 upsampled 4x, nearest) and int32 labels."""
  ds = data.load("digits", split)
  x = np.repeat(np.repeat(ds.images[:num], SIZE // 8, 1), SIZE // 8, 2)
  return x.astype(np.float32), ds.labels[:num].astype(np.int32)


def victim(quick):
  """The CNN trained with Adam on the digits train split (seconds); params and test data."""
  model = DigitsCNN()
  x, y = digits("train", None)
  params = model.init(jax.random.key(0), x[:1])["params"]
  tx = optax.adam(3e-3)

  @jax.jit
  def step(params, opt, xb, yb):
    loss = lambda p: optax.softmax_cross_entropy_with_integer_labels(
        model.apply({"params": p}, xb), yb).mean()
    updates, opt = tx.update(jax.grad(loss)(params), opt)
    return optax.apply_updates(params, updates), opt

  opt, rng = tx.init(params), np.random.default_rng(0)
  for _ in range(60 if quick else 200):
    idx = rng.integers(0, len(x), 64)
    params, opt = step(params, opt, x[idx], y[idx])
  return model, params


def check_logits(model, params, net, x):
  import torch
  ours = np.asarray(model.apply({"params": params}, x))
  with torch.no_grad():
    theirs = net(to_torch(x)).numpy()
  diff = float(np.abs(ours - theirs).max())
  print(f"logits: max |rvjax - torch| = {diff:.2e} over {x.shape[0]} images")
  if diff > 1e-4:
    raise SystemExit("The two copies of the CNN disagree; nothing timed.")


def torch_time(fn, repeats):
  fn()
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t)
  return sorted(times)[len(times) // 2]


def section_attacks(args):
  import torch
  import torchattacks
  model, params = victim(args.quick)
  net = torch_cnn(params)
  x, y = digits("test", args.batch_size)
  check_logits(model, params, net, x)
  logits_fn = lambda p: (lambda z: model.apply({"params": p}, z))
  apgd_steps = 20 if args.quick else 100
  key = jax.random.key(0)
  ours = {
      "PGD-10": lambda p, x, y: attacks.pgd(logits_fn(p), x, y, key=key, eps=EPS,
                                            step_size=ALPHA, steps=10, select="last"),
      f"APGD-CE-{apgd_steps}": lambda p, x, y: attacks.apgd(logits_fn(p), x, y, key=key,
                                                             eps=EPS, steps=apgd_steps),
      "FGSM": lambda p, x, y: attacks.fgsm(logits_fn(p), x, y, eps=EPS),
  }
  torch.manual_seed(0)
  theirs = {
      "PGD-10": torchattacks.PGD(net, eps=EPS, alpha=ALPHA, steps=10, random_start=True),
      f"APGD-CE-{apgd_steps}": torchattacks.APGD(net, norm="Linf", eps=EPS, steps=apgd_steps,
                                                 n_restarts=1, loss="ce", seed=0),
      "FGSM": torchattacks.FGSM(net, eps=EPS),
  }
  xt, yt = to_torch(x), torch.from_numpy(y.astype(np.int64))
  n = x.shape[0]
  print(f"{'attack':14s} {'rvjax jit':12s} {'rvjax img/s':>11s} {'torch img/s':>11s} "
        f"{'ratio':>6s} {'robust acc rvjax':>16s} {'torch':>6s} {'agree':>6s}")
  for name, fn in ours.items():
    adv = {}
    t_theirs = torch_time(lambda: adv.__setitem__("x", theirs[name](xt, yt)), args.repeats)
    with torch.no_grad():
      robust_theirs = net(adv["x"]).argmax(-1).numpy() == y
    for label, jit in (("gradient_jit", compiler.gradient_jit), ("jax.jit", jax.jit)):
      jitted = jit(fn)
      t_ours = common.time_fn(jitted, params, x, y, repeats=args.repeats)
      robust_ours = np.asarray(jnp.argmax(model.apply({"params": params},
                                                      jitted(params, x, y)), -1)) == y
      print(f"{name:14s} {label:12s} {n / t_ours:11.1f} {n / t_theirs:11.1f} "
            f"{t_theirs / t_ours:6.2f} {robust_ours.mean():16.3f} {robust_theirs.mean():6.3f} "
            f"{np.mean(robust_ours == robust_theirs):6.3f}", flush=True)


def section_train(args):
  import torch
  model = DigitsCNN()
  x, y = digits("train", args.batch_size)
  params = model.init(jax.random.key(0), x[:1])["params"]
  net = torch_cnn(params).train()
  check_logits(model, params, net, x)
  tx = rvjax_sgd()
  fresh = lambda: jax.tree.map(jnp.copy, params)  # the steps donate their state
  init = lambda: state_lib.TrainState(step=jnp.zeros((), jnp.int32), params=fresh(),
                                      model_state={}, opt_state=tx.init(fresh()),
                                      temperature=jnp.ones((), jnp.float32))
  batch = {"image": jnp.asarray(x), "label": jnp.asarray(y),
           "mask": jnp.ones(len(y), jnp.float32)}
  rng = jax.random.key(1)
  results, firsts = {}, {}
  for label, variant, jit in (("gradient_jit", model, None),
                              ("as written", DigitsCNN(as_written=True), None),
                              ("jax.jit", model, jax.jit)):
    objective = objectives.create("erm", variant.apply)
    step = step_lib.compile_train_step(objective, tx) if jit is None else jit(
        lambda s, b, k, objective=objective: step_lib.train_step(s, b, k, objective=objective,
                                                                 tx=tx),
        donate_argnums=0)
    state = step(init(), batch, rng)[0]
    jax.block_until_ready(state)
    firsts[label] = jax.tree.map(np.asarray, state.params)
    times = []
    for _ in range(args.repeats):
      t = time.perf_counter()
      state = jax.block_until_ready(step(state, batch, rng)[0])
      times.append(time.perf_counter() - t)
    results[label] = sorted(times)[len(times) // 2]

  opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
  xt, yt = to_torch(x), torch.from_numpy(y.astype(np.int64))

  def torch_step():
    opt.zero_grad()
    torch.nn.functional.cross_entropy(net(xt), yt).backward()
    opt.step()

  torch_step()
  print(f"train step (SGD, batch {len(y)}): max |param diff| after one step, against torch:")
  for label, first in firsts.items():
    after = torch_cnn(first)
    diff = max(float((a.detach() - b.detach()).abs().max())
               for a, b in zip(net.parameters(), after.parameters()))
    print(f"  {label:13s} {diff:.2e}")
  t_torch = torch_time(torch_step, args.repeats)
  for label, t in results.items():
    print(f"  rvjax {label:13s} {1 / t:8.2f} steps/s; torch {1 / t_torch:8.2f} steps/s; "
          f"ratio {t_torch / t:5.2f}", flush=True)


def rvjax_sgd():
  """rvjax's optimizer for plain SGD (LR, MOMENTUM, no weight decay, constant schedule)."""
  opt = ml_collections.ConfigDict(dict(name="sgd", lr=LR, momentum=MOMENTUM, nesterov=False,
                                       b1=0.9, b2=0.999, weight_decay=0.0, grad_clip_norm=0.0,
                                       groups=(("all", ".*"),)))
  return optim.make_optimizer(opt, ml_collections.ConfigDict({"name": "constant"}), 1000)


def _erm_step(model, shape, jit):
  """(jitted ERM SGD step, its arguments) for `model` on a random batch of `shape`."""
  mesh = sharding.make_mesh()
  tx = rvjax_sgd()
  state = replicas.Single().create_state(state_lib.init_fn(model, tx, shape), jax.random.key(0),
                                         mesh)
  rng = np.random.default_rng(0)
  batch = sharding.put_batch({"image": rng.random(shape, np.float32),
                              "label": rng.integers(0, 10, shape[0]).astype(np.int32),
                              "mask": np.ones(shape[0], np.float32)},
                             sharding.batch_sharding(mesh))
  objective = objectives.create("erm", model.apply)
  step = jit(lambda s, b, k: step_lib.train_step(s, b, k, objective=objective, tx=tx))
  return step, (state, batch, jax.random.key(1))


def section_gflops(args):
  """GFLOP/s = the FLOPs XLA counts for the step as written (conv -> relu -> pool: the network's
  work, the same for every formulation; taps_conv_pool's matmuls would count more) over the
  step time of each formulation."""
  digits = (args.batch_size, SIZE, SIZE, 1)
  resnet = models.create("preact_resnet18", num_classes=10)
  cases = (("digits CNN", DigitsCNN(), digits, DigitsCNN(as_written=True)),
           ("(as written)", DigitsCNN(as_written=True), digits, DigitsCNN(as_written=True)),
           ("preact_resnet18", resnet, (32 if args.quick else 128, 32, 32, 3), resnet))
  matmul, a, matmul_flops = common.matmul_peak_case()
  rows, calls, flops = [], [(matmul, (a,))], [matmul_flops]
  for name, model, shape, written in cases:
    step, step_args = _erm_step(written, shape, jax.jit)
    written_flops = common.compiled_flops(step, *step_args)
    for label, jit in (("gradient_jit", compiler.gradient_jit), ("jax.jit", jax.jit)):
      rows.append(f"{name:16s} batch {shape[0]:4d} {label:13s}")
      calls.append(_erm_step(model, shape, jit))
      flops.append(written_flops)
  gflops = [f / t / 1e9 for f, t in zip(flops, common.fastest_interleaved(calls, args.repeats))]
  peak = gflops[0]
  print(f"matmul peak (float32 2048^2 jnp.dot): {peak:.1f} GFLOP/s; each figure is the fastest "
        f"of {args.repeats} rounds, every round timing the matmul and each step once")
  for row, rate in zip(rows, gflops[1:]):
    print(f"  {row} {rate:7.1f} GFLOP/s = {rate / peak:6.1%} of peak", flush=True)


def section_corruptions(args):
  corruption_throughput.run(quick=args.quick)


def section_ensembles(args):
  """benchmarks/ensemble_throughput.py in a process of its own (a fresh heap, and its single
  step timed before any K-member step), with this run's --keep_freed_memory."""
  sys.stdout.flush()
  script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ensemble_throughput.py")
  options = (["--quick"] if args.quick else []) + (
      [] if args.keep_freed_memory else ["--no-keep_freed_memory"])
  subprocess.run([sys.executable, script] + options, check=True)


SECTIONS = {"attacks": section_attacks, "train": section_train, "gflops": section_gflops,
            "corruptions": section_corruptions, "ensembles": section_ensembles}


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--quick", action="store_true", help="Fewer steps and repeats.")
  parser.add_argument("--sections", default=",".join(SECTIONS),
                      help=f"Comma-separated subset of {', '.join(SECTIONS)}.")
  parser.add_argument("--batch_size", type=int, default=256)
  parser.add_argument("--torch_threads", type=int, default=2)
  parser.add_argument("--keep_freed_memory", action=argparse.BooleanOptionalAction, default=True,
                      help="rvjax.host_memory.keep_freed_memory() first, as the launch scripts "
                      "do (process-wide: torch's buffers are reused too).")
  parser.add_argument("--repeats", type=int, default=0,
                      help="Timed calls per function (default 1 with --quick, else 5).")
  args = parser.parse_args()
  kept = args.keep_freed_memory and host_memory.keep_freed_memory()
  names = [s for s in args.sections.split(",") if s]
  unknown = sorted(set(names) - set(SECTIONS))
  if unknown:
    parser.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}.")
  import torch
  torch.set_num_threads(args.torch_threads)
  args.repeats = args.repeats or (1 if args.quick else 5)
  print(f"backend={jax.default_backend()} cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} "
        f"torch {torch.__version__} threads={torch.get_num_threads()} "
        f"gradient options={compiler.gradient_options()} keep_freed_memory={kept}")
  for name in names:
    print(f"== {name}")
    SECTIONS[name](args)


if __name__ == "__main__":
  main()

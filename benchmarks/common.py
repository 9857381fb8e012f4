"""Helpers shared by the benchmark scripts (timing, config loading; not part of the package)."""
import time

import jax
import jax.numpy as jnp


def time_fn(fn, *args, repeats: int = 5, warmup: int = 1) -> float:
  """Median wall seconds of `fn(*args)` after `warmup` calls (compile excluded)."""
  for _ in range(warmup):
    jax.block_until_ready(fn(*args))
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t)
  return sorted(times)[len(times) // 2]


def matmul_peak_case(n: int = 2048):
  """(jitted float32 (n x n) @ (n x n) jnp matmul, its argument, its FLOPs): the peak probe."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  return jax.jit(lambda x: x @ x), a, 2.0 * n ** 3


def fastest_interleaved(calls, rounds: int) -> list[float]:
  """Smallest wall seconds of each `(fn, args)` in `calls` over `rounds` rounds, each round
  calling every one once (after one warm-up call each, which compiles).

  Interleaving exposes every call to the same slow and quiet spells of a shared host, and the
  fastest call of each is its speed with the least interference: ratios of these are stable
  where a median measured minutes apart from another is not.
  """
  if rounds < 1:
    raise ValueError(f"rounds must be at least 1, got {rounds}")
  for fn, args in calls:
    jax.block_until_ready(fn(*args))
  best = [float("inf")] * len(calls)
  for _ in range(rounds):
    for i, (fn, args) in enumerate(calls):
      t = time.perf_counter()
      jax.block_until_ready(fn(*args))
      best[i] = min(best[i], time.perf_counter() - t)
  return best


def compiled_flops(jitted, *args) -> float:
  """FLOPs XLA counts for one call of `jitted(*args)` (cost analysis of the compiled program)."""
  cost = jitted.lower(*args).compile().cost_analysis()
  if isinstance(cost, list):
    cost = cost[0]
  return float(cost.get("flops", float("nan")))


def load_config(spec: str):
  """The config of a `--config` value "configs/<file>.py[:arg]", as launch.train builds it."""
  import importlib.util
  path, _, arg = spec.partition(":")
  module_spec = importlib.util.spec_from_file_location("benchmark_config", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None)


def describe_run(workdir: str) -> str:
  """One line naming a launch.train run: its model, steps, wall time and, for a game with a
  perceptual loss, the feature network it used ("objective/features")."""
  from rvjax.report import records
  from rvjax.train import workdir as workdir_lib, writers
  config = workdir_lib.load_config(workdir)
  values, steps = records.latest(writers.read_metrics(workdir))
  trained = steps.get("summary/wall_time_s", "?")  # The run's last record, at its last step.
  text = (f"{workdir}: {config.model.name}, {trained} steps of "
          f"batch {config.batch_size}, {values.get('summary/wall_time_s', float('nan')):.0f} s "
          "wall (launch.train, shared machine)")
  if "objective/features" in values:
    text += f"; feature network: {values['objective/features']}"
  return text

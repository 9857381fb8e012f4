"""host_memory.keep_freed_memory: XLA:CPU's per-call buffers reuse pages, not new maps."""
import platform
import subprocess
import sys

import pytest

from rvjax import host_memory

# Calls a jitted program whose output of argv[2] MiB is deleted after each call, 20 times, and
# prints whether the malloc settings were applied, then for each of the last 10 calls (the
# first ones grow the heap) its minor page faults.
PROGRAM = """
import resource, sys
from rvjax import host_memory
applied = host_memory.keep_freed_memory() if sys.argv[1] == "keep" else None
import jax, jax.numpy as jnp
f = jax.jit(lambda x: x * 2 + 1)
x = jnp.zeros((int(sys.argv[2]) * 64, 4096), jnp.float32)
calls = []
for i in range(20):
  before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  f(x).block_until_ready().delete()
  calls.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(applied, *calls[10:])
"""


def _faults(mode, mib):
  """Runs PROGRAM; returns (applied, [page faults per call as a fraction of the output's])."""
  out = subprocess.run([sys.executable, "-c", PROGRAM, mode, str(mib)], capture_output=True,
                       text=True, check=True, env={"JAX_PLATFORMS": "cpu", "PATH": ""})
  applied, *calls = out.stdout.split()
  return applied, [int(faults) / (mib * 256) for faults in calls]


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="glibc malloc only")
def test_freed_buffers_are_reused_without_page_faults():
  """A 48 MiB output (above glibc's largest dynamic mmap threshold, 32 MiB) is a fresh map on
  every call without the settings, faulting in all its pages; with them it comes from a malloc
  heap, and calls reuse an earlier output's pages. Not all of them: under load a buffer can be
  freed only after the next call's allocation, so the heap still grows now and then. A 128 MiB
  output stays a fresh map per call with them too: above a worker arena's 64 MiB heaps, and no
  single arena (M_ARENA_MAX = 1) that would serve it, because that one slowed ensemble steps and
  every program after them (rvjax/host_memory.py). Catches a dropped mmap threshold (48 MiB
  mapped per call), a dropped trim threshold (the freed heap top returned, then faulted in
  again) and a reinstated single arena."""
  applied, calls = _faults("system", 48)
  assert applied == "None"
  assert all(share >= 0.9 for share in calls), calls
  applied, calls = _faults("keep", 48)
  assert applied == "True"
  assert sum(share < 0.05 for share in calls) >= 5, calls
  _, calls = _faults("keep", 128)
  assert all(share >= 0.9 for share in calls), calls


def test_reports_when_not_applied(monkeypatch):
  """Off glibc nothing is changed and it says so."""
  monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
  assert host_memory.keep_freed_memory() is False

"""host_memory.keep_freed_memory: XLA:CPU's large per-call buffers reuse pages, not new maps."""
import platform
import subprocess
import sys

import pytest

from rvjax import host_memory

# Calls a jitted program whose 128 MiB output is deleted after each call, 20 times, and prints
# the minor page faults of each of the last 10 calls (the first ones grow the heap).
PROGRAM = """
import resource, sys
from rvjax import host_memory
applied = host_memory.keep_freed_memory() if sys.argv[1] == "keep" else None
import jax, jax.numpy as jnp
f = jax.jit(lambda x: x * 2 + 1)
x = jnp.zeros((8192, 4096), jnp.float32)
faults = []
for i in range(20):
  before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  f(x).block_until_ready().delete()
  faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(applied, *faults[10:])
"""
PAGES = 8192 * 4096 * 4 // 4096  # pages of the 128 MiB output


def _faults(mode):
  out = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True,
                       check=True, env={"JAX_PLATFORMS": "cpu", "PATH": ""})
  applied, *faults = out.stdout.split()
  return applied, [int(f) for f in faults]


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="glibc malloc only")
def test_freed_buffers_are_reused_without_page_faults():
  """Without the settings every call faults in its whole output again; with them most calls
  reuse the pages of an earlier output (not all: when another process loads the machine, frees
  and allocations interleave so that the heap still grows now and then). Catches the arena or
  the mmap threshold dropped (a worker thread's arena or a fresh map per call); trimming only
  returns a freed block that borders the heap's top, so dropping M_TRIM_THRESHOLD is not
  reliably caught here."""
  assert min(_faults("system")[1]) >= 0.9 * PAGES
  applied, faults = _faults("keep")
  assert applied == "True"
  assert sum(f < 0.05 * PAGES for f in faults) >= len(faults) // 2, faults


def test_reports_when_not_applied(monkeypatch):
  """Off glibc nothing is changed and it says so."""
  monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
  assert host_memory.keep_freed_memory() is False

"""host_memory.keep_freed_memory: XLA:CPU's large per-call buffers reuse pages, not new maps."""
import platform
import subprocess
import sys

import pytest

from rvjax import host_memory

# Calls a jitted program whose 128 MiB output is deleted after each call, 20 times, and prints
# whether the malloc settings were applied, the brk heap's address range at the end, then for
# each of the last 10 calls (the first ones grow the heap) its minor page faults and the
# address of its output.
PROGRAM = """
import resource, sys
from rvjax import host_memory
applied = host_memory.keep_freed_memory() if sys.argv[1] == "keep" else None
import jax, jax.numpy as jnp
f = jax.jit(lambda x: x * 2 + 1)
x = jnp.zeros((8192, 4096), jnp.float32)
calls = []
for i in range(20):
  before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  y = f(x).block_until_ready()
  address = y.unsafe_buffer_pointer()
  y.delete()
  calls.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, address))
heap = [[int(v, 16) for v in line.split()[0].split("-")]
        for line in open("/proc/self/maps") if line.rstrip().endswith("[heap]")]
span = f"{min(s for s, _ in heap):x}-{max(e for _, e in heap):x}" if heap else "0-0"
print(applied, span, *(f"{f}:{a}" for f, a in calls[10:]))
"""
PAGES = 8192 * 4096 * 4 // 4096  # pages of the 128 MiB output


def _calls(mode):
  """Runs PROGRAM; returns (applied, [(page faults, output inside the brk heap) per call])."""
  out = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True,
                       check=True, env={"JAX_PLATFORMS": "cpu", "PATH": ""})
  applied, heap, *calls = out.stdout.split()
  start, end = (int(a, 16) for a in heap.split("-"))
  pairs = [tuple(int(v) for v in call.split(":")) for call in calls]
  return applied, [(faults, start <= address < end) for faults, address in pairs]


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="glibc malloc only")
def test_freed_buffers_are_reused_without_page_faults():
  """Without the settings every output is a fresh map outside the heap and faults in all its
  pages; with them every output lies in the main arena's brk heap, and some calls reuse an
  earlier output's pages. Not all: under load a buffer can be freed only after the next call's
  allocation, or small allocations split the freed block, so the heap still grows now and then
  (CI saw 6 of 10 calls grow it). Catches the arena or the mmap threshold dropped (a worker
  thread's arena or a fresh map per call); trimming only returns a freed block that borders
  the heap's top, so dropping M_TRIM_THRESHOLD is not reliably caught here."""
  applied, calls = _calls("system")
  assert applied == "None"
  assert all(faults >= 0.9 * PAGES and not in_heap for faults, in_heap in calls), calls
  applied, calls = _calls("keep")
  assert applied == "True"
  assert all(in_heap for _, in_heap in calls), calls
  assert any(faults < 0.05 * PAGES for faults, _ in calls), calls


def test_reports_when_not_applied(monkeypatch):
  """Off glibc nothing is changed and it says so."""
  monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
  assert host_memory.keep_freed_memory() is False

"""host_memory.keep_freed_memory: XLA:CPU's per-call buffers reuse pages, not new maps."""
import platform
import subprocess
import sys

import pytest

from rvjax import host_memory

# With argv[1] "system" (glibc's defaults), "one" or "own" (keep_freed_memory with one arena or
# each thread's own), calls a jitted program whose output of argv[2] MiB is deleted after each
# call, 30 times, and prints whether the malloc settings were applied, the brk heap's address
# range at the end, then for each of the last 20 calls (the first ones grow the heap) its minor
# page faults and the address of its output.
PROGRAM = """
import resource, sys
from rvjax import host_memory
mode = sys.argv[1]
applied = None if mode == "system" else host_memory.keep_freed_memory(one_arena=mode == "one")
import jax, jax.numpy as jnp
f = jax.jit(lambda x: x * 2 + 1)
x = jnp.zeros((int(sys.argv[2]) * 64, 4096), jnp.float32)
calls = []
for i in range(30):
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


def _faults(mode, mib):
  """Runs PROGRAM; returns (applied, [(page faults as a fraction of the output's pages, output
  inside the brk heap) per call])."""
  out = subprocess.run([sys.executable, "-c", PROGRAM, mode, str(mib)], capture_output=True,
                       text=True, check=True, env={"JAX_PLATFORMS": "cpu", "PATH": ""})
  applied, heap, *calls = out.stdout.split()
  start, end = (int(a, 16) for a in heap.split("-"))
  pairs = [tuple(int(v) for v in call.split(":")) for call in calls]
  return applied, [(faults / (mib * 256), start <= address < end) for faults, address in pairs]


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="glibc malloc only")
def test_freed_buffers_are_reused_without_page_faults():
  """Without the settings a 48 MiB output (above glibc's largest dynamic mmap threshold, 32 MiB)
  is a fresh map on every call, faulting in all its pages. With them calls reuse an earlier
  output's pages, a 128 MiB one too with one arena, while with each thread's own arena (heaps of
  at most 64 MiB) a 128 MiB output stays a fresh map per call. Not every call reuses, so the
  test asks for one reusing call among the last 20: under load a buffer can be freed only after
  the next call's allocation, so the heap still grows now and then (CI saw 6 of 10 calls grow
  it), and with each thread's own arena an output allocated by another thread comes from that
  thread's arena, outside the brk heap (CI saw one of 10; with one arena every output
  lies in it). A reusing call is load-proof evidence:
  a fresh map faults in every page. Catches a dropped mmap threshold (48 MiB mapped per call), a
  dropped trim threshold (the freed heap top returned, then faulted in again) and `one_arena`
  ignored either way."""
  reused = lambda calls: any(share < 0.05 and in_heap for share, in_heap in calls)
  mapped = lambda calls: all(share >= 0.9 and not in_heap for share, in_heap in calls)
  applied, calls = _faults("system", 48)
  assert applied == "None" and mapped(calls), calls
  for mib in (48, 128):
    applied, calls = _faults("one", mib)  # every thread on the main arena: all in the heap
    assert applied == "True" and reused(calls) and all(h for _, h in calls), (mib, calls)
  applied, calls = _faults("own", 48)
  assert applied == "True" and reused(calls), calls
  _, calls = _faults("own", 128)
  assert mapped(calls), calls


def test_reports_when_not_applied(monkeypatch):
  """Off glibc nothing is changed and it says so."""
  monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
  assert host_memory.keep_freed_memory() is False

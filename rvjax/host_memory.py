"""Host memory reuse for XLA:CPU: glibc malloc settings that keep freed buffers mapped.

XLA:CPU allocates each call's temporary buffer (72 MB for the digits CNN's train step at batch
256; PreAct ResNet-18's step at batch 128 touches about 1 GB of new pages) on its worker
threads. glibc serves such a request from a fresh `mmap`, since a thread's own malloc arena
grows in heaps of at most 64 MB, and unmaps it when the call ends, so the next call touches new
pages: the kernel faults in and zeroes every 4 KiB page again (16.5k minor page faults per
digits-CNN step, 250k per ResNet-18 step). `keep_freed_memory()` puts every thread on glibc's
main arena (M_ARENA_MAX = 1), serves requests below 1 GiB from the heap (M_MMAP_THRESHOLD) and
keeps freed memory in the process (M_TRIM_THRESHOLD), so each call reuses the pages of the one
before: the digits CNN's step then takes under 900 page faults and runs 10-15% faster
(benchmarks/peers.py).

The cost: the process keeps its peak heap (resident memory does not shrink after a large
program), all threads allocate from one arena (one lock; small allocations still go through
glibc's per-thread caches), and freed blocks can fragment: with another process competing for
the cores PreAct ResNet-18's training peaked at 4.0 GB resident against 1.7 GB without (1.74
against 1.70 GB on a quiet machine); docs/launch.md has the figures. One arena also costs speed
where many threads allocate or after a larger program: a K-member ensemble step is slower
(ResNet-20, K = 8: 1480-1690 ms against 1290 with glibc's defaults), a process that has run one
runs smaller programs 25-50% slower from then on (ResNet-20's single step 172 -> 225-232 ms;
`malloc_trim` does not undo it), and small steps lose (the 8x8 digits CNN at batch 64: 5.7
against 4.3 ms): K-member steps run faster with `--keep_freed_memory=false`. It is
process-wide and takes effect for threads that have not yet allocated, so call it first, before
JAX starts its backend (the first computation); the launch scripts do so unless
`--keep_freed_memory=false`.
Device memory on GPU/TPU is not affected.
"""
import ctypes
import ctypes.util
import platform

# mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
MMAP_THRESHOLD = 1 << 30  # requests of 1 GiB and more are still mapped on their own
TRIM_THRESHOLD = (1 << 31) - 1  # the largest int: freed memory is kept


def keep_freed_memory() -> bool:
  """Sets glibc malloc to reuse freed host memory (see module docstring); process-wide.

  Returns True when applied, False where the C library is not glibc (macOS, musl), where
  nothing is changed.
  """
  if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
    return False
  mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
  settings = ((M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
              (M_TRIM_THRESHOLD, TRIM_THRESHOLD))
  return all(mallopt(param, value) == 1 for param, value in settings)

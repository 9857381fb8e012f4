"""Host memory reuse for XLA:CPU: glibc malloc settings that keep freed buffers mapped.

XLA:CPU allocates each call's temporary buffer anew (72 MB for the 32x32 digits CNN's train step
at batch 256 in benchmarks/peers.py, 37 MB for a K = 8 ensemble step of the 8x8 CNN at batch 64
per member). glibc maps a request above its mmap threshold with a fresh `mmap` and unmaps it
when freed; the threshold rises with each freed map but never past 32 MiB, so a larger buffer
faults in and zeroes all its pages again on every call (17k minor page faults per step of that
CNN, 9.5k per call of that ensemble step). `keep_freed_memory()` serves requests below 1 GiB
from malloc's heaps (M_MMAP_THRESHOLD) and keeps freed memory in the process
(M_TRIM_THRESHOLD), so each call reuses the pages of the one before. How far that reaches
depends on the arenas (sixteenth session, one machine, fresh processes, medians of 20 steps):
  * one_arena=True (M_ARENA_MAX = 1, for single models): every thread allocates from glibc's
    main arena, which grows without limit, so buffers of any size below 1 GiB are reused. The
    CNN step above: 0 faults, 66.9-77.1 ms against 74.6-82.7 ms with glibc's defaults. The cost
    is one lock for all threads: where several programs' worth of work allocates at once it is
    slower (that ensemble step: 42.5-48.8 ms against 39.3-42.2 with the defaults), and a process
    that has run such a program runs smaller ones slower from then on (the 8x8 CNN's single
    step 9.8-10.0 ms after an ensemble step, against 4.8-5.2 ms).
  * one_arena=False (for ensembles): threads keep their own arenas, whose heaps hold at most
    64 MiB, so larger buffers are still mapped per call (the CNN step above: 17k faults,
    76.2-78.2 ms) but smaller ones are reused without the lock: the ensemble step took at most
    1.3k faults and 31.9-35.7 ms, and the single step after it 4.9-5.2 ms.

Either way the process keeps its peak heap (resident memory does not shrink after a large
program). It is process-wide and takes effect for allocations made after it, so call it first,
before JAX starts its backend (the first computation); `launch.train` does so unless
`--keep_freed_memory=false`, with one arena unless the config trains an ensemble. Device memory
on GPU/TPU is not affected.
"""
import ctypes
import ctypes.util
import platform

# mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
MMAP_THRESHOLD = 1 << 30  # requests of 1 GiB and more are still mapped on their own
TRIM_THRESHOLD = (1 << 31) - 1  # the largest int: freed memory is kept


def keep_freed_memory(one_arena: bool = True) -> bool:
  """Sets glibc malloc to reuse freed host memory (see module docstring); process-wide.

  one_arena: every thread on glibc's main arena (buffers up to 1 GiB reused; for single
    models), else each thread keeps its own (up to 64 MiB; for ensembles, and wherever many
    threads allocate at once).

  Returns True when applied, False where the C library is not glibc (macOS, musl), where
  nothing is changed.
  """
  if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
    return False
  mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
  settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD)) + (
      ((M_ARENA_MAX, 1),) if one_arena else ())
  return all(mallopt(param, value) == 1 for param, value in settings)

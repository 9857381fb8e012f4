"""Host memory reuse for XLA:CPU: glibc malloc settings that keep freed buffers mapped.

XLA:CPU allocates each call's temporary buffer anew (37 MB for a K = 8 ensemble step of the
8x8 digits CNN at batch 64 per member, 157 MB for the 32x32 CNN's train step at batch 256).
glibc maps a request above its mmap threshold with a fresh `mmap` and unmaps it when freed; the
threshold starts at 128 KiB and rises with each freed map, but never past 32 MiB. A buffer above
that is mapped anew on every call, and the kernel faults in and zeroes each of its 4 KiB pages
again: 9.5k minor page faults per call of that ensemble step. `keep_freed_memory()` serves
requests below 1 GiB from malloc's heaps (M_MMAP_THRESHOLD) and keeps freed memory in the
process (M_TRIM_THRESHOLD), so each call reuses the pages of the one before: at most 1.3k faults
per ensemble step, which then takes 31.9-35.7 ms against 39.3-42.2 ms (sixteenth session, fresh
processes).

Its reach is each thread's malloc arena. A worker thread's arena grows in heaps of at most
64 MiB, so a larger buffer allocated there is mapped per call as before (the 32x32 CNN's
157 MB: 40k faults per step either way); no train step measured lost time to it (below).
Putting every thread on the one main arena (M_ARENA_MAX = 1), which grows without that limit,
would reuse those too, and the first versions of this function did so, but it was measured to
cost more than it gains (sixteenth session, same machine, fresh processes): the ensemble step
took 42.5-48.8 ms, smaller programs run after it in the same process took twice as long from
then on (the 8x8 CNN's single step 9.8-10.0 ms against 4.8-5.2 ms), and single-model train steps
did not gain (`benchmarks/peers.py --sections=train,gflops`, two rounds each: digits CNN at
batch 256 101-104 GFLOP/s with one arena, 102-103 with this setting, 97-109 with glibc's
defaults; PreAct ResNet-18 at batch 128 147-149, 151-153 and 150-155).

The cost: the process keeps its peak heap below 64 MiB per arena and 1 GiB in the main one
(resident memory does not shrink after a large program). It is process-wide and takes effect
for allocations made after it, so call it first, before JAX starts its backend (the first
computation); the launch scripts do so unless `--keep_freed_memory=false`. Device memory on
GPU/TPU is not affected.
"""
import ctypes
import ctypes.util
import platform

# mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
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
  settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD))
  return all(mallopt(param, value) == 1 for param, value in settings)

"""Keep freed memory inside the process instead of handing it back to the operating system.

The score networks allocate and free gigabytes of activations per training step or sampling batch.
With glibc's default settings, blocks above its mmap threshold (at most 32 MiB) are mapped fresh and
unmapped on every use, and freed memory at the top of the heap is returned to the system (trimmed), so
the next step touches fresh pages and pays a page fault per 4 KiB.  Measured on this project's 2-core
VMs, width-64 reference network, score evaluations at the full config's sampling batch of 1000: 12.5M
page faults and 29 s of system time per batch, 25 evaluations/s; with memory kept, 0.12M faults and
45 evaluations/s.  Keeping the memory costs nothing a step would not use anyway: every step reaches the
same peak again.

`keep_freed_memory()` sets glibc's malloc to serve every block from the heap (never mmap) and to never
trim it.  It runs once per process, in the CLI (`python -m ncsn`) and the benchmark's worker processes.
NCSN_MALLOC_TUNING=0 in the environment turns it off; on a C library without `mallopt` (musl, macOS)
it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

# glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
NEVER_TRIM = -1  # mallopt(3): "Setting M_TRIM_THRESHOLD to -1 disables trimming completely"


@functools.cache
def keep_freed_memory() -> bool:
    """Tune glibc malloc for repeated large allocations; True if it took effect."""
    if os.environ.get("NCSN_MALLOC_TUNING", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # no glibc: nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, NEVER_TRIM))

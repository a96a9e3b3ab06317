"""Keep freed memory inside the process instead of handing it back to the operating system.

A training step of the width-64 reference network allocates and frees gigabytes of activations.
With glibc's default settings, freed memory at the top of the heap is returned to the system
(trimmed) and big blocks are mmap'ed and unmapped on every use, so the next step touches fresh pages
and pays a page fault per 4 KiB: measured on this project's 2-core VMs, ~270k faults and ~2.4 s of
system time in a ~10.5 s step at batch 128 (~8.5 s, ~20k faults, once memory is kept).  Keeping the
memory costs nothing a step would not use anyway: every step reaches the same peak again.

`keep_freed_memory()` sets glibc's malloc to never trim and to serve blocks up to its largest
mmap threshold (32 MiB) from the heap.  It runs once per process, in the CLI (`python -m ncsn`) and the
benchmark's worker processes.  NCSN_MALLOC_TUNING=0 in the environment turns it off; on a C library
without `mallopt` (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

# glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc refuses larger values (HEAP_MAX_SIZE / 2 on 64-bit)
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
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(mallopt(M_TRIM_THRESHOLD, NEVER_TRIM))

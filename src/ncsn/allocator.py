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

`ask_for_huge_pages()` makes that heap come in 2 MiB pages (transparent huge pages) where the kernel
hands them out only on request (THP mode "madvise", the common default). Every activation is MiBs
streamed through once per layer, and with 4 KiB pages each pass also walks thousands of page-table
entries. glibc asks for huge pages only when the tunable glibc.malloc.hugetlb=1 is in GLIBC_TUNABLES
when the process starts, so `python -m ncsn` re-executes itself once with it set, before anything is
imported (about 90 ms per command here). Measured on the 2-core Intel machine, 2 threads: U-Net width 16, batch 100,
traced: 35.6 -> 32.2 and 36.7 -> 33.9 ms per score evaluation; training (bench, ours) 540 -> 642
images/s. The price is memory rounded up to 2 MiB pages (bench peak 366 -> 399 MiB). The same switch,
NCSN_MALLOC_TUNING=0, turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path

# glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
NEVER_TRIM = -1  # mallopt(3): "Setting M_TRIM_THRESHOLD to -1 disables trimming completely"

HUGE_PAGES_TUNABLE = "glibc.malloc.hugetlb=1"  # glibc >= 2.35: malloc madvises its memory MADV_HUGEPAGE
THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")


@functools.cache
def keep_freed_memory() -> bool:
    """Tune glibc malloc for repeated large allocations; True if it took effect."""
    if _tuning_off(os.environ):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # no glibc: nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, NEVER_TRIM))


def _tuning_off(environ: Mapping[str, str]) -> bool:
    return environ.get("NCSN_MALLOC_TUNING", "1") == "0"


def _thp_mode() -> str | None:
    """The kernel's transparent huge page mode ("always", "madvise", "never"), None where unknown."""
    try:
        text = THP_MODE.read_text()
    except OSError:
        return None
    chosen = text[text.find("[") + 1 : text.find("]")] if "[" in text else ""
    return chosen or None


def _glibc_at_least(major: int, minor: int) -> bool:
    library, version = platform.libc_ver()
    try:
        return library == "glibc" and tuple(int(part) for part in version.split(".")[:2]) >= (major, minor)
    except ValueError:
        return False


def huge_pages_environment(environ: Mapping[str, str]) -> dict[str, str] | None:
    """The environment to restart the process under so that malloc asks for huge pages, or None where
    there is nothing to gain (turned off, already asked for, no THP on request, a C library without the
    tunable)."""
    tunables = environ.get("GLIBC_TUNABLES", "")
    if (
        _tuning_off(environ)
        or HUGE_PAGES_TUNABLE.split("=")[0] in tunables
        or _thp_mode() != "madvise"
        or not _glibc_at_least(2, 35)
    ):
        return None
    return {**environ, "GLIBC_TUNABLES": f"{tunables}:{HUGE_PAGES_TUNABLE}" if tunables else HUGE_PAGES_TUNABLE}


def huge_pages_asked() -> bool:
    """Whether this process started with malloc asking for huge pages."""
    return HUGE_PAGES_TUNABLE in os.environ.get("GLIBC_TUNABLES", "").split(":")


def ask_for_huge_pages() -> None:
    """Re-execute this process (same interpreter, same command line, same PID) with malloc asking for
    huge pages, where `huge_pages_environment` says so; call it before anything big is imported. If the
    exec fails, the process goes on as it is."""
    environ = huge_pages_environment(os.environ)
    if environ is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, sys.orig_argv, environ)
    except OSError:
        pass

"""Peak resident memory of this process on the CPU, as the memory measurements read it.

Linux keeps ``getrusage``'s ru_maxrss across exec, so a child process started by a large parent (a
spawned benchmark worker under pytest, say) inherits the parent's peak and its own growth reads 0.
VmHWM of /proc/self/status is the process's own peak, and writing 5 to /proc/self/clear_refs resets it
to the current resident set, so a measurement can start from the memory already in use. Where either
is missing (not Linux), the growth of ru_maxrss is the fallback, and `reset_peak_rss` says so.
"""

from __future__ import annotations

import resource

HIGH_WATER_MARK = "peak RSS above the baseline (VmHWM after clear_refs)"
MAXRSS_GROWTH = "growth of peak RSS (ru_maxrss)"


def proc_status_mib(field: str) -> float | None:
    """A memory field of /proc/self/status (VmRSS, VmHWM, ...) in MiB; None where there is none."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def reset_peak_rss() -> str:
    """Start a fresh resident-set peak; returns how the peak will be read (HIGH_WATER_MARK or MAXRSS_GROWTH)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        if proc_status_mib("VmHWM") is not None:
            return HIGH_WATER_MARK
    except OSError:
        pass
    return MAXRSS_GROWTH


def peak_rss_mib(how: str) -> float:
    if how == HIGH_WATER_MARK:
        return proc_status_mib("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mib(how: str) -> float:
    """The baseline a peak is measured above: the resident set now (or, as a fallback, the peak so far)."""
    return proc_status_mib("VmRSS") if how == HIGH_WATER_MARK else peak_rss_mib(how)

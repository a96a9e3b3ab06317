"""Is a Snakemake running in this checkout? Exit 0 (and say which) if so, 1 if not, 2 if it cannot tell.

`make study` calls this before it removes a lock left in .snakemake/locks: only a lock that no running
Snakemake holds may go. A process counts when its working directory is the checkout (Snakemake's locks
live under its working directory) and its command line runs Snakemake, however it was started:
`.venv/bin/snakemake`, `python .venv/bin/snakemake` (what the script's shebang gives), `python -m
snakemake`, a conda or system `snakemake`. Standard library only: it must not depend on the virtualenv.

Usage: snakemake_running.py [CHECKOUT]   (default: the current directory)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROC = Path("/proc")
# Options of the Python interpreter that take the next argument as their value.
PYTHON_OPTIONS_WITH_VALUE = {"-W", "-X", "--check-hash-based-pycs"}


def runs_snakemake(argv: list[str]) -> bool:
    """Whether a command line runs Snakemake: its program, or the script or module a Python runs."""
    if not argv:
        return False
    if os.path.basename(argv[0]) == "snakemake":
        return True
    if not os.path.basename(argv[0]).startswith(("python", "pypy")):
        return False
    args = iter(argv[1:])
    for arg in args:
        if arg == "-m":
            return next(args, "") == "snakemake"
        if arg.startswith("-m"):
            return arg[2:] == "snakemake"
        if arg.startswith("-c"):
            return False
        if arg in PYTHON_OPTIONS_WITH_VALUE:
            next(args, None)
        elif not arg.startswith("-"):
            return os.path.basename(arg) == "snakemake"
    return False


def snakemakes_in(checkout: Path) -> list[tuple[int, list[str]]]:
    """The running Snakemake processes (pid, command line) whose working directory is `checkout`."""
    here = os.stat(checkout)
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").rstrip("\0").split("\0")
            if runs_snakemake(argv) and os.path.samestat(os.stat(entry / "cwd"), here):
                found.append((int(entry.name), argv))
        except OSError:  # the process ended meanwhile, or belongs to another user
            continue
    return found


def main(args: list[str]) -> int:
    checkout = Path(args[0] if args else ".")
    if not (PROC / "self" / "cwd").exists():
        print(f"cannot tell whether a Snakemake runs in {checkout.resolve()} (no /proc); the lock stays")
        return 2
    found = snakemakes_in(checkout)
    if not found:
        return 1
    pid, argv = found[0]
    print(f"a Snakemake of this checkout is running (pid {pid}: {' '.join(argv)}); its lock stays")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

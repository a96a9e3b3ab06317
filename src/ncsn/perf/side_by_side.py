"""Jobs side by side: the same work done by one process on N threads, and by N one-thread processes at once.

The workflow runs each training and sampling job with `threads_per_job` PyTorch threads, and Snakemake runs
--cores / threads_per_job of them at a time. Which split draws more images per CPU-hour is a property of
the networks and the machine, so `bench --side-by-side` measures it: for each size, N + 1 worker processes
are started once (one with N threads, N with one thread), each builds our network with the same seed and
warms up; then rounds alternate between the N-thread worker doing N x k calls and the N one-thread workers
doing k calls each, started together. Idle workers wait on a pipe (no CPU). A round's rate is images (or
score evaluations) over the wall time from the start signal to the last worker's reply.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from ncsn.allocator import keep_freed_memory

# Calls per worker per round: about a second of work for the laptop profile's networks on one thread.
CALLS = {"train": 2, "sample": 4}


def _worker(conn, threads: int, setup: Callable[..., dict[str, Callable[[], None]]], kwargs: dict[str, Any]) -> None:
    keep_freed_memory()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        calls = setup(**kwargs)
        for call in calls.values():
            call()
        conn.send("ready")
        while (order := conn.recv()) is not None:
            what, count = order
            for _ in range(count):
                calls[what]()
            conn.send("done")
    except Exception as err:  # hand it to the parent, which would otherwise wait forever
        conn.send(err)
        raise


def _answer(conn) -> None:
    answer = conn.recv()
    if isinstance(answer, Exception):
        raise answer


def _round(conns: list, what: str, count: int) -> float:
    start = time.perf_counter()
    for conn in conns:
        conn.send((what, count))
    for conn in conns:
        _answer(conn)
    return time.perf_counter() - start


def measure(
    setup: Callable[..., dict[str, Callable[[], None]]],
    jobs: int,
    train_batch: int,
    sample_batch: int,
    rounds: int,
    **kwargs: Any,
) -> dict[str, float]:
    """Images/s of training and evaluations/s of sampling, medians over `rounds`: one job on `jobs` threads
    (`one_*`) and `jobs` one-thread jobs together (`side_*`, their sum), with the lowest and highest ratio
    side / one of a single round. `setup(train_batch=, sample_batch=, **kwargs)`, a module-level function
    (each worker process calls it), returns the "train" and "sample" calls, each synchronised."""
    context = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    arguments = dict(kwargs, train_batch=train_batch, sample_batch=sample_batch)
    for threads in [jobs] + [1] * jobs:
        parent, child = context.Pipe()
        process = context.Process(target=_worker, args=(child, threads, setup, arguments))
        process.start()
        pipes.append(parent)
        processes.append(process)
    try:
        for conn in pipes:
            _answer(conn)
        one, side = pipes[:1], pipes[1:]
        result: dict[str, float] = {}
        for what, batch in (("train", train_batch), ("sample", sample_batch)):
            count = CALLS[what]
            work = jobs * count * batch
            rates = {"one": [], "side": []}
            for _ in range(rounds):
                rates["one"].append(work / _round(one, what, jobs * count))
                rates["side"].append(work / _round(side, what, count))
            ratios = [s / o for s, o in zip(rates["side"], rates["one"])]
            result.update(
                {
                    f"one_{what}": statistics.median(rates["one"]),
                    f"side_{what}": statistics.median(rates["side"]),
                    f"{what}_ratio_min": min(ratios),
                    f"{what}_ratio_max": max(ratios),
                }
            )
        return result
    finally:
        for conn in pipes:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()


def describe(size: dict[str, Any], jobs: int, r: dict[str, float]) -> str:
    """One line per size: the two splits' rates and side / one (median ratio, single-round range)."""
    parts = []
    for what, unit in (("train", "training images/s"), ("sample", "sampling evaluations/s")):
        parts.append(
            f"{unit} {r[f'one_{what}']:.1f} -> {r[f'side_{what}']:.1f} "
            f"(x{r[f'side_{what}'] / r[f'one_{what}']:.2f}, rounds {r[f'{what}_ratio_min']:.2f}-"
            f"{r[f'{what}_ratio_max']:.2f})"
        )
    return f"{size['arch']} width {size['width']}: one job x {jobs} threads -> {jobs} jobs x 1 thread: " + "; ".join(
        parts
    )

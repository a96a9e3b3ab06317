"""`python -m ncsn toy-objective-cost`: time and memory of one training step of ISM, SSM and DSM as
the data dimension D grows, on one fixed-width MLP x -> s(x) (``ncsn.models.mlp.mlp``).

A step is loss, backward and an Adam update on a batch of standard normal data. ISM builds each
sample's full D x D Jacobian (``ncsn.losses.ism_loss``), SSM uses one Jacobian-vector product per
projection, DSM (one noise level, sigma = 0.1) one plain forward pass.

Peak memory: every (objective, D) runs in its own child process. On CUDA it is PyTorch's peak
allocated memory (``torch.cuda.max_memory_allocated``). On the CPU it is the child's peak resident set
(VmHWM of /proc/self/status) above its resident set just before the model is built: the child first
runs one step of the same objective at D = 2 (so that PyTorch's code pages and thread pools are
already resident and not counted), then resets the peak by writing 5 to /proc/self/clear_refs. It
counts everything the step allocates (parameters, autograd graph, Jacobians, Adam state) plus
allocator slack. Where the peak cannot be reset, the growth of ``getrusage``'s ru_maxrss is used and
the JSON says so. ``tracemalloc`` sees only Python objects, not tensor storage, so it is not used.

Writes, under --out-dir: cost.csv, cost.png (log-log time and memory vs D) and cost.json.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ncsn import layout
from ncsn.device import resolve_device
from ncsn.errors import NcsnError
from ncsn.losses import dsm_loss, ism_loss, ssm_loss
from ncsn.models.mlp import mlp
from ncsn.perf.rss import current_rss_mib, peak_rss_mib, reset_peak_rss
from ncsn.toy.common import add_common_arguments, parse_settings, plt, write_figure, write_json

FILES = layout.TOY_FILES["objective_cost"]  # what the command writes into --out-dir, by role

REQUIRED = ("dims", "width", "depth", "batch_size", "steps", "max_seconds", "n_projections")
OBJECTIVES = ("ism", "ssm", "dsm")
DSM_SIGMA = 0.1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(
        parser, "objective_cost", threads_default=1, threads_help="CPU threads of PyTorch in each measurement"
    )


def training_step(
    objective: str, dim: int, batch: int, generator: torch.Generator, dev: torch.device, shape: dict[str, int]
) -> tuple[Callable[[], float], nn.Module]:
    """A closure timing one step of `objective` on a fresh MLP at dimension `dim`, and the MLP.
    `shape`: the MLP's width and depth and SSM's n_projections."""
    net = mlp(dim, dim, shape["width"], shape["depth"]).to(dev)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = torch.randn(batch, dim, device=dev, generator=generator)
    sigmas = torch.tensor([DSM_SIGMA], device=dev)
    loss_of = {
        "ism": lambda: ism_loss(net, x),
        "ssm": lambda: ssm_loss(net, x, n_projections=shape["n_projections"], generator=generator),
        "dsm": lambda: dsm_loss(lambda y, sigma: net(y), x, sigmas, generator=generator),
    }[objective]

    def step() -> float:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        start = time.perf_counter()
        loss = loss_of()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return time.perf_counter() - start

    return step, net


def _timed_steps(step: Callable[[], float], steps: int, max_seconds: float) -> list[float]:
    """Sorted seconds of up to `steps` steps, stopping after `max_seconds` (at least one step)."""
    times, began = [], time.perf_counter()
    while len(times) < steps and (not times or time.perf_counter() - began < max_seconds):
        times.append(step())
    return sorted(times)


def _memory_baseline(
    objective: str, noise: torch.Generator, dev: torch.device, shape: dict[str, int]
) -> tuple[str, float]:
    """Start the peak-memory measurement: how the peak will be read and the baseline to subtract."""
    training_step(objective, 2, 2, noise, dev, shape)[0]()  # page in PyTorch's code before the baseline
    how = reset_peak_rss() if dev.type == "cpu" else "cuda max_memory_allocated"
    rss_before = current_rss_mib(how) if dev.type == "cpu" else 0.0
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    return how, rss_before


def measure(
    objective: str,
    dim: int,
    width: int,
    depth: int,
    batch_size: int,
    steps: int,
    max_seconds: float,
    n_projections: int,
    device: str,
    seed: int,
) -> dict[str, Any]:
    """Seconds per training step (median of the timed steps, after one warm-up step) and peak memory."""
    dev = torch.device(device)
    shape = {"width": width, "depth": depth, "n_projections": n_projections}
    torch.manual_seed(seed)
    noise = torch.Generator(device=dev).manual_seed(seed)
    how, rss_before = _memory_baseline(objective, noise, dev, shape)
    step, net = training_step(objective, dim, batch_size, noise, dev, shape)
    warmup = step()
    times = _timed_steps(step, steps, max_seconds)
    peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else peak_rss_mib(how) - rss_before
    return {
        "objective": objective,
        "dim": dim,
        "width": width,
        "depth": depth,
        "batch_size": batch_size,
        "params": sum(p.numel() for p in net.parameters()),
        "timed_steps": len(times),
        "seconds_per_step": times[len(times) // 2],
        "warmup_seconds": warmup,
        "peak_mib": peak,
        "memory_measure": how,
        "device": str(dev),
        "threads": torch.get_num_threads(),
    }


def _child(queue, threads: int, kwargs: dict[str, Any]) -> None:
    torch.set_num_threads(threads)
    try:
        queue.put(measure(**kwargs))
    except Exception as err:  # reported by the parent, with the size that failed
        queue.put({"error": f"{type(err).__name__}: {err}"})


def measure_isolated(threads: int, **kwargs) -> dict[str, Any]:
    """``measure`` in a fresh child process, so that each peak is its own. The parent must not have
    run any torch computation yet (fork then keeps PyTorch's thread pools sane)."""
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() and kwargs["device"] == "cpu" else "spawn"
    context = multiprocessing.get_context(method)
    queue = context.Queue()
    child = context.Process(target=_child, args=(queue, threads, kwargs))
    child.start()
    result = queue.get()
    child.join()
    if "error" in result:
        raise NcsnError(
            f"measuring {kwargs['objective']} at D = {kwargs['dim']} failed: {result['error']} "
            f"(lower toy.objective_cost.batch_size or the largest of toy.objective_cost.dims)"
        )
    return result


def slope(table: pd.DataFrame, objective: str, column: str, min_dim: int) -> float | None:
    """Slope of log(column) against log(D) over D >= min_dim (None with fewer than two such sizes)."""
    part = table[(table["objective"] == objective) & (table["dim"] >= min_dim) & (table[column] > 0)]
    if len(part) < 2:
        return None
    logs_d, logs_y = part["dim"].map(math.log), part[column].map(math.log)
    centred = logs_d - logs_d.mean()
    return float((centred * (logs_y - logs_y.mean())).sum() / (centred**2).sum())


def plot(table: pd.DataFrame):
    pyplot = plt()
    fig, (left, right) = pyplot.subplots(1, 2, figsize=(11, 4.2))
    for objective in OBJECTIVES:
        part = table[table["objective"] == objective]
        left.plot(part["dim"], part["seconds_per_step"], marker="o", label=objective.upper())
        right.plot(part["dim"], part["peak_mib"].clip(lower=0.1), marker="o", label=objective.upper())
    for ax, label in [(left, "seconds per training step"), (right, "peak memory (MiB)")]:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("data dimension D")
        ax.set_ylabel(label)
        ax.legend()
    first = table.iloc[0]
    fig.suptitle(
        f"MLP width {first['width']}, depth {first['depth']}, batch {first['batch_size']}, "
        f"{first['device']}, {first['threads']} thread(s); memory: {first['memory_measure']}",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def format_table(table: pd.DataFrame) -> str:
    wide = table.pivot(index="dim", columns="objective", values=["seconds_per_step", "peak_mib"])
    lines = [
        f"{'D':>6}  "
        + "  ".join(f"{o.upper() + ' ms/step':>13}" for o in OBJECTIVES)
        + "  "
        + "  ".join(f"{o.upper() + ' MiB':>9}" for o in OBJECTIVES)
    ]
    for dim, row in wide.iterrows():
        lines.append(
            f"{dim:>6}  "
            + "  ".join(f"{1000 * row[('seconds_per_step', o)]:>13.2f}" for o in OBJECTIVES)
            + "  "
            + "  ".join(f"{row[('peak_mib', o)]:>9.1f}" for o in OBJECTIVES)
        )
    return "\n".join(lines)


def compute(
    settings: dict[str, Any], threads: int, device: str, seed: int, log: Callable[[str], None] | None = None
) -> pd.DataFrame:
    """One row per (objective, D), each measured in its own child process (``measure_isolated``)."""
    dims = sorted(int(d) for d in settings["dims"])
    sizes = {k: settings[k] for k in ("width", "depth", "batch_size", "steps", "max_seconds", "n_projections")}
    rows = []
    jobs = [(objective, dim) for dim in dims for objective in OBJECTIVES]
    for objective, dim in tqdm(jobs, desc="objective x D"):
        row = measure_isolated(threads, objective=objective, dim=dim, **sizes, device=device, seed=seed)
        rows.append(row)
        if log is not None:
            log(f"{objective} D={dim}: {1000 * row['seconds_per_step']:.2f} ms/step, {row['peak_mib']:.1f} MiB")
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame, settings: dict[str, Any], device: str, threads: int, profile: str) -> dict[str, Any]:
    """The content of cost.json: times and peaks at the largest D, ratios and log-log slopes."""
    dims = sorted(int(d) for d in settings["dims"])
    largest = dims[-1]
    at_largest = table[table["dim"] == largest].set_index("objective")
    min_dim = dims[len(dims) // 2] if len(dims) >= 4 else dims[0]  # slopes over the larger half of the sizes
    return {
        "profile": profile,
        "settings": settings,
        "device": device,
        "threads": threads,
        "memory_measure": table["memory_measure"].iloc[0],
        "dsm_sigma": DSM_SIGMA,
        "largest_dim": largest,
        "seconds_per_step_at_largest_dim": at_largest["seconds_per_step"].to_dict(),
        "peak_mib_at_largest_dim": at_largest["peak_mib"].to_dict(),
        "ism_over_dsm_time_at_largest_dim": float(
            at_largest.loc["ism", "seconds_per_step"] / at_largest.loc["dsm", "seconds_per_step"]
        ),
        "loglog_time_slope": {o: slope(table, o, "seconds_per_step", min_dim) for o in OBJECTIVES},
        "loglog_memory_slope": {o: slope(table, o, "peak_mib", min_dim) for o in OBJECTIVES},
        "slope_fit_from_dim": min_dim,
        "lecture": {"claim": "the Jacobian trace of ISM costs O(D^2); SSM's Jacobian-vector products scale with O(D)"},
    }


def write(table: pd.DataFrame, figure, summary_json: dict[str, Any], out: Path) -> None:
    """cost.csv, cost.png and cost.json under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / FILES["table"], index=False)
    write_figure(figure, out / FILES["plot"])
    write_json(out / FILES["summary"], summary_json)


def run(args: argparse.Namespace) -> int:
    settings = parse_settings(args.settings, REQUIRED, "toy-objective-cost")
    device = str(resolve_device(args.device))
    table = compute(
        settings, args.threads, device, args.seed, log=lambda line: print(line, file=sys.stderr, flush=True)
    )
    write(table, plot(table), summary(table, settings, device, args.threads, args.profile), args.out_dir)
    print(
        f"one training step (loss + backward + Adam) on {device}, {args.threads} thread(s), batch "
        f"{settings['batch_size']}, MLP width {settings['width']} depth {settings['depth']}; memory = "
        f"{table['memory_measure'].iloc[0]}"
    )
    print(format_table(table))
    return 0

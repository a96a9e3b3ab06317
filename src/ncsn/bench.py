"""`python -m ncsn bench`: training throughput (images/s) and peak memory of every architecture at the
sizes the configs use (by default config/quick.yaml and config/config.yaml), on this machine.

One full training step is timed (DSM loss, backward, Adam, EMA update) on random images at each
variant's batch size.  Every size runs in a fresh process, so that "peak memory" is its own: on CUDA
the peak allocated by PyTorch, on the CPU the growth of the process's peak resident set while
building the model and training (ru_maxrss; Linux).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(arch: str, width: int, dropout: float, batch_size: int, noise: dict[str, float], device: str,
            steps: int, seconds: float) -> dict[str, Any]:
    """Time training steps of one size (after one warm-up step)."""
    from ncsn.losses import dsm_loss
    from ncsn.models.registry import build_model, count_parameters
    from ncsn.noise import geometric_sigmas
    from ncsn.training.ema import make_ema

    torch.manual_seed(0)
    dev = torch.device(device)
    rss_before = _rss_mib()
    sigmas = geometric_sigmas(noise["sigma_max"], noise["sigma_min"], noise["n_levels"]).to(dev)
    model = build_model(arch, sigmas=sigmas, width=width, dropout=dropout).to(dev).train()
    ema = make_ema(model, 0.999)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch_size, 1, 28, 28, device=dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)

    def step() -> None:
        loss = dsm_loss(model, x, sigmas)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        ema.update_parameters(model)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    step()
    sync()
    done, start = 0, time.perf_counter()
    while done < steps and (done == 0 or time.perf_counter() - start < seconds):
        step()
        done += 1
    sync()
    elapsed = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else _rss_mib() - rss_before)
    return {"arch": arch, "width": width, "dropout": dropout, "params": count_parameters(model),
            "batch": batch_size, "steps": done, "images_per_s": done * batch_size / elapsed,
            "peak_mib": peak, "device": str(dev)}


def _measure_in_child(queue, kwargs) -> None:
    torch.set_num_threads(kwargs.pop("threads"))
    queue.put(measure(**kwargs))


def sizes_of(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The distinct (arch, width, dropout, batch size, noise levels) of a config's variants."""
    seen, sizes = set(), []
    for entry in config["variants"].values():
        noise = entry.get("noise", config["noise"])
        key = (entry["arch"], entry["width"], entry["dropout"], entry["batch_size"], noise["n_levels"])
        if key not in seen:
            seen.add(key)
            sizes.append({"arch": entry["arch"], "width": entry["width"], "dropout": entry["dropout"],
                          "batch_size": entry["batch_size"], "noise": noise})
    return sizes


def format_table(rows: list[dict[str, Any]]) -> str:
    header = ["profile", "arch", "width", "dropout", "params", "batch", "device", "images/s", "peak MiB"]
    cells = [[r["profile"], r["arch"], str(r["width"]), f"{r['dropout']:g}", f"{r['params']:,}", str(r["batch"]),
              r["device"], f"{r['images_per_s']:.1f}", f"{r['peak_mib']:.0f}"] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    line = lambda values: "  ".join(v.rjust(w) for v, w in zip(values, widths))
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, cells)])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--configs", nargs="+", type=Path, default=[Path("config/quick.yaml"), Path("config/config.yaml")],
                        help="configs whose variant sizes are measured (default: quick and full)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per size (after one warm-up step)")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="stop timing a size after this long (at least one step is timed)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="CPU threads of PyTorch")


def run(args: argparse.Namespace) -> int:
    from ncsn.config import load_config
    from ncsn.training.command import resolve_device

    device = str(resolve_device(args.device))
    context = multiprocessing.get_context("spawn")
    rows = []
    for path in args.configs:
        config = load_config(path)
        for size in sizes_of(config):
            queue = context.Queue()
            kwargs = dict(size, device=device, steps=args.steps, seconds=args.seconds, threads=args.threads)
            child = context.Process(target=_measure_in_child, args=(queue, kwargs))
            child.start()
            result = queue.get()
            child.join()
            rows.append({"profile": config["profile"], **result})
            print(f"measured {config['profile']} {result['arch']} width {result['width']}: "
                  f"{result['images_per_s']:.1f} images/s", file=sys.stderr, flush=True)
    print(f"training throughput on {device} ({torch.get_num_threads()} CPU threads available, "
          f"{args.threads} used; torch {torch.__version__})")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    from ncsn.cli import main

    sys.exit(main(["bench", *sys.argv[1:]]))

"""The options that every computing command shares (--seed, --device, --threads), declared once."""

from __future__ import annotations

import argparse

import torch

from ncsn.device import DEVICE_CHOICES, resolve_device

THREADS_HELP = "CPU threads of PyTorch (default: its own choice)"


def add_run_options(
    parser: argparse.ArgumentParser,
    *,
    seed: bool = True,
    threads: bool = True,
    threads_default: int | None = None,
    threads_help: str = THREADS_HELP,
) -> None:
    """--seed (default 0), --device (auto, cpu or cuda; default auto) and --threads."""
    if seed:
        parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", choices=list(DEVICE_CHOICES))
    if threads:
        parser.add_argument("--threads", type=int, default=threads_default, help=threads_help)


def set_threads(threads: int | None) -> None:
    """Apply --threads; None (or 0) leaves PyTorch its own choice."""
    if threads:
        torch.set_num_threads(threads)


def run_device(args: argparse.Namespace) -> torch.device:
    """Apply --threads, then resolve --device: what a command does before it computes."""
    set_threads(args.threads)
    return resolve_device(args.device)

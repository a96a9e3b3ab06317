"""`python -m ncsn train`: train one variant (the train rule's command)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ncsn.device import resolve_device


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", required=True, help="variant name (a key of the config's `variants`)")
    parser.add_argument("--settings", required=True,
                        help="JSON: the variant's config merged with the `training` section and `noise`")
    parser.add_argument("--data", required=True, type=Path, help="results/data/{dataset}.pt of the data rule")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--out-dir", required=True, type=Path, help="results/train/{variant}")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of PyTorch (default: its own choice)")


def run(args: argparse.Namespace) -> int:
    from ncsn.training.loop import train
    from ncsn.training.settings import parse_settings

    settings = parse_settings(args.settings)
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = train(settings, variant=args.variant, data_path=args.data, out_dir=args.out_dir, seed=args.seed,
                 device=device, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    last = rows[-1]
    print(f"{args.variant}: {last['epoch']} epochs, {last['step']} steps; held-out DSM loss raw "
          f"{last['heldout_loss_raw']:.4f}, EMA {last['heldout_loss_ema']:.4f}")
    return 0

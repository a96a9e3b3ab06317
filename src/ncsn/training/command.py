"""`python -m ncsn train`: train one variant (the train rule's command)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ncsn.cli_options import add_run_options, run_device
from ncsn.training.loop import train
from ncsn.training.settings import parse_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", required=True, help="variant name (a key of the config's `variants`)")
    parser.add_argument(
        "--settings", required=True, help="JSON: the variant's config merged with the `training` section and `noise`"
    )
    parser.add_argument("--data", required=True, type=Path, help="results/data/{dataset}.pt of the data rule")
    parser.add_argument("--out-dir", required=True, type=Path, help="results/train/{variant}")
    add_run_options(parser)


def run(args: argparse.Namespace) -> int:
    settings = parse_settings(args.settings)
    device = run_device(args)
    rows = train(
        settings,
        variant=args.variant,
        data_path=args.data,
        out_dir=args.out_dir,
        seed=args.seed,
        device=device,
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    last = rows[-1]
    print(
        f"{args.variant}: {last['epoch']} epochs, {last['step']} steps; held-out DSM loss raw "
        f"{last['heldout_loss_raw']:.4f}, EMA {last['heldout_loss_ema']:.4f}"
    )
    return 0

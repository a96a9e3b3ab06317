"""`python -m ncsn merge-samples`: join the shards of one sample set (sample --shard K/N, seeding batch)
into the set itself, bitwise the images an unsharded job draws with the same seed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ncsn.errors import NcsnError
from ncsn.sampling.sets import merge_shards, write_sample_set


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shards", nargs="+", required=True, type=Path, help="the shard files, any order")
    parser.add_argument("--grid-size", type=int, default=64, help="images shown in the PNG grid")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--grid", required=True, type=Path)


def run(args: argparse.Namespace) -> int:
    images, info = merge_shards(args.shards)
    if len(images) != info["n_samples"]:
        raise NcsnError(f"the shards hold {len(images)} images, the set {info['n_samples']}.")
    write_sample_set(images, info, args.out, args.grid, args.grid_size)
    print(json.dumps(info))
    return 0

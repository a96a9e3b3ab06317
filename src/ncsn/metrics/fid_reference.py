"""`python -m ncsn fid-reference`: the reference features of a dataset's test images for one extractor
(ncsn.metrics.reference), and with --floor-n the data floor; writes the JSON that evaluate reads."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from ncsn.cli_options import add_run_options, run_device
from ncsn.metrics.extractors import Extractor, find_inception_weights, make_extractor
from ncsn.metrics.fid import DEFAULT_BOOTSTRAP
from ncsn.metrics.reference import (
    REFERENCE_SPLIT,
    cache_name,
    calibration,
    data_floor,
    precompute,
    reference_images,
)
from ncsn.torch_files import write_text_atomic


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, help="results/data/{dataset}.pt")
    parser.add_argument("--extractor", required=True, choices=["domain", "inception"])
    parser.add_argument(
        "--weights",
        required=True,
        type=Path,
        help="classifier (domain) or Inception weights; for inception, torch-fidelity's own "
        "file in the torch hub cache wins when present",
    )
    parser.add_argument("--n", required=True, type=int, help="reference images (from the test split)")
    parser.add_argument("--cache-root", required=True, type=Path)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument(
        "--floor-n",
        type=int,
        default=None,
        help="also measure the data floor: this many test images (the sample sets' size), disjoint "
        "from the reference, scored against it",
    )
    parser.add_argument(
        "--calibration-sets",
        type=int,
        default=0,
        help="with --floor-n: also score this many disjoint sets of --floor-n real images (the first is the "
        "floor's) like sample sets, to set the bootstrap's standard deviation beside their real spread",
    )
    parser.add_argument("--kid-subsets", type=int, default=100)
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_BOOTSTRAP, help="bootstrap resamples per interval")
    add_run_options(parser)
    parser.add_argument("--out", required=True, type=Path, help="JSON describing the reference (input of evaluate)")


def compute(
    data_path: Path,
    extractor_kind: str,
    weights: str | Path,
    *,
    n: int,
    cache_root: Path,
    batch_size: int,
    floor_n: int | None,
    calibration_sets: int = 0,
    kid_subsets: int,
    n_bootstrap: int,
    seed: int,
    device: torch.device,
) -> dict[str, Any]:
    """Compute (or find in the feature cache under `cache_root`) the reference features of `n`
    test images, and with `floor_n` the data floor; returns the description that evaluate reads."""
    weights = find_inception_weights(weights) if extractor_kind == "inception" else weights
    extractor = make_extractor(extractor_kind, weights)
    images = reference_images(data_path, n, seed)
    name = cache_name(data_path.stem, len(images), seed)
    features = precompute(images, extractor, name, cache_root, batch_size=batch_size, device=device)
    floor = None
    if floor_n:
        floor = data_floor(
            data_path,
            features,
            extractor,
            n_reference=len(images),
            n=floor_n,
            seed=seed,
            batch_size=batch_size,
            kid_subsets=kid_subsets,
            n_bootstrap=n_bootstrap,
            device=device,
        )
    calibrated = None
    if floor_n and calibration_sets >= 2:
        calibrated = calibration(
            data_path,
            features,
            extractor,
            n_reference=len(images),
            n=floor_n,
            n_sets=calibration_sets,
            seed=seed,
            batch_size=batch_size,
            kid_subsets=kid_subsets,
            device=device,
        )
    return describe(data_path, extractor, weights, len(images), seed, cache_root, name, floor, calibrated)


def describe(
    data_path: Path,
    extractor: Extractor,
    weights: str | Path,
    n_reference: int,
    seed: int,
    cache_root: Path,
    name: str,
    floor: dict[str, Any] | None,
    calibrated: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The reference description (the JSON that evaluate reads)."""
    return {
        "dataset": data_path.stem,
        "data": str(data_path),
        "split": REFERENCE_SPLIT,
        "n_reference": n_reference,
        "seed": seed,
        "extractor": extractor.kind,
        "extractor_name": extractor.name,
        "weights": str(weights),
        "feature_layer": extractor.feature_layer,
        "cache_root": str(cache_root),
        "cache_name": name,
        "floor": floor,
        "calibration": calibrated,
    }


def write(info: dict[str, Any], out: Path) -> None:
    write_text_atomic(json.dumps(info, indent=2) + "\n", out)


def run(args: argparse.Namespace) -> int:
    device = run_device(args)
    info = compute(
        args.data,
        args.extractor,
        args.weights,
        n=args.n,
        cache_root=args.cache_root,
        batch_size=args.batch_size,
        floor_n=args.floor_n,
        calibration_sets=args.calibration_sets,
        kid_subsets=args.kid_subsets,
        n_bootstrap=args.bootstrap,
        seed=args.seed,
        device=device,
    )
    write(info, args.out)
    print(json.dumps(info))
    return 0

"""`python -m ncsn fid-reference`: features of a dataset's reference images, computed once per dataset
and extractor and kept in torch-fidelity's cache (results/fid_cache/). The cache file names hold the
reference's name (dataset, split, size, seed) and the extractor's name (which holds a hash of its
weights), so a retrained classifier or other Inception weights never reuse stale statistics.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import torch

from ncsn.errors import NcsnError
from ncsn.metrics.extractors import Extractor, make_extractor

REFERENCE_SPLIT = "test"  # the classifier behind the domain features was trained on the train split


def reference_images(data_path: str | Path, n: int, seed: int) -> torch.Tensor:
    """A fixed random subset of `n` test-split images (all of them if n >= the split size), uint8 [n, 1, H, W]."""
    from ncsn.metrics.classifier import load_dataset

    images = load_dataset(data_path)[REFERENCE_SPLIT]["images"]
    if n < len(images):
        images = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]]
    return images.unsqueeze(1).contiguous()


def cache_name(dataset: str, n: int, seed: int) -> str:
    return f"{dataset}-{REFERENCE_SPLIT}-n{n}-seed{seed}"


def precompute(images: torch.Tensor, extractor: Extractor, name: str, cache_root: Path, *, batch_size: int,
               device: torch.device) -> None:
    from torch_fidelity.utils import create_feature_extractor, extract_featuresdict_from_input_id_cached

    from ncsn.metrics.fid import ImageTensorDataset

    cuda = device.type == "cuda"
    kwargs = dict(input2=ImageTensorDataset(images, extractor.channels), input2_cache_name=name,
                  cache_root=str(cache_root), cache=True, batch_size=batch_size, cuda=cuda, save_cpu_ram=True,
                  verbose=True, feature_extractor_weights_path=extractor.weights_path)
    with contextlib.redirect_stdout(sys.stderr):
        fe = create_feature_extractor(extractor.name, [extractor.feature_layer], **kwargs)
        extract_featuresdict_from_input_id_cached(2, fe, **kwargs)


def load_reference(path: str | Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise NcsnError(f"reference description {path} does not exist; run the fid_reference rule "
                        f"(python -m ncsn fid-reference) first.") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, help="results/data/{dataset}.pt")
    parser.add_argument("--extractor", required=True, choices=["domain", "inception"])
    parser.add_argument("--weights", required=True, type=Path,
                        help="classifier (domain) or Inception weights; for inception, torch-fidelity's own "
                             "file in the torch hub cache wins when present")
    parser.add_argument("--n", required=True, type=int, help="reference images (from the test split)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-root", required=True, type=Path)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", required=True, type=Path, help="JSON describing the reference (input of evaluate)")


def run(args: argparse.Namespace) -> int:
    from ncsn.metrics.extractors import find_inception_weights
    from ncsn.training.command import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    weights = find_inception_weights(args.weights) if args.extractor == "inception" else args.weights
    extractor = make_extractor(args.extractor, weights)
    images = reference_images(args.data, args.n, args.seed)
    name = cache_name(args.data.stem, len(images), args.seed)
    precompute(images, extractor, name, args.cache_root, batch_size=args.batch_size, device=device)
    info = {"dataset": args.data.stem, "data": str(args.data), "split": REFERENCE_SPLIT, "n_reference": len(images),
            "seed": args.seed, "extractor": extractor.kind, "extractor_name": extractor.name,
            "weights": str(weights), "feature_layer": extractor.feature_layer, "cache_root": str(args.cache_root),
            "cache_name": name}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info))
    return 0

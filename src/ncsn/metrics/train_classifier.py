"""`python -m ncsn train-classifier`: train the domain classifier (ncsn.metrics.classifier) on a dataset's
training split and write its weights and a JSON with the test accuracy."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from ncsn.cli_options import add_run_options, run_device
from ncsn.data.images import load_dataset
from ncsn.errors import NcsnError
from ncsn.metrics.classifier import SmallCNN, accuracy, save_classifier, train_classifier


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, help="results/data/{dataset}.pt")
    parser.add_argument("--out", required=True, type=Path, help="weights file, e.g. results/classifier/{dataset}.pt")
    parser.add_argument("--summary", required=True, type=Path, help="JSON with the test accuracy")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--train-subset",
        type=int,
        default=None,
        help="train on a fixed random subset of this many training images (default: all)",
    )
    add_run_options(parser)


def train_subset(train: dict[str, torch.Tensor], n: int | None, seed: int) -> dict[str, torch.Tensor]:
    """A fixed random subset of `n` training images and their labels (all of them for None)."""
    if n is None:
        return train
    if n < 1:
        raise NcsnError(f"--train-subset must be >= 1, got {n} (evaluation.classifier_train_subset).")
    keep = torch.randperm(len(train["images"]), generator=torch.Generator().manual_seed(seed))[:n]
    return {"images": train["images"][keep], "labels": train["labels"][keep]}


def compute(
    data: dict[str, Any],
    *,
    subset: int | None,
    epochs: int,
    batch_size: int,
    seed: int,
    device: torch.device | str,
) -> tuple[SmallCNN, dict[str, Any]]:
    """Train the classifier on the (subset of the) training split of a loaded dataset; the model and
    what the summary says of the run (test accuracy, seconds, split sizes)."""
    train, test = train_subset(data["train"], subset, seed), data["test"]
    start = time.perf_counter()
    model = train_classifier(
        train["images"],
        train["labels"],
        n_classes=len(data["classes"]),
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        device=device,
    )
    seconds = time.perf_counter() - start
    return model, {
        "test_accuracy": accuracy(model, test["images"], test["labels"]),
        "seconds": seconds,
        "n_train": len(train["images"]),
        "n_test": len(test["images"]),
    }


def write(model: SmallCNN, meta: dict[str, Any], summary: dict[str, Any], out: Path, summary_path: Path) -> None:
    """The weights (with `meta`) and the JSON summary."""
    save_classifier(model, out, meta)
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")


def run(args: argparse.Namespace) -> int:
    device = run_device(args)
    data = load_dataset(args.data)
    model, result = compute(
        data, subset=args.train_subset, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, device=device
    )
    meta = {
        "dataset": args.data.stem,
        "classes": list(data["classes"]),
        "test_accuracy": result["test_accuracy"],
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
    }
    summary = {
        **meta,
        "train_seconds": round(result["seconds"], 1),
        "n_train": result["n_train"],
        "n_test": result["n_test"],
        "weights": str(args.out),
        "device": str(device),
    }
    write(model, meta, summary, args.out, args.summary)
    print(
        f"{args.data.stem}: test accuracy {result['test_accuracy']:.4f} after {args.epochs} epochs "
        f"({result['seconds']:.0f} s)"
    )
    return 0

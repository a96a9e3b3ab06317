"""A small CNN classifier per dataset: its penultimate layer is the domain feature extractor of the
FID / KID numbers at CPU scale, and its predictions give the class histogram of generated samples.

`python -m ncsn train-classifier` trains it on the training split and writes the weights and a JSON
with the test accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ncsn.cli_options import add_run_options, run_device
from ncsn.data.images import load_dataset
from ncsn.errors import NcsnError
from ncsn.torch_files import load_dict, save_atomic

FEATURE_DIM = 128


class SmallCNN(nn.Module):
    """Two conv blocks and two linear layers on 1x28x28 images scaled to [0, 1]."""

    def __init__(self, n_classes: int = 10, feature_dim: int = FEATURE_DIM):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.fc = nn.Linear(64 * 7 * 7, feature_dim)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(feature_dim, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc(self.conv(x).flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 28, 28] or [N, 1, 28, 28] -> float [N, 1, 28, 28] in [0, 1]."""
    if images.dim() == 3:
        images = images.unsqueeze(1)
    return images.float() / 255.0


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    n_classes: int,
    epochs: int = 2,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> SmallCNN:
    """Adam with a one-cycle schedule over uint8 `images` [N, 28, 28]; every random choice from `seed`."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # weight init and dropout masks
    model = SmallCNN(n_classes).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = -(-len(images) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        bar = tqdm(
            range(steps_per_epoch), desc=f"classifier epoch {epoch + 1}/{epochs}", disable=not progress, file=sys.stderr
        )
        for i in bar:
            idx = order[i * batch_size : (i + 1) * batch_size]
            x, y = to_input(images[idx]).to(device), labels[idx].to(device)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            if i % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
    return model.eval()


@torch.inference_mode()
def predict(model: SmallCNN, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Predicted class of each uint8 image."""
    device = next(model.parameters()).device
    model.eval()
    return torch.cat(
        [
            model(to_input(images[i : i + batch_size]).to(device)).argmax(1).cpu()
            for i in range(0, len(images), batch_size)
        ]
    )


def accuracy(model: SmallCNN, images: torch.Tensor, labels: torch.Tensor) -> float:
    return (predict(model, images) == labels).float().mean().item()


def save_classifier(model: SmallCNN, path: Path, meta: dict[str, Any]) -> None:
    save_atomic({"state_dict": model.state_dict(), "n_classes": model.head.out_features, **meta}, path)


def load_classifier_file(path: str | Path) -> dict[str, Any]:
    """The classifier's weights and what it was trained on (dataset, classes, test accuracy)."""
    return load_dict(
        path,
        "classifier weights",
        "run `python -m ncsn train-classifier` (rule `classifier`) for its dataset",
        required=("state_dict", "n_classes"),
    )


def load_classifier(path: str | Path, device: torch.device | str = "cpu") -> SmallCNN:
    checkpoint = load_classifier_file(path)
    model = SmallCNN(checkpoint["n_classes"])
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError:
        raise NcsnError(
            f"classifier weights {path} do not fit this project's classifier network; delete the "
            f"file and rerun the classifier rule."
        ) from None
    return model.to(device).eval()


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

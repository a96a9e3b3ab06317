"""A small CNN classifier per dataset: its penultimate layer is the domain feature extractor of the
FID / KID numbers at CPU scale, and its predictions give the class histogram of generated samples.
Training it is `python -m ncsn train-classifier` (ncsn.metrics.train_classifier).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

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
    remedy = "run `python -m ncsn train-classifier` (rule `classifier`) for its dataset"
    checkpoint = load_dict(path, "classifier weights", remedy, required=("state_dict", "n_classes"))
    n_classes = checkpoint["n_classes"]
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise NcsnError(
            f"classifier weights {path}: 'n_classes' must be an integer >= 1, got {n_classes!r}; it was not "
            f"written by this project (or was edited). Delete it and {remedy}."
        )
    return checkpoint


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

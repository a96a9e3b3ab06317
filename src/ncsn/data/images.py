"""Load the image tensors written by the `data` rule (results/data/{dataset}.pt): the one reader of
that file for every command (training, the classifier, the FID reference).

The file is a torch.save'd dict: {"train": {"images": uint8 [N, 28, 28], "labels": int64 [N]},
"test": {...}, "classes": [...]}.  `load_dataset` returns it as stored (uint8); `load_split` returns
one split's images as float32 in [0, 1] with shape [N, 1, 28, 28].
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ncsn.errors import DataError
from ncsn.torch_files import load_dict

SPLITS = ("train", "test")


def _check_split(data: dict[str, Any], split: str, path: Path) -> None:
    try:
        images, labels = data[split]["images"], data[split]["labels"]
    except (KeyError, TypeError):
        raise DataError(
            f"dataset file {path} has no '{split}' images/labels; it was not written by the data "
            f"rule. Delete it and rerun the data rule."
        ) from None
    if (
        not (isinstance(images, Tensor) and isinstance(labels, Tensor))
        or images.dtype != torch.uint8
        or images.ndim != 3
        or len(images) != len(labels)
    ):
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise DataError(
            f"dataset file {path}: '{split}' images must be uint8 [N, H, W] with one label each, "
            f"got {getattr(images, 'dtype', '')} {shape} and {len(labels)} labels."
        )


def load_dataset(path: str | Path) -> dict[str, Any]:
    """The staged file as written (uint8 images [N, H, W], int64 labels, class names), every split checked."""
    path = Path(path)
    data = load_dict(
        path,
        "dataset file",
        f"run the data rule first (`snakemake {path}`)",
        required=(*SPLITS, "classes"),
        error=DataError,
    )
    for split in SPLITS:
        _check_split(data, split, path)
    return data


def load_split(path: str | Path, split: str) -> tuple[Tensor, Tensor]:
    """(images float32 [N, 1, H, W] in [0, 1], labels int64 [N]) of `split` ("train" or "test")."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    data = load_dataset(path)[split]
    return data["images"].unsqueeze(1).float().div_(255.0), data["labels"].long()


def write_synthetic(path: str | Path, n_train: int = 64, n_test: int = 32, seed: int = 0) -> Path:
    """A small file of the data rule's layout (random blobs), for tests and benchmarks."""
    g = torch.Generator().manual_seed(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def split(n: int) -> dict[str, Tensor]:
        return {
            "images": torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8),
            "labels": torch.randint(0, 10, (n,), generator=g),
        }

    torch.save({"train": split(n_train), "test": split(n_test), "classes": [str(i) for i in range(10)]}, path)
    return path

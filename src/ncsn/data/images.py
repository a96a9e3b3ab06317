"""Load the image tensors written by the `data` rule (results/data/{dataset}.pt).

The file is a torch.save'd dict: {"train": {"images": uint8 [N, 28, 28], "labels": int64 [N]},
"test": {...}, "classes": [...]}.  Images come back as float32 in [0, 1] with shape [N, 1, 28, 28].
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from ncsn.errors import DataError


def load_split(path: str | Path, split: str) -> tuple[Tensor, Tensor]:
    """(images float32 [N, 1, H, W] in [0, 1], labels int64 [N]) of `split` ("train" or "test")."""
    path = Path(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"dataset file {path} does not exist; run the data rule first "
                        f"(`snakemake {path}`).") from None
    except Exception as err:  # a truncated or foreign file: say which one
        raise DataError(f"dataset file {path} cannot be read ({err}); delete it and rerun the data rule.") from None
    try:
        images, labels = data[split]["images"], data[split]["labels"]
    except (KeyError, TypeError):
        raise DataError(f"dataset file {path} has no '{split}' images/labels; it was not written by the data "
                        f"rule. Delete it and rerun the data rule.") from None
    if images.dtype != torch.uint8 or images.ndim != 3 or len(images) != len(labels):
        raise DataError(f"dataset file {path}: '{split}' images must be uint8 [N, H, W] with one label each, "
                        f"got {images.dtype} {tuple(images.shape)} and {len(labels)} labels.")
    return images.unsqueeze(1).float().div_(255.0), labels.long()


def write_synthetic(path: str | Path, n_train: int = 64, n_test: int = 32, seed: int = 0) -> Path:
    """A small file of the data rule's layout (random blobs), for tests and benchmarks."""
    g = torch.Generator().manual_seed(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def split(n: int) -> dict[str, Tensor]:
        return {"images": torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8),
                "labels": torch.randint(0, 10, (n,), generator=g)}

    torch.save({"train": split(n_train), "test": split(n_test), "classes": [str(i) for i in range(10)]}, path)
    return path

"""FID and KID through torch-fidelity (never a hand-written Frechet distance).

Inputs are uint8 image tensors [N, C, H, W] (or [N, H, W]); they are handed to torch-fidelity as
Datasets of bare uint8 tensors with the channel count the extractor needs (gray -> RGB by repeating
the channel for Inception, which resizes to 299x299 itself). Reference statistics are cached by
torch-fidelity under `cache_root`, keyed by the reference's name and the extractor's name, which
contains a hash of its weights.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset
from torch_fidelity import calculate_metrics

from ncsn.metrics.extractors import Extractor

DEFAULT_KID_SUBSET_SIZE = 1000


class ImageTensorDataset(Dataset):
    """uint8 images as a Dataset of bare tensors [C, H, W], as torch-fidelity requires."""

    def __init__(self, images: torch.Tensor, channels: int):
        if images.dtype != torch.uint8:
            raise ValueError(f"images must be uint8, got {images.dtype}")
        if images.dim() == 3:
            images = images.unsqueeze(1)
        if images.shape[1] not in (1, channels):
            raise ValueError(f"cannot turn {images.shape[1]}-channel images into {channels} channels")
        self.images = images
        self.channels = channels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        image = self.images[i]
        return image.expand(self.channels, -1, -1).contiguous() if image.shape[0] != self.channels else image


def kid_subset_size(n1: int, n2: int) -> int:
    """torch-fidelity's default, lowered to the smaller set for small sets (KID needs that many per input)."""
    return min(DEFAULT_KID_SUBSET_SIZE, n1, n2)


def fid_kid(samples: torch.Tensor, reference: torch.Tensor, extractor: Extractor, *,
            reference_cache_name: str | None = None, cache_root: str | Path | None = None,
            batch_size: int = 200, kid_subsets: int = 100, seed: int = 0,
            device: torch.device | str = "cpu", verbose: bool = False) -> dict[str, Any]:
    """FID and KID (mean, std) of `samples` against `reference`, with the extractor and sizes used.

    With `reference_cache_name` and `cache_root`, the reference features are read from (or written to)
    the cache instead of being recomputed.
    """
    n1, n2 = len(samples), len(reference)
    if n1 < 2 or n2 < 2:
        raise ValueError(f"FID needs at least 2 images per set, got {n1} and {n2}")
    subset = kid_subset_size(n1, n2)
    use_cache = reference_cache_name is not None and cache_root is not None
    kwargs = dict(
        input1=ImageTensorDataset(samples, extractor.channels),
        input2=ImageTensorDataset(reference, extractor.channels),
        fid=True, kid=True, kid_subset_size=subset, kid_subsets=kid_subsets, batch_size=batch_size,
        cuda=torch.device(device).type == "cuda", rng_seed=seed,
        # in-memory tensors need no loader worker processes (save_cpu_ram only sets num_workers=0 here)
        save_cpu_ram=True, verbose=verbose, samples_shuffle=False,
        cache=use_cache, cache_root=str(cache_root) if use_cache else None,
        input2_cache_name=reference_cache_name if use_cache else None,
        **extractor.fidelity_kwargs(),
    )
    # torch-fidelity prints to stdout; keep a command's stdout for its own summary.
    with contextlib.redirect_stdout(sys.stderr):
        metrics = calculate_metrics(**kwargs)
    return {
        "fid": float(metrics["frechet_inception_distance"]),
        "kid_mean": float(metrics["kernel_inception_distance_mean"]),
        "kid_std": float(metrics["kernel_inception_distance_std"]),
        "kid_subset_size": subset, "kid_subsets": kid_subsets,
        "n_samples": n1, "n_reference": n2,
        "extractor": extractor.kind, "extractor_name": extractor.name,
    }

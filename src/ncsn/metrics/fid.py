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
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric
from torch_fidelity.utils import (
    create_feature_extractor,
    extract_featuresdict_from_input_id,
    extract_featuresdict_from_input_id_cached,
)
from tqdm.auto import tqdm

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


def _fidelity_inputs(
    samples: torch.Tensor,
    reference: torch.Tensor,
    extractor: Extractor,
    *,
    reference_cache_name: str | None,
    cache_root: str | Path | None,
    batch_size: int,
    device: torch.device | str,
    verbose: bool,
) -> dict[str, Any]:
    """The inputs, extractor, cache and loader keywords of calculate_metrics."""
    use_cache = reference_cache_name is not None and cache_root is not None
    return dict(
        input1=ImageTensorDataset(samples, extractor.channels),
        input2=ImageTensorDataset(reference, extractor.channels),
        batch_size=batch_size,
        cuda=torch.device(device).type == "cuda",
        # in-memory tensors need no loader worker processes (save_cpu_ram only sets num_workers=0 here)
        save_cpu_ram=True,
        verbose=verbose,
        samples_shuffle=False,
        cache=use_cache,
        cache_root=str(cache_root) if use_cache else None,
        input2_cache_name=reference_cache_name if use_cache else None,
        **extractor.fidelity_kwargs(),
    )


def fid_kid(
    samples: torch.Tensor,
    reference: torch.Tensor,
    extractor: Extractor,
    *,
    reference_cache_name: str | None = None,
    cache_root: str | Path | None = None,
    batch_size: int = 200,
    kid_subsets: int = 100,
    seed: int = 0,
    device: torch.device | str = "cpu",
    verbose: bool = False,
) -> dict[str, Any]:
    """FID and KID (mean, std) of `samples` against `reference`, with the extractor and sizes used.

    With `reference_cache_name` and `cache_root`, the reference features are read from (or written to)
    the cache instead of being recomputed.
    """
    n1, n2 = len(samples), len(reference)
    if n1 < 2 or n2 < 2:
        raise ValueError(f"FID needs at least 2 images per set, got {n1} and {n2}")
    subset = kid_subset_size(n1, n2)
    inputs = _fidelity_inputs(
        samples,
        reference,
        extractor,
        reference_cache_name=reference_cache_name,
        cache_root=cache_root,
        batch_size=batch_size,
        device=device,
        verbose=verbose,
    )
    # torch-fidelity prints to stdout; keep a command's stdout for its own summary.
    with contextlib.redirect_stdout(sys.stderr):
        metrics = calculate_metrics(
            fid=True, kid=True, kid_subset_size=subset, kid_subsets=kid_subsets, rng_seed=seed, **inputs
        )
    return {
        "fid": float(metrics["frechet_inception_distance"]),
        "kid_mean": float(metrics["kernel_inception_distance_mean"]),
        "kid_std": float(metrics["kernel_inception_distance_std"]),
        "kid_subset_size": subset,
        "kid_subsets": kid_subsets,
        "n_samples": n1,
        "n_reference": n2,
        "extractor": extractor.kind,
        "extractor_name": extractor.name,
    }


# ---------------------------------------------------------------------------------------------------
# Intervals: the same torch-fidelity metrics on features, with a bootstrap over the sample set.

DEFAULT_BOOTSTRAP = 200
Z_95 = 1.959964  # two-sided 95% normal quantile


def image_features(
    images: torch.Tensor,
    extractor: Extractor,
    *,
    batch_size: int = 200,
    device: torch.device | str = "cpu",
    cache_name: str | None = None,
    cache_root: str | Path | None = None,
) -> torch.Tensor:
    """The extractor's FID/KID features [N, D] of uint8 images, through torch-fidelity's own feature
    extraction (and its cache, when `cache_name` and `cache_root` are given)."""
    use_cache = cache_name is not None and cache_root is not None
    kwargs = dict(
        input1=ImageTensorDataset(images, extractor.channels),
        batch_size=batch_size,
        cuda=torch.device(device).type == "cuda",
        save_cpu_ram=True,
        verbose=False,
        feature_extractor_weights_path=extractor.weights_path,
        samples_shuffle=False,
    )
    if use_cache:
        kwargs.update(cache=True, cache_root=str(cache_root), input1_cache_name=cache_name)
    with contextlib.redirect_stdout(sys.stderr):
        fe = create_feature_extractor(extractor.name, [extractor.feature_layer], **kwargs)
        extract = extract_featuresdict_from_input_id_cached if use_cache else extract_featuresdict_from_input_id
        features = extract(1, fe, **kwargs)[extractor.feature_layer]
    return features.double()


def fid_from_features(features: torch.Tensor, reference_stats: dict) -> float:
    stats = fid_features_to_statistics(features)
    with contextlib.redirect_stdout(sys.stderr):
        return float(fid_statistics_to_metric(stats, reference_stats, verbose=False)["frechet_inception_distance"])


def kid_from_features(features: torch.Tensor, reference: torch.Tensor, *, subsets: int, seed: int) -> dict:
    subset = kid_subset_size(len(features), len(reference))
    out = kid_features_to_metric(
        features, reference, kid_subsets=subsets, kid_subset_size=subset, rng_seed=seed, verbose=False
    )
    return {
        "kid_mean": float(out["kernel_inception_distance_mean"]),
        "kid_std": float(out["kernel_inception_distance_std"]),
        "kid_subset_size": subset,
    }


def interval(estimate: float, replicates: list[float]) -> dict:
    """The estimate with its bootstrap standard deviation and the 95% normal interval around it.

    Why not the percentile interval: resampling with replacement repeats images, which shrinks the
    feature covariance and shifts every FID replicate upwards (more so for small sets); the spread of
    the replicates is a fair measure of the noise, their location is not.
    """
    sd = float(torch.tensor(replicates, dtype=torch.float64).std()) if len(replicates) > 1 else float("nan")
    return {
        "value": float(estimate),
        "sd": sd,
        "low": float(estimate - Z_95 * sd),
        "high": float(estimate + Z_95 * sd),
        "replicate_mean": float(sum(replicates) / len(replicates)) if replicates else float("nan"),
    }


def _bootstrap(
    features: torch.Tensor,
    reference: torch.Tensor,
    reference_stats: dict,
    n_bootstrap: int,
    kid_subsets: int,
    seed: int,
    progress: bool,
) -> tuple[list[float], list[float]]:
    """FID and KID of `n_bootstrap` resamples (with replacement) of the sample features."""
    generator = torch.Generator().manual_seed(seed)
    # fewer KID subsets per replicate: the replicate's own resampling is the noise being measured
    replicate_subsets = max(1, min(kid_subsets, 10))
    fids, kids = [], []
    for b in tqdm(range(n_bootstrap), desc="bootstrap", file=sys.stderr, disable=not progress, mininterval=5):
        index = torch.randint(len(features), (len(features),), generator=generator)
        resampled = features[index]
        fids.append(fid_from_features(resampled, reference_stats))
        kids.append(kid_from_features(resampled, reference, subsets=replicate_subsets, seed=seed + 1 + b)["kid_mean"])
    return fids, kids


def fid_kid_intervals(
    features: torch.Tensor,
    reference: torch.Tensor,
    *,
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    kid_subsets: int = 100,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """FID and KID of sample features against reference features, each with a bootstrap interval over
    the sample set (the reference is held fixed: it is the target, not the thing measured).

    Returns {"fid": interval, "kid": interval, "kid_std": torch-fidelity's spread over KID subsets,
    "n_bootstrap": ...}; every FID and KID is computed by torch-fidelity's functions.
    """
    if len(features) < 2 or len(reference) < 2:
        raise ValueError(f"FID needs at least 2 images per set, got {len(features)} and {len(reference)}")
    reference_stats = fid_features_to_statistics(reference)
    kid = kid_from_features(features, reference, subsets=kid_subsets, seed=seed)
    fid = fid_from_features(features, reference_stats)
    fids, kids = _bootstrap(features, reference, reference_stats, n_bootstrap, kid_subsets, seed, progress)
    return {
        "fid": interval(fid, fids),
        "kid": interval(kid["kid_mean"], kids),
        "kid_std": kid["kid_std"],
        "kid_subset_size": kid["kid_subset_size"],
        "kid_subsets": kid_subsets,
        "n_bootstrap": n_bootstrap,
        "n_samples": len(features),
        "n_reference": len(reference),
    }

"""The reference images of the FID / KID numbers and their features, computed once per dataset and
extractor (by `python -m ncsn fid-reference`, ncsn.metrics.fid_reference) and kept in the project's
feature cache (results/fid_cache/, ncsn.metrics.fid: plain tensors, read with weights_only=True). The
cache file names hold the reference's name (dataset, split, size, seed) and the extractor's name (which
holds a hash of its weights), so a retrained classifier or other Inception weights never reuse stale
features.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ncsn.data.images import load_dataset
from ncsn.errors import NcsnError
from ncsn.metrics.extractors import Extractor
from ncsn.metrics.fid import fid_kid_intervals, image_features
from ncsn.stats import calibration_summary

REFERENCE_SPLIT = "test"  # the classifier behind the domain features was trained on the train split


def _shuffled_test_images(data_path: str | Path, seed: int) -> torch.Tensor:
    images = load_dataset(data_path)[REFERENCE_SPLIT]["images"]
    return images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))]


def reference_images(data_path: str | Path, n: int, seed: int) -> torch.Tensor:
    """A fixed random subset of `n` test-split images (all of them if n >= the split size), uint8 [n, 1, H, W]."""
    return _shuffled_test_images(data_path, seed)[:n].unsqueeze(1).contiguous()


def floor_images(data_path: str | Path, n_reference: int, n: int, seed: int) -> tuple[torch.Tensor, str]:
    """`n` real images that are not reference images, and the split they come from: a stand-in for a
    perfect model's samples, whose FID / KID against the reference is the floor that sampling noise
    alone puts under any model at this sample size.

    Test images beyond the `n_reference` of `reference_images(data_path, n_reference, seed)` when the test
    split has enough; otherwise (the paper scale: 10 000 samples against all 10 000 test images) a fixed
    random subset of the training split, which the Inception extractor of that profile never saw.
    """
    images = _shuffled_test_images(data_path, seed)
    if n_reference + n <= len(images):
        return images[n_reference : n_reference + n].unsqueeze(1).contiguous(), REFERENCE_SPLIT
    train = load_dataset(data_path)["train"]["images"]
    if n > len(train):
        raise NcsnError(
            f"the data floor needs {n} real images besides the {n_reference} reference images, but "
            f"{data_path} has {len(images)} test and {len(train)} training images; lower "
            "evaluation.n_samples."
        )
    chosen = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed + 1))[:n]
    return train[chosen].unsqueeze(1).contiguous(), "train"


def calibration_images(data_path: str | Path, n_reference: int, n: int, n_sets: int, seed: int) -> list[torch.Tensor]:
    """`n_sets` disjoint sets of `n` real images, none a reference image: the first is the data floor's
    set (`floor_images`), the others follow it in the same shuffled order of the test split, or of the
    training split when the test split is too small (as for the floor)."""
    test = _shuffled_test_images(data_path, seed)
    if n_reference + n_sets * n <= len(test):
        pool = test[n_reference:]
    else:
        train = load_dataset(data_path)["train"]["images"]
        if n_sets * n > len(train):
            raise NcsnError(
                f"{n_sets} calibration sets of {n} real images need {n_sets * n} images besides the "
                f"{n_reference} reference images, but {data_path} has {len(test)} test and {len(train)} training "
                "images; lower evaluation.calibration_sets or evaluation.n_samples."
            )
        pool = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(seed + 1))]
    return [pool[i * n : (i + 1) * n].unsqueeze(1).contiguous() for i in range(n_sets)]


def cache_name(dataset: str, n: int, seed: int) -> str:
    return f"{dataset}-{REFERENCE_SPLIT}-n{n}-seed{seed}"


def precompute(
    images: torch.Tensor, extractor: Extractor, name: str, cache_root: Path, *, batch_size: int, device: torch.device
) -> torch.Tensor:
    """Features of the reference images, computed once and kept in the feature cache under `cache_root`."""
    return image_features(
        images, extractor, batch_size=batch_size, device=device, cache_name=name, cache_root=cache_root
    )


def data_floor(
    data_path: str | Path,
    reference_features: torch.Tensor,
    extractor: Extractor,
    *,
    n_reference: int,
    n: int,
    seed: int,
    batch_size: int,
    kid_subsets: int,
    n_bootstrap: int,
    device: torch.device,
) -> dict[str, Any]:
    """FID / KID (with bootstrap intervals) of `n` real test images against the reference: what a model
    whose samples were real images would score with sample sets of size `n`."""
    images, split = floor_images(data_path, n_reference, n, seed)
    features = image_features(images, extractor, batch_size=batch_size, device=device)
    floor = fid_kid_intervals(features, reference_features, n_bootstrap=n_bootstrap, kid_subsets=kid_subsets, seed=seed)
    return {**floor, "split": split}


def load_reference(path: str | Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise NcsnError(
            f"reference description {path} does not exist; run the fid_reference rule "
            f"(python -m ncsn fid-reference) first."
        ) from None


# Bootstrap resamples per calibration set: its bootstrap standard deviation to about +-10%.
CALIBRATION_BOOTSTRAP = 50


def calibration(
    data_path: str | Path,
    reference_features: torch.Tensor,
    extractor: Extractor,
    *,
    n_reference: int,
    n: int,
    n_sets: int,
    seed: int,
    batch_size: int,
    kid_subsets: int,
    device: torch.device,
) -> dict[str, Any]:
    """FID and KID of `n_sets` disjoint sets of `n` real images against the reference, each scored like a
    sample set (with its bootstrap standard deviation): how far the numbers of equally good sets really
    spread, beside what the bootstrap of one set says (ncsn.stats.calibration_summary)."""
    fids, kids, fid_sds, kid_sds = [], [], [], []
    for images in calibration_images(data_path, n_reference, n, n_sets, seed):
        features = image_features(images, extractor, batch_size=batch_size, device=device)
        scored = fid_kid_intervals(
            features, reference_features, n_bootstrap=CALIBRATION_BOOTSTRAP, kid_subsets=kid_subsets, seed=seed
        )
        fids.append(scored["fid"]["value"])
        kids.append(scored["kid"]["value"])
        fid_sds.append(scored["fid"]["sd"])
        kid_sds.append(scored["kid"]["sd"])
    return {
        "n_sets": n_sets,
        "n_samples": n,
        "n_bootstrap": CALIBRATION_BOOTSTRAP,
        "fid": calibration_summary(fids, fid_sds),
        "kid": calibration_summary(kids, kid_sds),
    }

"""FID and KID through torch-fidelity (never a hand-written Frechet distance).

Inputs are uint8 image tensors [N, C, H, W] (or [N, H, W]); they are handed to torch-fidelity as
Datasets of bare uint8 tensors with the channel count the extractor needs (gray -> RGB by repeating
the channel for Inception, which resizes to 299x299 itself). Features come from torch-fidelity's own
(uncached) extraction; FID and KID from its functions on those features.

Reference features are cached by this module, not by torch-fidelity (whose cache unpickles whatever
file it finds there): one torch file of the float32 features [N, D] under `cache_root`, named
`<reference name>-<extractor name>-features-<layer>.pt` (torch-fidelity's own name for the same file,
so earlier caches stay valid), written atomically and read with weights_only=True. The extractor's name
holds a hash of its weights, so other weights never reuse stale features.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric
from torch_fidelity.utils import create_feature_extractor, extract_featuresdict_from_input_id
from tqdm.auto import tqdm

from ncsn.errors import NcsnError
from ncsn.metrics.extractors import OFFICIAL_INCEPTION_FILE, Extractor
from ncsn.stats import Z_95
from ncsn.torch_files import load_dict, load_file, save_atomic

DEFAULT_KID_SUBSET_SIZE = 1000
CACHE_REMEDY = (
    "rerun: a missing file is recomputed from the reference images by the next evaluate or fid-reference job "
    "(`snakemake --forcerun fid_reference` recomputes it at once)"
)


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


# ---------------------------------------------------------------------------------------------------
# Features: torch-fidelity's extraction, the reference's kept in this project's cache.


def _trusted_weights(extractor: Extractor, folder: Path) -> str:
    """The weights file for torch-fidelity to read. torch-fidelity reads Inception weights with the full
    unpickler (weights_only=False), so the project reads them itself with weights_only=True (a crafted
    file is refused before it can run code) and hands torch-fidelity a copy of the tensors it read, written
    into `folder`: no file that another program can change between the two reads.
    (The domain extractor reads its classifier through ncsn.torch_files itself.)"""
    if extractor.kind != "inception":
        return extractor.weights_path
    state = load_dict(
        extractor.weights_path,
        "Inception weights",
        f"run `python -m ncsn convert-inception --out {extractor.weights_path}` (rule inception_weights), "
        f"or place torch-fidelity's own {OFFICIAL_INCEPTION_FILE} in the torch hub cache",
    )
    copy = folder / "inception-weights.pth"
    torch.save(state, copy)
    return str(copy)


class _Extraction:
    """One torch-fidelity feature extractor (built when first used) and the keywords of its uncached
    feature extraction."""

    def __init__(self, extractor: Extractor, batch_size: int, device: torch.device | str):
        self.extractor = extractor
        self.kwargs = dict(
            batch_size=batch_size,
            cuda=torch.device(device).type == "cuda",
            # in-memory tensors need no loader worker processes (save_cpu_ram only sets num_workers=0 here)
            save_cpu_ram=True,
            verbose=False,
            feature_extractor_weights_path=extractor.weights_path,
            samples_shuffle=False,
        )

    @functools.cached_property
    def model(self) -> torch.nn.Module:
        with tempfile.TemporaryDirectory(prefix="ncsn-weights-") as folder:
            kwargs = dict(self.kwargs, feature_extractor_weights_path=_trusted_weights(self.extractor, Path(folder)))
            # torch-fidelity prints to stdout; keep a command's stdout for its own summary.
            with contextlib.redirect_stdout(sys.stderr):
                return create_feature_extractor(self.extractor.name, [self.extractor.feature_layer], **kwargs)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The float32 features [N, D] of uint8 images, as torch-fidelity computes them."""
        data = ImageTensorDataset(images, self.extractor.channels)
        with contextlib.redirect_stdout(sys.stderr):
            featuresdict = extract_featuresdict_from_input_id(1, self.model, input1=data, **self.kwargs)
        return featuresdict[self.extractor.feature_layer]


def cached_features_path(cache_root: str | Path, cache_name: str, extractor: Extractor) -> Path:
    """Where the features of the images named `cache_name` are kept for `extractor`."""
    return Path(cache_root) / f"{cache_name}-{extractor.name}-features-{extractor.feature_layer}.pt"


def load_cached_features(path: Path, n_images: int) -> torch.Tensor:
    """The features [n_images, D] kept at `path`, checked: a torn or foreign file is a message."""
    features = load_file(path, "cached reference features", CACHE_REMEDY)
    if isinstance(features, torch.Tensor) and features.ndim == 2 and features.is_floating_point():
        if len(features) != n_images:
            problem = f"features of {len(features)} images, but the reference has {n_images}"
        elif not bool(torch.isfinite(features).all()):
            problem = "non-finite features"
        else:
            return features
    elif isinstance(features, torch.Tensor):
        problem = f"a {features.dtype} tensor of shape {tuple(features.shape)}, not float features [N, D]"
    else:
        problem = f"a {type(features).__name__}, not float features [N, D]"
    raise NcsnError(
        f"cached reference features {path} hold {problem}; the file was not written for this reference "
        f"(or was edited). Delete it and {CACHE_REMEDY}."
    )


def _reference_features(
    extraction: _Extraction, images: torch.Tensor, cache_name: str | None, cache_root: str | Path | None
) -> torch.Tensor:
    """The float32 features of `images`, read from the cache when it holds them, else computed (and
    kept there when a cache is named)."""
    if cache_name is None or cache_root is None:
        return extraction.features(images)
    path = cached_features_path(cache_root, cache_name, extraction.extractor)
    if path.exists():
        return load_cached_features(path, len(images))
    features = extraction.features(images)
    save_atomic(features, path)
    return features


def image_features(
    images: torch.Tensor,
    extractor: Extractor,
    *,
    batch_size: int = 200,
    device: torch.device | str = "cpu",
    cache_name: str | None = None,
    cache_root: str | Path | None = None,
) -> torch.Tensor:
    """The extractor's FID/KID features [N, D] (float64) of uint8 images, through torch-fidelity's own
    feature extraction (read from or kept in the cache, when `cache_name` and `cache_root` are given)."""
    extraction = _Extraction(extractor, batch_size, device)
    return _reference_features(extraction, images, cache_name, cache_root).double()


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
    """FID and KID (mean, std) of `samples` against `reference`, with the extractor and sizes used:
    the numbers of torch-fidelity's calculate_metrics(fid=True, kid=True) on the same inputs.

    With `reference_cache_name` and `cache_root`, the reference features are read from (or written to)
    the cache instead of being recomputed.
    """
    n1, n2 = len(samples), len(reference)
    if n1 < 2 or n2 < 2:
        raise ValueError(f"FID needs at least 2 images per set, got {n1} and {n2}")
    subset = kid_subset_size(n1, n2)
    extraction = _Extraction(extractor, batch_size, device)
    sample_features = extraction.features(samples)
    reference_features = _reference_features(extraction, reference, reference_cache_name, cache_root)
    with contextlib.redirect_stdout(sys.stderr):
        fid = fid_statistics_to_metric(
            fid_features_to_statistics(sample_features), fid_features_to_statistics(reference_features), verbose
        )
        kid = kid_features_to_metric(
            sample_features,
            reference_features,
            kid_subsets=kid_subsets,
            kid_subset_size=subset,
            rng_seed=seed,
            verbose=verbose,
        )
    return {
        "fid": float(fid["frechet_inception_distance"]),
        "kid_mean": float(kid["kernel_inception_distance_mean"]),
        "kid_std": float(kid["kernel_inception_distance_std"]),
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


def resample_indices(n: int, n_bootstrap: int, seed: int) -> torch.Tensor:
    """The bootstrap resamples of a set of `n` items: [n_bootstrap, n] indices drawn with replacement.

    Row b depends only on (seed, n, b) (one generator seeded with `seed`, drawn row by row, so a longer
    run extends a shorter one). Two sets of equal size scored with the same seed are therefore resampled
    with the same indices, resample by resample: when item i of one set corresponds to item i of the
    other (raw and EMA samples drawn from the same noise), replicate b of the one is paired with
    replicate b of the other, and the spread of the replicate differences is the noise of the paired
    difference (ncsn.stats.paired_difference). Holds 8 n n_bootstrap bytes (16 MB at 10000 x 200).
    """
    if n < 1 or n_bootstrap < 0:
        raise ValueError(f"resampling needs n >= 1 and n_bootstrap >= 0, got n={n}, n_bootstrap={n_bootstrap}")
    generator = torch.Generator().manual_seed(seed)
    rows = [torch.randint(n, (n,), generator=generator) for _ in range(n_bootstrap)]
    return torch.stack(rows) if rows else torch.empty(0, n, dtype=torch.int64)


def _bootstrap(
    features: torch.Tensor,
    reference: torch.Tensor,
    reference_stats: dict,
    n_bootstrap: int,
    kid_subsets: int,
    seed: int,
    progress: bool,
) -> tuple[list[float], list[float]]:
    """FID and KID of `n_bootstrap` resamples (with replacement) of the sample features, in resample
    order. Resample b takes the rows `resample_indices(n, n_bootstrap, seed)[b]`, and its KID draws its
    subsets with the seed `seed + 1 + b`: both depend only on (seed, n, b), so equal-size sets scored
    with one seed are paired replicate by replicate."""
    indices = resample_indices(len(features), n_bootstrap, seed)
    # fewer KID subsets per replicate: the replicate's own resampling is the noise being measured
    replicate_subsets = max(1, min(kid_subsets, 10))
    fids, kids = [], []
    for b in tqdm(range(n_bootstrap), desc="bootstrap", file=sys.stderr, disable=not progress, mininterval=5):
        resampled = features[indices[b]]
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
    "n_bootstrap": ..., "fid_replicates": [...], "kid_replicates": [...]}; every FID and KID is computed
    by torch-fidelity's functions. The replicate lists hold the FID and KID of each resample, in resample
    order. Resample b uses indices that depend only on (seed, n, b) (`resample_indices`), so two sample
    sets of equal size scored with the same seed against the same reference are paired resample by
    resample: the interval of their difference comes from the replicate differences
    (ncsn.stats.paired_difference), not from the two standard deviations.
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
        "fid_replicates": fids,
        "kid_replicates": kids,
    }

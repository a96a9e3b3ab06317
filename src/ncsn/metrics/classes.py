"""Class coverage of a sample set: histogram, entropy and how many classes hold a real share."""

from __future__ import annotations

import math

import torch

from ncsn.stats import wilson_interval


def class_histogram(predictions: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Fraction of samples predicted as each class (sums to 1)."""
    counts = torch.bincount(predictions.long().flatten(), minlength=n_classes).double()
    return counts / counts.sum().clamp_min(1)


def entropy(histogram: torch.Tensor) -> float:
    """Shannon entropy in nats; log(n_classes) for a uniform histogram, 0 for a single class."""
    p = histogram[histogram > 0].double()
    return float(-(p * p.log()).sum())


def classes_covered(histogram: torch.Tensor, min_share: float = 0.05) -> int:
    """Classes holding at least `min_share` of the samples."""
    return int((histogram >= min_share - 1e-12).sum())


def coverage_summary(predictions: torch.Tensor, n_classes: int, min_share: float = 0.05) -> dict:
    hist = class_histogram(predictions, n_classes)
    n = int(predictions.numel())
    top = int(hist.argmax())
    low, high = wilson_interval(int(round(float(hist[top]) * n)), n)
    return {
        "histogram": [round(float(h), 6) for h in hist],
        "entropy": entropy(hist),
        "max_entropy": math.log(n_classes),
        "classes_covered": classes_covered(hist, min_share),
        "min_share": min_share,
        "top_class": top,
        "top_share": float(hist.max()),
        "top_share_low": low,
        "top_share_high": high,
        "n": n,
    }


def total_variation_per_image(images: torch.Tensor) -> torch.Tensor:
    """`total_variation` of each image [N] (float64)."""
    x = images.double() / 255
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
    return (dy + dx) / 2


def total_variation_summary(images: torch.Tensor) -> dict:
    """Mean pixel variation of a set with its standard error over the images."""
    per_image = total_variation_per_image(images)
    se = float(per_image.std() / math.sqrt(len(per_image))) if len(per_image) > 1 else float("nan")
    return {"mean": float(per_image.mean()), "se": se, "n": len(per_image)}


def total_variation(images: torch.Tensor) -> float:
    """Mean absolute difference of neighbouring pixels, in [0, 1]: high for "snow noise" (isolated
    bright pixels left by overshooting Langevin steps), low for smooth strokes."""
    x = images.float() / 255
    return float(((x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()) / 2)

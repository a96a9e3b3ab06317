"""Noise schedules."""

from __future__ import annotations

import math

import torch


def geometric_sigmas(sigma_max: float, sigma_min: float, n_levels: int) -> torch.Tensor:
    """``n_levels`` noise levels from ``sigma_max`` down to ``sigma_min`` with a constant ratio.

    Returned in decreasing order (sigma_1 > ... > sigma_L), float32, as NCSN and its sampler expect.
    """
    if not (sigma_max > sigma_min > 0):
        raise ValueError(f"need sigma_max > sigma_min > 0, got sigma_max={sigma_max}, sigma_min={sigma_min}")
    if n_levels < 2:
        raise ValueError(f"need at least 2 noise levels, got n_levels={n_levels}")
    exponents = torch.linspace(math.log(sigma_max), math.log(sigma_min), n_levels, dtype=torch.float64)
    return exponents.exp().float()

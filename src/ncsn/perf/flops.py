"""Floating-point work: FLOPs of one forward pass (torch.utils.flop_counter) and the machine's dense
convolution rate, the yardstick that achieved rates are compared with."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count, flop_registry, register_flop_formula

from ncsn.models.forms import plain_forms
from ncsn.perf.timing import median_seconds

if torch.ops.aten._nnpack_spatial_convolution not in flop_registry:
    # The NNPACK convolutions of ncsn.models.convolution count as the convolutions they compute.
    @register_flop_formula(torch.ops.aten._nnpack_spatial_convolution)
    def _nnpack_flops(x_shape, w_shape, *args, out_shape=None, **kwargs) -> int:
        return conv_flop_count(x_shape, w_shape, out_shape)


def forward_flops_per_image(model: nn.Module, sigmas: torch.Tensor, image_shape=(1, 28, 28), batch: int = 2) -> float:
    """FLOPs of one forward pass per image (convolutions, matrix products; the counter ignores
    elementwise work).  A training step is counted as 3x this (backward ~ 2x forward).  Counted on
    PyTorch's forms of the layers (the counter does not see inside the native kernels of ncsn.models.native,
    which compute the same convolutions)."""
    device = next(model.parameters()).device
    x = torch.rand(batch, *image_shape, device=device)
    sigma = sigmas.to(device)[torch.arange(batch) % len(sigmas)]
    with FlopCounterMode(display=False) as counter, torch.inference_mode(), plain_forms():
        model(x, sigma)
    return counter.get_total_flops() / batch


def conv_peak_gflops(
    device: torch.device, rounds: int = 3, batch: int = 32, channels: int = 256, size: int = 28
) -> dict[str, float]:
    """GFLOP/s of a large 3x3 convolution (forward, inference mode), best of the two memory formats."""
    flops = 2 * batch * channels * channels * 9 * size * size
    result = {}
    for name, fmt in [("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)]:
        x = torch.randn(batch, channels, size, size, device=device).contiguous(memory_format=fmt)
        w = torch.randn(channels, channels, 3, 3, device=device).contiguous(memory_format=fmt)
        with torch.inference_mode():
            seconds = median_seconds({"conv": lambda x=x, w=w: F.conv2d(x, w, padding=1)}, rounds, device)["conv"]
        result[name] = flops / seconds / 1e9
    return {"conv_peak_gflops": max(result.values()), **{f"conv_{k}_gflops": v for k, v in result.items()}}

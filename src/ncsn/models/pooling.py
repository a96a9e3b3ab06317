"""The mean pooling of the reference network's chained residual pooling: F.avg_pool2d(x, k, stride=1,
padding=k // 2) for odd k, the zero padding counted in every mean (PyTorch's default).

On float32 channels_last tensors on the CPU this is the native separable box filter of ncsn.models.native
(PyTorch's channels_last kernel reads all 25 neighbours of every pixel, and took 10% of the reference
network's sampling time at ngf 8); with autograd, its backward pass is the same filter applied to the
gradient (the operator is symmetric). Elsewhere, under `ncsn.models.forms.plain_forms()`, torch.func
transforms and torch.compile, it is F.avg_pool2d.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ncsn.models import native
from ncsn.models.forms import needs_grad, plain, under_transform


class _NativeBoxMean(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, radius: int) -> Tensor:
        ctx.radius = radius
        return native.box_mean(x, radius)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        return native.box_mean(grad.contiguous(memory_format=torch.channels_last), ctx.radius), None


def mean_pool_same(x: Tensor, kernel_size: int) -> Tensor:
    """The k x k mean around every pixel (k odd), zeros outside the image counted: x's shape and memory format."""
    if kernel_size % 2 != 1:
        raise ValueError(f"mean_pool_same takes an odd kernel size, not {kernel_size}")
    radius = kernel_size // 2
    if not (plain() or under_transform()) and native.available() and native.accepts_box_mean(x):
        return _NativeBoxMean.apply(x, radius) if needs_grad(x) else native.box_mean(x, radius)
    return F.avg_pool2d(x, kernel_size, stride=1, padding=radius)

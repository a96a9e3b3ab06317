"""ELU, computed as max(x, exp(min(x, 0)) - 1).

PyTorch's CPU ELU evaluates expm1 on every negative input through a slow path: on the machines of this
project (AVX-512, torch 2.14) it takes ~14 ms on a 256 x 16 x 28 x 28 float32 tensor where exp takes
~2.4 ms, and it was half of the reference network's sampling time.  exp(x) - 1 instead of expm1(x)
differs by at most half an ulp of 1 (6e-8 in float32) in absolute terms, far below the tolerance
at which tests/test_equivalence.py compares the network with a plain implementation.

Only on the CPU: elsewhere (CUDA) F.elu is one fast kernel and is used as it is.

The backward pass is ELU's own (aten elu_backward from the saved result: grad * (y + 1) where x <= 0),
so training takes one saved tensor and one fused pass, like F.elu.  Under torch.func transforms the
formula is differentiated by autograd; under torch.compile F.elu is used (inductor fuses it).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ncsn.models.forms import needs_grad, under_transform


def _formula(x: Tensor) -> Tensor:
    # exp(min(x, 0)) - 1 is 0 for x > 0 and above x for x < 0 (e^x >= 1 + x): the maximum picks ELU's branch
    negative_part = x.clamp(max=0).exp_().sub_(1)
    return torch.maximum(negative_part, x, out=negative_part)


def _differentiable_formula(x: Tensor) -> Tensor:
    # For autograd under torch.func: written so that the slope at x = 0 is 1, like ELU's (clamp and
    # relu both have slope 0 at their kink, so exp(min(x, 0)) - 1 + relu(x) would have slope 0 there).
    negative_part = x.clamp(max=0)
    return torch.exp(negative_part) - 1 + (x - negative_part)


def _formula_(x: Tensor) -> Tensor:
    negative_part = x.clamp(max=0).exp_().sub_(1)
    return torch.maximum(x, negative_part, out=x)


class _ELU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        y = _formula(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.elu_backward(grad, 1.0, 1, 1, True, y)


def elu(x: Tensor, inplace: bool = False) -> Tensor:
    """ELU with alpha = 1, the values of F.elu up to float rounding.  With `inplace`, x is overwritten
    when no gradient flows through it (sampling), saving a tensor-sized allocation; with a gradient
    the result is always a new tensor."""
    gradient = needs_grad(x)
    if x.device.type != "cpu" or torch.compiler.is_compiling():
        # CUDA's ELU is one fast kernel; under torch.compile inductor generates its own vectorised code.
        return torch.nn.functional.elu(x, inplace=inplace and not gradient)
    if under_transform():  # torch.func differentiates whatever runs, with or without requires_grad
        return _differentiable_formula(x)
    if gradient:
        return _ELU.apply(x)
    return _formula_(x) if inplace else _formula(x)

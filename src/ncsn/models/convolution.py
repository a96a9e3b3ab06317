"""Convolutions of the reference network, computed faster on the CPU with the same mathematics.

- `Conv3x3`: a 3 x 3 convolution (an nn.Conv2d: same parameters, same state_dict) that, for wide
  undilated layers on the CPU in float32, computes its output and its input gradient with NNPACK
  (PyTorch's bundled library of fast convolution algorithms) instead of oneDNN's direct kernels.  On
  the machines of this project (2 cores, AVX-512) a 128 -> 128 channel layer at 14 x 14, batch 128,
  takes ~19 ms there against ~31 ms for oneDNN on channels-last (~28 ms with the layout copies to and
  from channels-last, which the rest of the network prefers); for the whole width-64 network that is
  ~4% on a training step and ~8% on sampling, measured side by side.  The weight gradient stays
  oneDNN's (NNPACK's is not exposed by PyTorch).  Narrow layers (in x out channels below
  `NNPACK_MIN_CHANNEL_PRODUCT`, e.g. every layer of width 16) are faster on oneDNN and stay there.
  NNPACK is only used where it picks its 16 x 16 FFT algorithm (batches of 2 or more, and maps like
  14 x 14 or 28 x 28, by NNPACK's own rule in `_nnpack_picks_fft`), whose error is that of a direct
  convolution (rms 1.7e-7 against float64 where oneDNN's is 1.2e-7, at 128 channels); on small maps
  NNPACK would pick an F(6x6, 3x3) Winograd transform, 20x less accurate, and those stay on oneDNN.
  tests/test_equivalence.py compares layer and network with plain implementations.
  NCSN_NNPACK=0 in the environment turns it off.
- `ConvMeanPool`: a convolution followed by 2 x 2 average pooling, computed as one stride-2
  convolution whose kernel is the average of the four shifted copies of the original one (a 3 x 3
  kernel becomes 4 x 4; a 1 x 1 convolution is applied after the pooling instead).  Both are the
  same linear map, with ~2.2x (3 x 3) and 4x (1 x 1) fewer multiplications.
"""

from __future__ import annotations

import functools
import math
import os

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ncsn.models.forms import needs_grad, under_transform

NNPACK_MIN_CHANNEL_PRODUCT = 128 * 64  # measured: 64 -> 64 at 28 x 28 gains too little to pay the layout copies


@functools.cache
def nnpack_usable() -> bool:
    # is_available() also initialises NNPACK, without which its convolutions fail
    return os.environ.get("NCSN_NNPACK", "1") != "0" and torch.backends.nnpack.is_available()


def _nnpack_picks_fft(height: int, width: int) -> bool:
    """NNPACK's automatic choice for a 3 x 3 kernel (src/convolution-output.c): 16 x 16 FFT tiles
    unless 8 x 8 tiles (6 x 6 outputs each) are at most 4x as many, then Winograd F(6x6, 3x3)."""
    tiles_8 = math.ceil(height / 6) * math.ceil(width / 6)
    tiles_16 = math.ceil(height / 14) * math.ceil(width / 14)
    return tiles_8 > 4 * tiles_16


def _nnpack(x: Tensor, weight: Tensor, bias: Tensor | None, memory_format: torch.memory_format) -> Tensor:
    out = torch._nnpack_spatial_convolution(x.contiguous(), weight.contiguous(), bias, [1, 1])
    return out.contiguous(memory_format=memory_format)


def _memory_format(x: Tensor) -> torch.memory_format:
    return (
        torch.channels_last
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        else torch.contiguous_format
    )


class _NNPACKConv3x3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _nnpack(x, weight, bias, _memory_format(x))

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        memory_format = _memory_format(x)
        grad_x = None
        if ctx.needs_input_grad[0]:  # the transposed convolution: flipped kernel, channels swapped
            grad_x = _nnpack(grad, weight.flip(2, 3).transpose(0, 1), None, memory_format)
        wants_weight, wants_bias = ctx.needs_input_grad[1], ctx.has_bias and ctx.needs_input_grad[2]
        grad_weight = grad_bias = None
        if wants_weight or wants_bias:
            _, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
                grad.contiguous(memory_format=memory_format),
                x,
                weight,
                [weight.shape[0]] if ctx.has_bias else None,
                [1, 1],
                [1, 1],
                [1, 1],
                False,
                [0, 0],
                1,
                [False, wants_weight, wants_bias],
            )
        return grad_x, grad_weight, grad_bias


class Conv3x3(nn.Conv2d):
    """3 x 3 convolution with 'same' padding (dilation d pads d)."""

    def __init__(self, c_in: int, c_out: int, bias: bool, dilation: int = 1):
        super().__init__(c_in, c_out, 3, padding=dilation, dilation=dilation, bias=bias)
        self.nnpack_pays = dilation == 1 and c_in * c_out >= NNPACK_MIN_CHANNEL_PRODUCT

    def takes_nnpack(self, x: Tensor) -> bool:
        return (
            self.nnpack_pays
            and x.device.type == "cpu"
            and x.dtype == torch.float32
            and x.dim() == 4
            and x.shape[0] > 1  # PyTorch runs a batch of one through NNPACK's inference path, another choice
            and _nnpack_picks_fft(x.shape[2], x.shape[3])
            and nnpack_usable()
            and not under_transform()
        )

    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if not self.takes_nnpack(x):
            return super()._conv_forward(x, weight, bias)
        if needs_grad(x, weight, bias):
            return _NNPACKConv3x3.apply(x, weight, bias)
        return _nnpack(x, weight, bias, _memory_format(x))


def mean_pooled_kernel(weight: Tensor) -> Tensor:
    """The (k + 1) x (k + 1) kernel of stride-2 convolution equal to a k x k convolution followed by
    2 x 2 average pooling: the mean of the kernel shifted by (0|1, 0|1)."""
    shifted = [F.pad(weight, (left, 1 - left, top, 1 - top)) for top in (0, 1) for left in (0, 1)]
    return torch.stack(shifted).mean(dim=0)


class ConvMeanPool(nn.Module):
    """Convolution (odd kernel, 'same' padding) followed by 2 x 2 average pooling (halves the resolution).

    The parameters are those of `conv` (state_dict keys conv.weight, conv.bias)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        weight, bias = self.conv.weight, self.conv.bias
        if weight.shape[-1] == 1:  # pooling commutes with a 1 x 1 convolution
            return F.conv2d(F.avg_pool2d(x, 2), weight, bias)
        return F.conv2d(x, mean_pooled_kernel(weight), bias, stride=2, padding=weight.shape[-1] // 2)

"""The U-Net's native 3 x 3 convolution for sampling (ncsn.models.native.conv3x3, csrc/kernels.c) computes
what float64 PyTorch computes, with its group norm + SiLU, its residual or its 2x nearest upsampling folded
in; refuses what it does not compute; does not depend on the number of threads; keeps NaN in its own
sample; and is what the U-Net's residual blocks and upsampling run without autograd, never with it."""

from __future__ import annotations

import platform

import pytest
import torch
import torch.nn.functional as F
from helpers import assert_bitwise_equal_at_thread_counts, autograd_node_names

from ncsn.models import native
from ncsn.models.forms import plain_forms
from ncsn.models.registry import build_model
from ncsn.noise import geometric_sigmas

pytestmark = pytest.mark.skipif(not native.available(), reason="no C compiler: the native kernels are not built")
# The kernel computes anywhere (the tests of its values call it directly), but runs in place of oneDNN only where
# its register blocks fit (AVX-512): on AVX2 it was 5x slower than oneDNN.
where_it_pays = pytest.mark.skipif(not native.conv3x3_pays(), reason="the kernel replaces oneDNN on AVX-512 CPUs only")


def _channels_last(*shape: int) -> torch.Tensor:
    return torch.randn(*shape).contiguous(memory_format=torch.channels_last)


def _conv(c_in: int, c_out: int, **kwargs) -> torch.nn.Conv2d:
    return torch.nn.Conv2d(c_in, c_out, 3, padding=1, **kwargs).to(memory_format=torch.channels_last)


def _native(x, conv, residual=None, upsample=False, norm=None, offset=None):
    with torch.no_grad():
        weight, bias = conv.weight.float(), conv.bias.float()
        if norm is None:
            return native.conv3x3(x, native.conv_blocks(weight), bias, residual, upsample)
        return native.conv3x3(
            x, native.conv_blocks(weight), bias, residual, upsample, norm.weight, norm.bias, norm.num_groups, norm.eps,
            offset,
        )  # fmt: skip


def _assert_float64_close(out, expected):
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=2e-5)


# the compiled channel counts; maps of 2 blocks of 14 pixels, 1 block, the 7-pixel block, partial blocks
SHAPES = [
    (16, 16, 28, 28),
    (32, 16, 28, 28),
    (64, 16, 14, 14),
    (16, 32, 14, 14),
    (32, 32, 7, 7),
    (48, 16, 9, 11),
    (96, 32, 5, 5),
    (128, 16, 3, 30),
]


@pytest.mark.parametrize("c_in, c_out, h, w", SHAPES)
@pytest.mark.parametrize("with_residual", [False, True])
def test_conv3x3_is_the_float64_convolution_plus_residual(c_in, c_out, h, w, with_residual):
    torch.manual_seed(0)
    conv, x = _conv(c_in, c_out), _channels_last(3, c_in, h, w)
    residual = _channels_last(3, c_out, h, w) if with_residual else None
    with torch.no_grad():
        expected = conv.double()(x.double()) + (0 if residual is None else residual.double())
    _assert_float64_close(_native(x, conv, residual), expected)


@pytest.mark.parametrize("c_in, groups, h, w", [(16, 8, 28, 28), (48, 8, 7, 7), (64, 8, 14, 14), (32, 1, 9, 9)])
@pytest.mark.parametrize("with_offset", [False, True])
def test_conv3x3_of_silu_group_norm_is_the_float64_composition(c_in, groups, h, w, with_offset):
    torch.manual_seed(0)
    conv, x = _conv(c_in, 16), _channels_last(3, c_in, h, w) * 2 + 3
    norm = torch.nn.GroupNorm(groups, c_in)
    torch.nn.init.uniform_(norm.weight, 0.5, 1.5)
    torch.nn.init.normal_(norm.bias)
    offset = torch.randn(3, c_in) if with_offset else None
    residual = _channels_last(3, 16, h, w)
    with torch.no_grad():
        shifted = x.double() + (0 if offset is None else offset.double()[:, :, None, None])
        expected = conv.double()(F.silu(norm.double()(shifted))) + residual.double()
        norm.float()
    _assert_float64_close(_native(x, conv, residual, norm=norm, offset=offset), expected)


@pytest.mark.parametrize("c_in, h", [(32, 7), (16, 14), (64, 5)])
def test_conv3x3_upsampling_is_the_convolution_of_nearest_upsampling(c_in, h):
    torch.manual_seed(0)
    conv, x = _conv(c_in, 16), _channels_last(2, c_in, h, h + 1)
    with torch.no_grad():
        expected = conv.double()(F.interpolate(x.double(), size=(2 * h, 2 * h + 2), mode="nearest"))
    out = _native(x, conv, upsample=True)
    assert out.shape == (2, 16, 2 * h, 2 * h + 2)
    _assert_float64_close(out, expected)


def test_conv3x3_refuses_what_it_does_not_compute():
    x = _channels_last(2, 16, 7, 7)
    assert native.accepts_conv3x3(x, _conv(16, 16)) == native.conv3x3_pays()
    assert not native.accepts_conv3x3(_channels_last(2, 8, 7, 7), _conv(8, 16))  # a channel count not compiled
    assert not native.accepts_conv3x3(_channels_last(2, 20, 7, 7), _conv(20, 16))
    assert not native.accepts_conv3x3(x, _conv(16, 24))  # output channels not a multiple of 16
    assert not native.accepts_conv3x3(x, _conv(16, 16, stride=2))
    assert not native.accepts_conv3x3(x, torch.nn.Conv2d(16, 16, 3, padding=2, dilation=2))
    assert not native.accepts_conv3x3(x, torch.nn.Conv2d(16, 16, 3, padding=0))
    assert not native.accepts_conv3x3(x, _conv(16, 16, bias=False))
    assert not native.accepts_conv3x3(x, _conv(16, 16, padding_mode="reflect"))
    assert not native.accepts_conv3x3(x.contiguous(), _conv(16, 16))  # channels first
    assert not native.accepts_conv3x3(x.double(), _conv(16, 16).double())
    assert not native.accepts_conv3x3(x, _conv(32, 16))  # x's channels are not the convolution's


def test_conv3x3_results_do_not_depend_on_the_number_of_threads():
    torch.manual_seed(0)
    conv, x, residual = _conv(32, 32), _channels_last(7, 32, 14, 14), _channels_last(7, 32, 14, 14)
    norm, offset, small = torch.nn.GroupNorm(8, 32), torch.randn(7, 32), _channels_last(7, 32, 7, 7)
    assert_bitwise_equal_at_thread_counts(
        lambda: (_native(x, conv, residual, norm=norm, offset=offset), _native(small, conv, upsample=True))
    )


def test_nan_stays_in_its_own_sample():
    torch.manual_seed(0)
    conv, x = _conv(16, 16), _channels_last(3, 16, 7, 7)
    clean = _native(x, conv)
    x[1, 4, 3, 3] = float("nan")
    out = _native(x, conv)
    assert torch.equal(out[0], clean[0]) and torch.equal(out[2], clean[2])
    assert out[1, :, 2:5, 2:5].isnan().all()  # every output that reads the pixel
    assert out[1, :, 0, :].isfinite().all()  # and none that does not


def _unet(width: int = 16):
    torch.manual_seed(0)
    return build_model("unet", sigmas=geometric_sigmas(1.0, 0.01, 10), width=width)


@where_it_pays
def test_the_unet_scores_with_the_native_convolutions_as_with_pytorchs_layers():
    model = _unet().eval()
    x, sigma = torch.rand(4, 1, 28, 28), torch.full((4,), 0.3)
    with torch.inference_mode():
        assert model.down_blocks[0].takes_native(model.stem(x), torch.zeros(4, 64))
        graph = str(torch.jit.freeze(torch.jit.trace(model, (x, sigma), check_trace=False)).graph)
        fast = model(x, sigma)
        with plain_forms():
            plain = model(x, sigma)
    # every residual block and both upsampling convolutions
    assert graph.count("ncsn::conv3x3(") == 2 * 7 + 2
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-4 * plain.abs().max().item())


def test_training_and_gradients_keep_pytorchs_convolutions():
    model = _unet().train()
    x, sigma = torch.rand(2, 1, 28, 28), torch.full((2,), 0.3)
    nodes = autograd_node_names(model(x, sigma).square().mean())
    assert "ConvolutionBackward0" in nodes
    model.eval()
    x.requires_grad_()  # a score's gradient with respect to x: autograd through every layer
    assert "ConvolutionBackward0" in autograd_node_names(model(x, sigma).sum())
    with torch.no_grad():
        stem = model.stem(x)
    assert not model.down_blocks[0].takes_native(stem.requires_grad_(), torch.zeros(2, 64))


def test_channel_counts_the_kernel_does_not_take_keep_pytorchs_convolutions():
    model = _unet(width=4).eval()  # 4 and 8 channels in, 4 and 8 out
    x = torch.rand(2, 1, 28, 28)
    with torch.inference_mode():
        graph = str(torch.jit.trace(model, (x, torch.full((2,), 0.3)), check_trace=False).graph)
    assert "ncsn::conv3x3(" not in graph


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="-mno-avx512f is an x86 compiler flag")
def test_without_avx512_the_unet_keeps_onednns_convolutions(fresh_build, monkeypatch):
    monkeypatch.setattr(native, "FLAGS", [*native.FLAGS, "-mno-avx512f"])  # as built on an AVX2 CPU
    assert native.available() and not native.conv3x3_pays()
    model = _unet().eval()
    x = torch.rand(2, 1, 28, 28)
    with torch.inference_mode():
        graph = str(torch.jit.trace(model, (x, torch.full((2,), 0.3)), check_trace=False).graph)
    assert "ncsn::conv3x3(" not in graph and "ncsn::group_norm_silu" in graph

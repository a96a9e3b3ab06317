"""The U-Net's native CPU kernels (ncsn.models.native, csrc/kernels.c) compute what PyTorch's layers compute,
propagate NaN as they do, give the gradients float64 autograd gives, do not depend on the number of threads,
are recorded in the traced sampling
network, are built once per source and machine, and give way to PyTorch's layers with one line where
they cannot be built."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import assert_bitwise_equal_at_thread_counts, autograd_node_names, fast_vs_plain_image_difference

from ncsn.models import group_norm, native
from ncsn.models.compiled import traced_score_fn
from ncsn.models.forms import plain_forms
from ncsn.models.registry import build_model
from ncsn.noise import geometric_sigmas

pytestmark = pytest.mark.skipif(not native.available(), reason="no C compiler: the native kernels are not built")


def _channels_last(*shape: int, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    return (torch.randn(*shape) * std + mean).contiguous(memory_format=torch.channels_last)


def _reference(x, weight, bias, groups, eps, offset=None):
    """silu(group_norm(x + offset)) in float64."""
    x = x.double() if offset is None else x.double() + offset.double()[:, :, None, None]
    return F.silu(F.group_norm(x, groups, weight.double(), bias.double(), eps))


# channels multiple of 16 take the vector path, the others the scalar one; 7 x 7 and 5 x 3 leave partial blocks
CASES = [(16, 8, 28, 28), (32, 8, 14, 14), (64, 8, 7, 7), (48, 8, 5, 3), (12, 4, 9, 9), (8, 8, 28, 28), (4, 1, 3, 3)]


def _case(channels: int, h: int, w: int, with_offset: bool):
    """x (5 samples, mean 3, std 2), weight, bias and offset (or None) of a group norm test, seeded."""
    torch.manual_seed(0)
    x = _channels_last(5, channels, h, w, mean=3.0, std=2.0)
    weight, bias = torch.rand(channels) + 0.5, torch.randn(channels)
    return x, weight, bias, torch.randn(5, channels) * 3 if with_offset else None


@pytest.mark.parametrize("channels, groups, h, w", CASES)
@pytest.mark.parametrize("with_offset", [False, True])
def test_group_norm_silu_is_float64_silu_of_group_norm(channels, groups, h, w, with_offset):
    x, weight, bias, offset = _case(channels, h, w, with_offset)
    out = native.group_norm_silu(x, weight, bias, groups, 1e-5, offset)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out.double(), _reference(x, weight, bias, groups, 1e-5, offset), rtol=1e-5, atol=1e-5)


def test_group_norm_silu_is_accurate_for_activations_far_from_zero_mean():
    # mean 30, std 2: a one-pass variance without the shift would lose 2 of float32's 7 digits
    torch.manual_seed(0)
    x = _channels_last(4, 16, 28, 28, mean=30.0, std=2.0)
    weight, bias = torch.rand(16) + 0.5, torch.randn(16)
    exact = _reference(x, weight, bias, 8, 1e-5)
    ours = (native.group_norm_silu(x, weight, bias, 8, 1e-5).double() - exact).abs().max().item()
    pytorchs = (F.silu(F.group_norm(x, 8, weight, bias, 1e-5)).double() - exact).abs().max().item()
    assert ours <= max(pytorchs, 2e-5), (ours, pytorchs)


def test_silu_is_exact_far_out_in_both_tails():
    # normalised values in [-1.73, 1.73] times 70: pre-activations out to +-121, beyond exp's clamp at 88
    x = torch.linspace(-1, 1, 16 * 64).reshape(1, 8, 8, 16).permute(0, 3, 1, 2)  # channels_last by construction
    assert x.is_contiguous(memory_format=torch.channels_last)
    weight, bias = torch.full((16,), 70.0), torch.zeros(16)
    out = native.group_norm_silu(x, weight, bias, 1, 0.0)
    assert out.max() > 120 and 0 < -out.min() < 0.28  # silu(a) >= -0.2785, at a = -1.28
    torch.testing.assert_close(out.double(), _reference(x, weight, bias, 1, 0.0), rtol=2e-6, atol=1e-5)


def test_nan_and_infinity_spoil_their_own_group_as_in_pytorch():
    torch.manual_seed(0)
    x = _channels_last(4, 16, 7, 7)
    x[1, 3, 2, 2], x[2, 0, 0, 0] = float("nan"), float("inf")
    weight, bias = torch.rand(16) + 0.5, torch.randn(16)
    ours, pytorchs = native.group_norm_silu(x, weight, bias, 8, 1e-5), F.silu(F.group_norm(x, 8, weight, bias, 1e-5))
    assert torch.equal(ours.isnan(), pytorchs.isnan())
    assert ours[1].isnan().any() and ours[2].isnan().any()
    assert torch.isfinite(ours[[0, 3]]).all()


@pytest.mark.parametrize("channels, h, w", [(16, 28, 28), (32, 7, 7), (8, 5, 3), (3, 9, 9)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv3x3_to_one_is_the_convolution_divided_by_sigma(channels, h, w, with_bias):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(channels, 1, 3, padding=1, bias=with_bias).to(memory_format=torch.channels_last)
    x = _channels_last(6, channels, h, w)
    sigma = torch.rand(6) + 0.01
    assert native.accepts_conv3x3_to_one(x, conv, sigma)
    with torch.no_grad():
        expected = conv.double()(x.double()) / sigma.double()[:, None, None, None]
        out = native.conv3x3_to_one(x, native.conv_taps(conv.weight.float()), conv.float().bias, sigma)
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-5)


def test_conv3x3_to_one_refuses_what_it_does_not_compute():
    x = _channels_last(2, 16, 7, 7)
    sigma = torch.ones(2)
    assert not native.accepts_conv3x3_to_one(x, torch.nn.Conv2d(16, 2, 3, padding=1), sigma)
    assert not native.accepts_conv3x3_to_one(x, torch.nn.Conv2d(16, 1, 3, padding=1, stride=2), sigma)
    assert not native.accepts_conv3x3_to_one(x.contiguous(), torch.nn.Conv2d(16, 1, 3, padding=1), sigma)
    assert not native.accepts_conv3x3_to_one(x.double(), torch.nn.Conv2d(16, 1, 3, padding=1).double(), sigma)


def _gradients(x, weight, bias, groups, offset, out_grad, native_form: bool):
    """d/d(x, weight, bias, offset) of <out_grad, silu(group_norm(x + offset))>: native, or float64 autograd."""
    if native_form:
        leaves = [t.detach().requires_grad_() for t in (x, weight, bias) + ((offset,) if offset is not None else ())]
        off = leaves[3] if offset is not None else None
        out = group_norm._NativeGroupNormSiLU.apply(*leaves[:3], off, groups, 1e-5)
    else:
        leaves = [
            t.detach().double().requires_grad_() for t in (x, weight, bias) + ((offset,) if offset is not None else ())
        ]
        out = _reference(*leaves[:3], groups, 1e-5, leaves[3] if offset is not None else None)
    return torch.autograd.grad(out, leaves, out_grad.to(out.dtype))


@pytest.mark.parametrize("channels, groups, h, w", CASES)
@pytest.mark.parametrize("with_offset", [False, True])
def test_group_norm_silu_backward_is_float64_autograd(channels, groups, h, w, with_offset):
    x, weight, bias, offset = _case(channels, h, w, with_offset)
    out_grad = _channels_last(5, channels, h, w)
    ours = _gradients(x, weight, bias, groups, offset, out_grad, native_form=True)
    exact = _gradients(x, weight, bias, groups, offset, out_grad, native_form=False)
    assert ours[0].is_contiguous(memory_format=torch.channels_last)
    # the offset's gradient, a sum of h * w gradients of x, cancels to ~0 with one channel per group
    tolerances = [2e-6 * b.abs().max().item() for b in exact[:3]] + [1e-7 * h * w * exact[0].abs().max().item()]
    for name, a, b, tolerance in zip(("x", "weight", "bias", "offset"), ours, exact, tolerances):
        assert (a.double() - b).abs().max().item() <= tolerance + 1e-7, name


def test_a_unet_training_step_takes_the_native_backward():
    torch.manual_seed(0)
    sigmas = geometric_sigmas(1.0, 0.01, 10)
    model = build_model("unet", sigmas=sigmas, width=16).train()
    x = torch.rand(4, 1, 28, 28)
    loss = model(x, sigmas[:4]).square().mean()
    assert "_NativeGroupNormSiLUBackward" in autograd_node_names(loss)
    loss.backward()
    with plain_forms():
        plain_model = build_model("unet", sigmas=sigmas, width=16).train()
    plain_model.load_state_dict(model.state_dict())
    with plain_forms():
        plain_model(x, sigmas[:4]).square().mean().backward()
    for (name, p), q in zip(model.named_parameters(), plain_model.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-3, atol=1e-6, msg=name)


def test_results_do_not_depend_on_the_number_of_threads():
    torch.manual_seed(0)
    x = _channels_last(7, 32, 14, 14)
    weight, bias, offset = torch.rand(32), torch.randn(32), torch.randn(7, 32)
    taps, divisor = torch.randn(9, 32), torch.rand(7) + 0.1
    assert_bitwise_equal_at_thread_counts(
        lambda: (
            native.group_norm_silu(x, weight, bias, 8, 1e-5, offset),
            native.conv3x3_to_one(x, taps, None, divisor),
            *_gradients(x, weight, bias, 8, offset, x.flip(0), native_form=True),
        )
    )


def test_the_traced_unet_runs_the_native_kernels_and_scores_as_eager():
    torch.manual_seed(0)
    sigmas = geometric_sigmas(1.0, 0.01, 10)
    model = build_model("unet", sigmas=sigmas, width=16).eval()
    x, sigma = torch.rand(4, 1, 28, 28), torch.full((4,), 0.3)
    with torch.inference_mode():
        eager, traced = model(x, sigma), traced_score_fn(model)(x, sigma)
        graph = str(torch.jit.freeze(torch.jit.trace(model, (x, sigma), check_trace=False)).graph)
    assert "ncsn::group_norm_silu" in graph and "ncsn::conv3x3_to_one" in graph
    assert torch.equal(traced, eager)


def test_samples_after_the_posters_1000_steps_equal_pytorchs_layers():
    """Width 16 runs the kernels' vector paths (width 8's scalar ones: tests/test_fast_layers.py): the same uint8
    images as PyTorch's layers up to 1 grey level on a few pixels (float rounding carried through 1000 steps)."""
    difference = fast_vs_plain_image_difference("unet", 16, n_samples=6)
    assert difference.flatten(1).max(dim=1).values.max() <= 1
    assert (difference > 0).float().mean() <= 1e-3


def test_the_library_is_built_once_per_source_and_reused(fresh_build, monkeypatch, tmp_path):
    assert native.available()
    (library,) = fresh_build.glob("kernels-*.so")
    built_at = library.stat().st_mtime_ns
    native._library.cache_clear()
    assert native.available() and library.stat().st_mtime_ns == built_at  # the cache, not a rebuild
    changed = tmp_path / "src" / "kernels.c"
    changed.parent.mkdir()
    changed.write_text(native.SOURCE.read_text() + "\n/* changed */\n")
    monkeypatch.setattr(native, "SOURCE", changed)
    native._library.cache_clear()
    assert native.available()
    assert len(list(fresh_build.glob("kernels-*.so"))) == 2
    assert not list(fresh_build.glob(".build-*"))  # no temporary folder left behind


def test_without_a_compiler_pytorchs_layers_run_after_one_line(fresh_build, monkeypatch, capsys):
    monkeypatch.setenv("CC", str(fresh_build / "no-such-compiler"))
    assert not native.available()
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and "native kernels unavailable" in warning[0] and "PyTorch" in warning[0]
    torch.manual_seed(0)
    model = build_model("unet", sigmas=geometric_sigmas(1.0, 0.01, 10), width=8).eval()
    x, sigma = torch.rand(2, 1, 28, 28), torch.full((2,), 0.5)
    with torch.inference_mode():
        fallback = model(x, sigma)
        with plain_forms():
            plain = model(x, sigma)
    torch.testing.assert_close(fallback, plain, rtol=1e-4, atol=1e-4)
    assert capsys.readouterr().err == ""  # the warning comes once


def test_the_switch_turns_the_kernels_off_silently(fresh_build, monkeypatch, capsys):
    monkeypatch.setenv("NCSN_NATIVE_KERNELS", "0")
    assert not native.available()
    assert capsys.readouterr().err == ""

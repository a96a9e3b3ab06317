"""The fast forms of the networks' layers (ncsn.models.group_norm, switched off by ncsn.models.forms)
compute what PyTorch's plain layers compute, forward and backward, and samples drawn through them
equal the plain network's after the poster's 1000 Langevin steps."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import fast_vs_plain_image_difference

from ncsn.models.forms import plain_forms
from ncsn.models.group_norm import group_norm_silu
from ncsn.models.registry import build_model
from ncsn.noise import geometric_sigmas


def _norm(groups: int, channels: int, dtype=torch.float64) -> torch.nn.GroupNorm:
    norm = torch.nn.GroupNorm(groups, channels).to(dtype)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.normal_()
    return norm


SHAPES_AND_GROUPS = [((6, 16, 9, 9), 8), ((5, 32, 7, 7), 8), ((3, 12, 5, 5), 4), ((2, 4, 3, 3), 1)]


@pytest.mark.parametrize("memory_format", [torch.channels_last, torch.contiguous_format])
@pytest.mark.parametrize("shape, groups", SHAPES_AND_GROUPS)
def test_group_norm_silu_is_silu_of_group_norm_forward_and_backward(shape, groups, memory_format):
    torch.manual_seed(0)
    norm = _norm(groups, shape[1])
    x = (torch.randn(shape, dtype=torch.float64) * 2 + 3).contiguous(memory_format=memory_format)
    grad = torch.randn(shape, dtype=torch.float64)
    results = {}
    for plain in (True, False):
        with plain_forms(plain):
            leaf = x.clone().requires_grad_()
            out = group_norm_silu(leaf, norm)
            results[plain] = (out, *torch.autograd.grad(out, (leaf, norm.weight, norm.bias), grad))
            with torch.inference_mode():  # the inference form, without autograd
                results[plain, "inference"] = group_norm_silu(x, norm)
    for ours, reference in zip(results[False], results[True]):
        torch.testing.assert_close(ours, reference, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(results[False, "inference"], results[True, "inference"], rtol=1e-10, atol=1e-10)
    assert results[False, "inference"].is_contiguous(memory_format=memory_format)


def test_group_norm_silu_backward_passes_gradcheck():
    torch.manual_seed(0)
    norm = _norm(4, 8)
    x = torch.randn(2, 8, 4, 4, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x, w, b: group_norm_silu(x, _with(norm, w, b)), (x, norm.weight, norm.bias), fast_mode=False
    )


def _with(norm: torch.nn.GroupNorm, weight: torch.Tensor, bias: torch.Tensor) -> torch.nn.GroupNorm:
    """A module whose parameters are the given tensors (gradcheck's inputs)."""
    shadow = torch.nn.GroupNorm(norm.num_groups, norm.num_channels)
    shadow.weight, shadow.bias, shadow.eps = weight, bias, norm.eps
    return shadow


def test_float32_statistics_are_as_accurate_as_pytorchs_for_activations_far_from_zero_mean():
    # mean 30, std 2: a one-pass variance (E[x^2] - mean^2) would lose 2 of float32's 7 digits
    torch.manual_seed(0)
    norm = _norm(8, 16, torch.float32)
    x = (torch.randn(4, 16, 28, 28) * 2 + 30).contiguous(memory_format=torch.channels_last)
    exact = F.silu(F.group_norm(x.double(), 8, norm.weight.double(), norm.bias.double()))
    with torch.inference_mode():
        ours = group_norm_silu(x, norm)
        with plain_forms():
            pytorchs = group_norm_silu(x, norm)
    ours_error, pytorchs_error = (ours - exact).abs().max().item(), (pytorchs - exact).abs().max().item()
    assert ours_error <= max(pytorchs_error, 2e-5), (ours_error, pytorchs_error)


def test_unet_state_dict_does_not_depend_on_the_forms():
    sigmas = geometric_sigmas(1.0, 0.01, 10)
    model = build_model("unet", sigmas=sigmas, width=8)
    with plain_forms():
        plain_keys = {k: v.shape for k, v in build_model("unet", sigmas=sigmas, width=8).state_dict().items()}
    assert {k: v.shape for k, v in model.state_dict().items()} == plain_keys


def test_samples_after_the_posters_1000_steps_equal_the_plain_networks():
    """10 levels x 100 steps at the poster's epsilon, the same seed: the fast and the plain network give
    the same uint8 images up to 1 grey level on a few pixels (float rounding carried through 1000 steps)."""
    difference = fast_vs_plain_image_difference("unet", 8, n_samples=6)
    per_image_max = difference.flatten(1).max(dim=1).values
    assert per_image_max.max() <= 1, per_image_max
    assert (difference > 0).float().mean() <= 1e-3  # at most 0.1% of the pixels differ at all

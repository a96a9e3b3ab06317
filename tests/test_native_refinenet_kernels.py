"""The reference network's native kernels (ncsn.models.native, csrc/kernels.c): the conditional instance
norm++ (+ ELU) computes the paper's formula, is accurate far from zero mean and lets NaN spoil only its own
sample; it and the 5 x 5 mean pooling give the values and gradients float64 PyTorch gives and do not depend
on the number of threads; the network trains and samples with them and draws the same images as with its
PyTorch forms."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import assert_bitwise_equal_at_thread_counts, autograd_node_names, fast_vs_plain_image_difference

from ncsn.models import native, norms, pooling
from ncsn.models.compiled import traced_score_fn
from ncsn.models.forms import plain_forms
from ncsn.models.registry import build_model
from ncsn.noise import geometric_sigmas

pytestmark = pytest.mark.skipif(not native.available(), reason="no C compiler: the native kernels are not built")

EPS = 1e-5
# The reference network's channel counts (8, 16 at ngf 8; 12, 24 at ngf 12) and odd ones: the flat vectors of
# 16 repeat every lcm(C, 16) floats; 7 x 7, 5 x 3 and 9 x 9 slabs leave a remainder after whole periods.
CASES = [(8, 28, 28), (16, 14, 14), (12, 7, 7), (24, 7, 7), (3, 5, 3), (5, 9, 9), (40, 3, 3)]


def _case(channels: int, h: int, w: int, mean: float = 3.0, std: float = 2.0):
    """x (5 samples, channels_last) and per-sample gamma, alpha, beta, seeded."""
    torch.manual_seed(0)
    x = (torch.randn(5, channels, h, w) * std + mean).contiguous(memory_format=torch.channels_last)
    gamma, alpha, beta = torch.rand(5, channels) + 0.5, torch.randn(5, channels), torch.randn(5, channels)
    return x, gamma, alpha, beta


def _reference(x, gamma, alpha, beta, elu: bool):
    """The paper's formula, one operation per term, in float64."""
    out = norms.cond_instance_norm_plus_reference(*(t.double() for t in (x, gamma, alpha, beta)), EPS)
    return F.elu(out) if elu else out


@pytest.mark.parametrize("channels, h, w", CASES)
@pytest.mark.parametrize("elu", [False, True])
def test_the_kernel_is_the_papers_formula_in_float64(channels, h, w, elu):
    x, gamma, alpha, beta = _case(channels, h, w)
    out = native.cond_instance_norm_plus(x, gamma, alpha, beta, EPS, elu)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out.double(), _reference(x, gamma, alpha, beta, elu), rtol=1e-5, atol=1e-5)


def test_the_kernel_is_accurate_for_activations_far_from_zero_mean():
    # mean 30, std 2: without the shift by a pixel's value, a one-pass variance would lose 2 of float32's 7 digits
    x, gamma, alpha, beta = _case(16, 28, 28, mean=30.0, std=2.0)
    exact = _reference(x, gamma, alpha, beta, elu=False)
    ours = (native.cond_instance_norm_plus(x, gamma, alpha, beta, EPS).double() - exact).abs().max().item()
    with plain_forms():
        pytorch_form = (norms.cond_instance_norm_plus(x, gamma, alpha, beta, EPS).double() - exact).abs().max().item()
    assert ours <= max(2 * pytorch_form, 2e-6)


def test_nan_spoils_only_its_own_sample():
    # the "++" term mixes the channel means of a sample, so one NaN reaches all of its channels, as in PyTorch
    x, gamma, alpha, beta = _case(12, 7, 7)
    x[1, 3, 2, 2] = float("nan")
    out = native.cond_instance_norm_plus(x, gamma, alpha, beta, EPS, True)
    assert out[1].isnan().all()
    assert out[[0, 2, 3, 4]].isfinite().all()


def test_the_kernel_refuses_what_it_does_not_compute():
    x, gamma, alpha, beta = _case(8, 7, 7)
    assert native.accepts_cond_instance_norm_plus(x, gamma, alpha, beta)
    assert not native.accepts_cond_instance_norm_plus(x.contiguous(), gamma, alpha, beta)
    assert not native.accepts_cond_instance_norm_plus(x.double(), gamma.double(), alpha.double(), beta.double())
    one = x[:, :1].contiguous(memory_format=torch.channels_last)  # no spread of channel means to standardise
    assert not native.accepts_cond_instance_norm_plus(one, gamma[:, :1], alpha[:, :1], beta[:, :1])
    assert not native.accepts_cond_instance_norm_plus(x, gamma[:1], alpha[:1], beta[:1])


def _gradients(x, gamma, alpha, beta, out_grad, elu: bool, native_form: bool):
    """d/d(x, gamma, alpha, beta) of <out_grad, [elu](norm(x))>: the native pair of kernels, or float64 autograd."""
    if native_form:
        leaves = [t.detach().requires_grad_() for t in (x, gamma, alpha, beta)]
        out = norms._NativeCondInstanceNormPlus.apply(*leaves, EPS, elu)
    else:
        leaves = [t.detach().double().requires_grad_() for t in (x, gamma, alpha, beta)]
        out = _reference(*leaves, elu)
    return torch.autograd.grad(out, leaves, out_grad.to(out.dtype))


@pytest.mark.parametrize("channels, h, w", CASES)
@pytest.mark.parametrize("elu", [False, True])
def test_the_backward_kernel_is_float64_autograd(channels, h, w, elu):
    x, gamma, alpha, beta = _case(channels, h, w)
    out_grad = torch.randn_like(x)
    ours = _gradients(x, gamma, alpha, beta, out_grad, elu, native_form=True)
    exact = _gradients(x, gamma, alpha, beta, out_grad, elu, native_form=False)
    assert ours[0].is_contiguous(memory_format=torch.channels_last)
    for name, a, b in zip(("x", "gamma", "alpha", "beta"), ours, exact):
        assert (a.double() - b).abs().max().item() <= 1e-5 * b.abs().max().item() + 1e-7, name


@pytest.mark.parametrize("channels, h, w", CASES + [(7, 1, 1), (5, 2, 9)])
def test_the_mean_pooling_and_its_gradient_are_float64_avg_pool2d(channels, h, w):
    x = _case(channels, h, w)[0].requires_grad_()
    out = pooling.mean_pool_same(x, 5)
    out_grad = torch.randn_like(out)
    (grad,) = torch.autograd.grad(out, x, out_grad)
    assert out.grad_fn is not None and type(out.grad_fn).__name__ == "_NativeBoxMeanBackward"
    assert out.is_contiguous(memory_format=torch.channels_last)
    x64 = x.detach().double().requires_grad_()
    exact = F.avg_pool2d(x64, 5, stride=1, padding=2)
    (exact_grad,) = torch.autograd.grad(exact, x64, out_grad.double())
    torch.testing.assert_close(out.double(), exact, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(grad.double(), exact_grad, rtol=1e-6, atol=1e-6)


def test_the_mean_pooling_takes_odd_sizes_only():
    with pytest.raises(ValueError, match="odd kernel size"):
        pooling.mean_pool_same(_case(8, 7, 7)[0], 4)


def test_results_do_not_depend_on_the_number_of_threads():
    x, gamma, alpha, beta = _case(24, 9, 9)
    assert_bitwise_equal_at_thread_counts(
        lambda: (
            native.cond_instance_norm_plus(x, gamma, alpha, beta, EPS, True),
            *_gradients(x, gamma, alpha, beta, x.flip(0), True, native_form=True),
            native.box_mean(x, 2),
        )
    )


def test_the_reference_network_trains_on_the_kernels_with_pytorchs_gradients():
    torch.manual_seed(0)
    sigmas = geometric_sigmas(1.0, 0.01, 10)
    model = build_model("refinenet", sigmas=sigmas, width=8).train()
    x = torch.rand(4, 1, 28, 28)
    loss = model(x, sigmas[:4]).square().mean()
    assert {"_NativeCondInstanceNormPlusBackward", "_NativeBoxMeanBackward"} <= autograd_node_names(loss)
    loss.backward()
    model_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    with plain_forms():
        loss = model(x, sigmas[:4]).square().mean()
        assert not {"_NativeCondInstanceNormPlusBackward", "_NativeBoxMeanBackward"} & autograd_node_names(loss)
        loss.backward()
    for (name, p), grad in zip(model.named_parameters(), model_grads):
        torch.testing.assert_close(grad, p.grad, rtol=1e-3, atol=1e-6, msg=name)


def test_the_traced_reference_network_runs_the_kernels_and_scores_as_eager():
    torch.manual_seed(0)
    sigmas = geometric_sigmas(1.0, 0.01, 10)
    model = build_model("refinenet", sigmas=sigmas, width=8).eval()
    x, sigma = torch.rand(4, 1, 28, 28), sigmas[[0, 3, 6, 9]]
    with torch.inference_mode():
        eager, traced = model(x, sigma), traced_score_fn(model)(x, sigma)
        graph = str(torch.jit.freeze(torch.jit.trace(model, (x, sigma), check_trace=False)).graph)
    assert "ncsn::cond_instance_norm_plus" in graph and "ncsn::box_mean" in graph
    assert torch.equal(traced, eager)


def test_samples_after_the_posters_1000_steps_equal_the_pytorch_forms():
    """ngf 12: 12 and 24 channels, the kernel's longest period (48 floats). The same uint8 images as the
    network's PyTorch forms up to 1 grey level on a few pixels (float rounding carried through 1000 steps)."""
    difference = fast_vs_plain_image_difference("refinenet", 12, n_samples=4)
    assert difference.flatten(1).max(dim=1).values.max() <= 1
    assert (difference > 0).float().mean() <= 1e-3

"""The optimised reference network computes the plain CondRefineNetDilated: a second implementation,
written below as straightforward functions over the same state_dict (NCHW, textbook instance norm,
no in-place updates, no custom backward), gives the same scores and the same gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ncsn.models.norms import cond_instance_norm_plus, cond_instance_norm_plus_reference
from ncsn.models.refinenet import RefineNet
from ncsn.noise import geometric_sigmas

SIGMAS = geometric_sigmas(1.0, 0.01, 10)
TOL = dict(rtol=1e-5, atol=1e-5)


def _norm(p, name, x, y):
    c = x.shape[1]
    gamma, alpha, beta = (t[:, :, None, None] for t in p[f"{name}.embed.weight"][y].split(c, dim=1))
    means = x.mean(dim=(2, 3))
    m_hat = (means - means.mean(dim=1, keepdim=True)) / torch.sqrt(means.var(dim=1, keepdim=True) + 1e-5)
    x_hat = (x - x.mean(dim=(2, 3), keepdim=True)) / torch.sqrt(x.var(dim=(2, 3), unbiased=False, keepdim=True) + 1e-5)
    return gamma * (x_hat + alpha * m_hat[:, :, None, None]) + beta


def _conv(p, name, x, dilation=1):
    w = p[f"{name}.weight"]
    return F.conv2d(x, w, p.get(f"{name}.bias"), padding=dilation * (w.shape[-1] // 2), dilation=dilation)


def _residual(p, name, x, y, dilation):
    h = _conv(p, f"{name}.conv1", F.elu(_norm(p, f"{name}.norm1", x, y)), dilation)
    h = F.elu(_norm(p, f"{name}.norm2", h, y))
    if f"{name}.conv2.conv.weight" in p:  # down-sampling: convolution, then the mean of each 2 x 2 window

        def pool(t):
            return (t[:, :, ::2, ::2] + t[:, :, 1::2, ::2] + t[:, :, ::2, 1::2] + t[:, :, 1::2, 1::2]) / 4

        return pool(_conv(p, f"{name}.conv2.conv", h)) + pool(_conv(p, f"{name}.shortcut.conv", x))
    shortcut = _conv(p, f"{name}.shortcut", x, dilation) if f"{name}.shortcut.weight" in p else x
    return _conv(p, f"{name}.conv2", h, dilation) + shortcut


def _rcu(p, name, x, y):
    b = 0
    while f"{name}.blocks.{b}.0.0.embed.weight" in p:
        h = x
        for s in range(2):
            h = _conv(p, f"{name}.blocks.{b}.{s}.1", F.elu(_norm(p, f"{name}.blocks.{b}.{s}.0", h, y)))
        x, b = x + h, b + 1
    return x


def _refine(p, name, xs, y):
    hs = [_rcu(p, f"{name}.adapt.{i}", x, y) for i, x in enumerate(xs)]
    if len(hs) == 1:
        h = hs[0]
    else:
        size = xs[0].shape[2:]
        h = sum(
            F.interpolate(
                _conv(p, f"{name}.fuse.convs.{i}", _norm(p, f"{name}.fuse.norms.{i}", t, y)),
                size=size,
                mode="bilinear",
                align_corners=True,
            )
            for i, t in enumerate(hs)
        )
    h = F.elu(h)
    path = h
    for i in range(2):
        path = _conv(
            p,
            f"{name}.pool.convs.{i}",
            F.avg_pool2d(_norm(p, f"{name}.pool.norms.{i}", path, y), 5, stride=1, padding=2),
        )
        h = path + h
    return _rcu(p, f"{name}.output", h, y)


def plain_refinenet(p, x, y):
    """Scores of images x in [0, 1] at level indices y, from the state_dict p."""
    h = _conv(p, "begin_conv", 2 * x - 1)
    layers = []
    for stage, dilation in zip(range(1, 5), (1, 1, 2, 4)):
        for i in range(2):
            h = _residual(p, f"res{stage}.{i}", h, y, dilation)
        layers.append(h)
    h = _refine(p, "refine1", [layers[3]], y)
    h = _refine(p, "refine2", [layers[2], h], y)
    h = _refine(p, "refine3", [layers[1], h], y)
    h = _refine(p, "refine4", [layers[0], h], y)
    return _conv(p, "end_conv", F.elu(_norm(p, "end_norm", h, y)))


def _model_and_batch(width: int, n: int = 4):
    torch.manual_seed(0)
    model = RefineNet(SIGMAS, width=width)
    with torch.no_grad():  # move every parameter off its initial value (beta = 0, gamma ~ 1, ...)
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    y = torch.tensor([0, 9, 3, 5][:n])
    return model, torch.rand(n, 1, 28, 28), y


def _plain_params(model):
    return {
        k: v.detach().contiguous().clone().requires_grad_(v.is_floating_point()) for k, v in model.state_dict().items()
    }


@pytest.mark.parametrize("width", [4, 8])
def test_scores_match_the_plain_network(width):
    model, x, y = _model_and_batch(width)
    expected = plain_refinenet(_plain_params(model), x, y)
    model.eval()
    with torch.inference_mode():
        torch.testing.assert_close(model(x, SIGMAS[y]), expected.detach(), **TOL)
    torch.testing.assert_close(model(x, SIGMAS[y]), expected, **TOL)  # training mode: no dropout here


def test_scores_at_the_paper_width_match_the_plain_network_in_float64():
    # Width 64 takes the NNPACK convolutions of ncsn.models.convolution.  At this depth and output scale
    # (|score| ~ 8) two float32 summation orders differ by ~2e-5 absolute, so both sides are measured
    # against the plain network in float64: within 1e-5 of the output's scale.
    model, x, y = _model_and_batch(64, n=2)
    params64 = {k: v.detach().double() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    truth = plain_refinenet(params64, x.double(), y)
    scale = truth.abs().max().item()
    model.eval()
    with torch.inference_mode():
        evaluated = model(x, SIGMAS[y])
    trained = model.train()(x, SIGMAS[y])
    for out in (evaluated, trained.detach()):
        error = (out.double() - truth).abs().max().item()
        assert error <= 1e-5 * scale, f"max |ours - float64 plain| = {error:.2e} at output scale {scale:.2f}"


def test_gradients_match_the_plain_network():
    # float64: in float32 the two summation orders of a deep backward pass differ by ~1e-5 themselves.
    model, x, y = _model_and_batch(8)
    model, x = model.double(), x.double()
    params = _plain_params(model)
    x_ours, x_plain = x.clone().requires_grad_(), x.clone().requires_grad_()
    weight = torch.randn_like(x)
    (model(x_ours, SIGMAS[y]) * weight).sum().backward()
    (plain_refinenet(params, x_plain, y) * weight).sum().backward()
    torch.testing.assert_close(x_ours.grad, x_plain.grad, **TOL)
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, params[name].grad, **TOL, msg=name)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_fused_norm_matches_the_formula_with_its_gradients(memory_format):
    g = torch.Generator().manual_seed(0)
    x = (3 * torch.randn(3, 5, 7, 6, generator=g) + 1).contiguous(memory_format=memory_format)
    factors = [torch.randn(3, 5, generator=g) for _ in range(3)]
    ours = [t.clone().requires_grad_() for t in (x, *factors)]
    reference = [t.clone().requires_grad_() for t in (x, *factors)]
    out, expected = cond_instance_norm_plus(*ours), cond_instance_norm_plus_reference(*reference)
    torch.testing.assert_close(out, expected, **TOL)
    weight = torch.randn(out.shape, generator=g)
    (out * weight).sum().backward()
    (expected * weight).sum().backward()
    for a, b in zip(ours, reference):
        torch.testing.assert_close(a.grad, b.grad, **TOL)


def test_fast_elu_matches_torch_elu_with_its_gradient():
    from ncsn.models.activations import elu

    g = torch.Generator().manual_seed(0)
    x = torch.cat([4 * torch.randn(2000, generator=g), torch.tensor([0.0, -1e-8, 1e-8, -80.0, 80.0])])
    torch.testing.assert_close(elu(x), F.elu(x), rtol=0, atol=1e-7)  # exp(x) - 1: within half an ulp of 1
    with torch.inference_mode():
        torch.testing.assert_close(elu(x), F.elu(x), rtol=0, atol=1e-7)
        y = x.clone()
        assert elu(y, inplace=True) is y
        torch.testing.assert_close(y, F.elu(x), rtol=0, atol=1e-7)
    ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    weight = torch.randn(x.shape, generator=g)
    (elu(ours) * weight).sum().backward()
    (F.elu(theirs) * weight).sum().backward()
    torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-6, atol=1e-7)
    x64 = torch.randn(40, dtype=torch.float64, generator=g).requires_grad_()
    assert torch.autograd.gradcheck(elu, (x64,)) and torch.autograd.gradgradcheck(elu, (x64,))
    tangent = torch.randn(x.shape, generator=g)  # under torch.func (the SSM loss) the plain formula is used
    torch.testing.assert_close(
        torch.func.jvp(elu, (x,), (tangent,)), torch.func.jvp(F.elu, (x,), (tangent,)), rtol=1e-6, atol=1e-7
    )


@pytest.mark.skipif(not torch.backends.nnpack.is_available(), reason="this PyTorch build has no NNPACK")
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_nnpack_convolution_matches_onednn_with_its_gradients(memory_format):
    from ncsn.models.convolution import Conv3x3

    torch.manual_seed(0)
    conv = Conv3x3(128, 64, bias=True).to(memory_format=memory_format)
    x = torch.randn(5, 128, 14, 13).contiguous(memory_format=memory_format)
    assert conv.takes_nnpack(x)
    # where NNPACK would choose its less accurate Winograd transform (small maps) or its single-image
    # path, and for narrow layers, oneDNN computes
    assert not conv.takes_nnpack(x[:, :, :7, :7]) and not conv.takes_nnpack(x[:1])
    assert not Conv3x3(64, 64, bias=True).takes_nnpack(torch.randn(5, 64, 14, 14))
    ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = conv(ours)
    expected = F.conv2d(theirs, conv.weight, conv.bias, padding=1)
    assert out.is_contiguous(memory_format=memory_format)
    torch.testing.assert_close(out, expected, **TOL)
    weight = torch.randn(out.shape)
    (grad_x, grad_w, grad_b) = torch.autograd.grad((out * weight).sum(), (ours, conv.weight, conv.bias))
    expected_grads = torch.autograd.grad((expected * weight).sum(), (theirs, conv.weight, conv.bias))
    for a, b in zip((grad_x, grad_w, grad_b), expected_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)  # sums over 5 x 14 x 13 products
    with torch.inference_mode():
        torch.testing.assert_close(conv(x), expected.detach(), **TOL)
    # deterministic, like the rest of training (bitwise resume relies on it)
    again = torch.autograd.grad((conv(ours) * weight).sum(), (ours, conv.weight, conv.bias))
    assert all(torch.equal(a, b) for a, b in zip(again, (grad_x, grad_w, grad_b)))


def test_mean_pooled_kernel_is_convolution_then_average_pooling():
    from ncsn.models.convolution import ConvMeanPool

    torch.manual_seed(0)
    for kernel, size in ((3, 28), (3, 7), (5, 10), (1, 9)):
        block = ConvMeanPool(3, 4, kernel).double()
        x = torch.randn(2, 3, size, size, dtype=torch.float64)
        expected = F.avg_pool2d(F.conv2d(x, block.conv.weight, block.conv.bias, padding=kernel // 2), 2)
        torch.testing.assert_close(block(x), expected, rtol=1e-12, atol=1e-12)

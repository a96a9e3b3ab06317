"""Score-matching objectives against what they must equal on Gaussians, where every score is known."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ncsn.losses import dsm_loss, ism_loss, ssm_loss
from ncsn.models.mlp import mlp

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small tensors: threads only add overhead


class LinearPerLevel(nn.Module):
    """s(x, sigma_l) = A_l x + b_l, one affine map per noise level."""

    def __init__(self, sigmas: torch.Tensor, dim: int):
        super().__init__()
        self.sigmas = sigmas
        self.weight = nn.Parameter(torch.zeros(len(sigmas), dim, dim))
        self.bias = nn.Parameter(torch.zeros(len(sigmas), dim))

    def forward(self, x, sigma):
        level = (sigma.view(-1, 1) - self.sigmas.view(1, -1)).abs().argmin(dim=1)
        return torch.einsum("nij,nj->ni", self.weight[level], x) + self.bias[level]


def test_dsm_reaches_the_perturbed_gaussian_score():
    # x ~ N(0, s0^2 I): the optimum of DSM at level sigma is the score of N(0, (s0^2 + sigma^2) I).
    dim, s0 = 2, 2.0
    sigmas = torch.tensor([2.0, 1.0, 0.5])
    model = LinearPerLevel(sigmas, dim)
    gen = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=500)
    for _ in range(500):
        x = s0 * torch.randn(2048, dim, generator=gen)
        loss = dsm_loss(model, x, sigmas, generator=gen)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    for level, sigma in enumerate(sigmas.tolist()):
        expected = -torch.eye(dim) / (s0**2 + sigma**2)
        assert torch.allclose(model.weight[level].detach(), expected, atol=0.03 * abs(expected[0, 0].item()) + 0.005), (
            sigma,
            model.weight[level],
        )
        assert model.bias[level].detach().abs().max() < 0.02


def _brute_force_ism(net, x):
    """The ISM objective with the trace summed one input dimension at a time (plain autograd)."""
    x = x.clone().requires_grad_(True)
    s = net(x)
    trace = sum(torch.autograd.grad(s[:, i].sum(), x, create_graph=True)[0][:, i] for i in range(x.shape[1]))
    return (0.5 * s.pow(2).sum(dim=1) + trace).mean()


def test_ism_is_exact_and_differentiable():
    torch.manual_seed(0)
    net = mlp(5, 5, width=16, depth=2)
    x = torch.randn(7, 5)
    ours, reference = ism_loss(net, x), _brute_force_ism(net, x)
    assert torch.allclose(ours, reference, rtol=1e-5, atol=1e-6)
    grads = torch.autograd.grad(ours, list(net.parameters()))
    expected = torch.autograd.grad(reference, list(net.parameters()))
    for g, e in zip(grads, expected):
        assert torch.allclose(g, e, rtol=1e-4, atol=1e-6)


def test_ism_handles_image_shaped_data():
    torch.manual_seed(0)
    net = mlp(6, 6, width=8, depth=1)
    x = torch.randn(4, 1, 2, 3)
    flat = ism_loss(lambda y: net(y.flatten(1)).view(y.shape), x)
    assert torch.allclose(flat, _brute_force_ism(net, x.flatten(1)), rtol=1e-5)


@pytest.mark.parametrize("model_name", ["linear", "mlp"])
def test_ism_is_explicit_score_matching_minus_a_constant(model_name):
    # Gaussian N(0, s0^2 I): ISM - ESM = -0.5 E||grad log p||^2 = -dim / (2 s0^2), whatever the model.
    dim, s0, n_chunks, chunk = 3, 1.5, 20, 10_000
    torch.manual_seed(1)
    if model_name == "linear":
        model = nn.Linear(dim, dim)
        with torch.no_grad():
            model.weight.copy_(-0.8 * torch.eye(dim) + 0.3 * torch.randn(dim, dim))  # trace far from 0
    else:
        model = mlp(dim, dim, width=32, depth=2)
    gen = torch.Generator().manual_seed(2)
    differences = []
    with torch.no_grad():
        for _ in range(n_chunks):
            x = s0 * torch.randn(chunk, dim, generator=gen)
            esm = 0.5 * (model(x) + x / s0**2).pow(2).sum(dim=1).mean()
            differences.append((ism_loss(model, x) - esm).item())
    differences = torch.tensor(differences)
    stderr = differences.std() / n_chunks**0.5
    constant = -dim / (2 * s0**2)
    assert abs(differences.mean() - constant) < 4 * stderr + 1e-3, (differences.mean(), constant, stderr)


def test_ism_minus_esm_constant_is_shared_by_two_models():
    dim, s0 = 2, 1.0
    gen = torch.Generator().manual_seed(3)
    x = s0 * torch.randn(100_000, dim, generator=gen)
    torch.manual_seed(4)
    models = [mlp(dim, dim, width=16, depth=1), nn.Linear(dim, dim)]
    with torch.no_grad():
        gaps = [ism_loss(m, x) - 0.5 * (m(x) + x / s0**2).pow(2).sum(dim=1).mean() for m in models]
    # Both gaps share the sample's -0.5 mean ||x||^2 / s0^4 term exactly; what is left is sampling noise.
    assert abs(gaps[0] - gaps[1]) < 0.03
    assert abs(gaps[0] - (-dim / (2 * s0**2))) < 0.03


@pytest.mark.parametrize("variance_reduction", [False, True])
def test_ssm_averages_to_ism(variance_reduction):
    torch.manual_seed(5)
    net = mlp(3, 3, width=16, depth=2)
    x = torch.randn(32, 3)
    gen = torch.Generator().manual_seed(6)
    with torch.no_grad():
        target = ism_loss(net, x).item()
        estimates = torch.tensor(
            [
                ssm_loss(net, x, n_projections=500, generator=gen, variance_reduction=variance_reduction).item()
                for _ in range(8)
            ]
        )
    stderr = estimates.std() / 8**0.5
    assert abs(estimates.mean().item() - target) < 4 * stderr + 1e-4, (estimates.mean(), target, stderr)
    # one projection is a noisy estimate, not the same number
    assert ssm_loss(net, x, generator=gen).item() != pytest.approx(target, rel=1e-6)


def test_ssm_gradient_averages_to_ism_gradient():
    # For a linear score A x the Jacobian is A: the SSM gradient must average to the ISM gradient.
    torch.manual_seed(7)
    model = nn.Linear(2, 2)
    x = torch.randn(64, 2)
    gen = torch.Generator().manual_seed(8)
    ism_grad = torch.autograd.grad(ism_loss(model, x), model.weight)[0]
    ssm_grad = torch.autograd.grad(
        ssm_loss(model, x, n_projections=20_000, generator=gen, variance_reduction=True), model.weight
    )[0]
    assert torch.allclose(ssm_grad, ism_grad, atol=0.05), (ssm_grad, ism_grad)


def test_ssm_rejects_zero_projections():
    with pytest.raises(ValueError, match="n_projections"):
        ssm_loss(nn.Linear(2, 2), torch.randn(3, 2), n_projections=0)

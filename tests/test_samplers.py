"""The samplers beyond the poster (consistent annealed sampling, predictor-corrector, probability-flow
ODE) on exact scores: a Gaussian's mean and spread and the two-mode mixture's weights are recovered at
300 score evaluations, the NFE each reports is the number of calls it made, and a drift off by the factor
of 2 that the literature's conventions disagree on is caught by the same tolerances."""

from __future__ import annotations

import math

import pytest
import torch

from ncsn.data.toy import POSTER_MIXTURE
from ncsn.noise import geometric_sigmas
from ncsn.sampling import cas_eta_range, consistent_annealed, predictor_corrector, probability_flow

MU, S0, DIM, N = 0.5, 0.3, 16, 4000
SIGMA_MAX, SIGMA_MIN = 10.0, 0.01
NFE = 300
STD_TOLERANCE = 0.03  # relative; the estimate's own standard error is ~0.3% here
WEIGHT_TOLERANCE = 0.03  # absolute; the estimate's standard error is 0.006 at N = 4000


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small tensors: threads only add overhead


def gaussian_score(scale: float = 1.0):
    """Exact score of N(MU, S0^2 I) perturbed at sigma, times `scale` (2 = the mis-scaled drift)."""
    return lambda x, sigma: -scale * (x - MU) / (S0**2 + sigma[:, None] ** 2)


def _gaussian_start(seed=0):
    g = torch.Generator().manual_seed(seed)
    return MU + math.sqrt(S0**2 + SIGMA_MAX**2) * torch.randn(N, DIM, generator=g)


def _mixture_start(seed=0, sigma_max=20.0):
    """Draws of the mixture perturbed at sigma_max: the prior every VE sampler assumes."""
    g = torch.Generator().manual_seed(seed)
    first = torch.rand(N, generator=g) < 0.2
    means = torch.where(first[:, None], torch.tensor([5.0, 5.0]), torch.tensor([-5.0, -5.0]))
    return means + math.sqrt(1 + sigma_max**2) * torch.randn(N, 2, generator=g)


SAMPLERS = {
    "consistent annealed": lambda score, x, hi, lo: consistent_annealed(
        score, x, geometric_sigmas(hi, lo, NFE), generator=torch.Generator().manual_seed(1)
    ),
    "predictor-corrector": lambda score, x, hi, lo: predictor_corrector(
        score, x, geometric_sigmas(hi, lo, NFE // 2 + 1), generator=torch.Generator().manual_seed(1)
    ),
    "probability flow (midpoint)": lambda score, x, hi, lo: probability_flow(score, x, hi, lo, (NFE - 1) // 2),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_gaussian_mean_and_spread_are_recovered(name):
    out = SAMPLERS[name](gaussian_score(), _gaussian_start(), SIGMA_MAX, SIGMA_MIN)
    assert abs(out.x.mean().item() - MU) < 0.01
    assert abs(out.x.std().item() / S0 - 1) < STD_TOLERANCE, out.x.std().item()
    assert NFE - 1 <= out.nfe <= NFE


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_a_drift_off_by_two_fails_the_same_tolerance(name):
    out = SAMPLERS[name](gaussian_score(scale=2.0), _gaussian_start(), SIGMA_MAX, SIGMA_MIN)
    assert abs(out.x.std().item() / S0 - 1) > 3 * STD_TOLERANCE, out.x.std().item()


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_two_mode_mixture_weights_are_recovered(name):
    out = SAMPLERS[name](POSTER_MIXTURE.score, _mixture_start(), 20.0, 0.1)
    weight = (out.x.sum(dim=1) > 0).float().mean().item()
    assert abs(weight - 0.2) < WEIGHT_TOLERANCE, weight
    assert (out.x.sum(dim=1).abs() > 4).float().mean() > 0.95  # in the modes, not between them


def test_nfe_is_counted_per_sampler():
    score = gaussian_score()
    x = _gaussian_start()[:8]
    sigmas = geometric_sigmas(SIGMA_MAX, SIGMA_MIN, 11)
    assert consistent_annealed(score, x, sigmas).nfe == 11
    assert predictor_corrector(score, x, sigmas, corrector_steps=2).nfe == 3 * 10
    assert predictor_corrector(score, x, sigmas, corrector_steps=0).nfe == 10
    assert probability_flow(score, x, SIGMA_MAX, SIGMA_MIN, 5, method="rk4").nfe == 4 * 5 + 1
    assert probability_flow(score, x, SIGMA_MAX, SIGMA_MIN, 5, method="euler", denoise=False).nfe == 5


def test_cas_refuses_an_inconsistent_eta_and_a_generator_fixes_its_samples():
    sigmas = geometric_sigmas(SIGMA_MAX, SIGMA_MIN, 10)
    low, high = cas_eta_range(sigmas)
    with pytest.raises(ValueError, match="outside"):
        consistent_annealed(gaussian_score(), _gaussian_start()[:4], sigmas, eta=low / 2)
    a, b = (
        consistent_annealed(
            gaussian_score(), _gaussian_start()[:4], sigmas, generator=torch.Generator().manual_seed(7)
        ).x
        for _ in range(2)
    )
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "method, nfe, used", [("ald", 10, 9), ("ald_denoise", 10, 10), ("cas", 10, 10), ("pc", 10, 10), ("ode", 10, 9)]
)
def test_sample_command_runs_each_method_at_its_budget(tmp_path, method, nfe, used):
    """`sample --method M --nfe N` on a (tiny, untrained) U-Net with 3 levels: the NFE it records is
    the one it made; a fixed seed gives the same images."""
    from test_generate import _checkpoint

    from ncsn import cli
    from ncsn.generate import load_samples

    ckpt = _checkpoint(tmp_path / "epoch_1.pt")
    runs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.pt"
        assert (
            cli.main(
                [
                    "sample",
                    "--checkpoint",
                    str(ckpt),
                    "--method",
                    method,
                    "--nfe",
                    str(nfe),
                    "--n-samples",
                    "3",
                    "--batch-size",
                    "2",
                    "--seed",
                    "5",
                    "--device",
                    "cpu",
                    "--out",
                    str(out),
                    "--grid",
                    str(tmp_path / f"{name}.png"),
                ]
            )
            == 0
        )
        runs.append(load_samples(out))
    (a, info), (b, _) = runs
    assert torch.equal(a, b) and a.shape == (3, 1, 28, 28) and a.dtype == torch.uint8
    assert info["method"] == method and info["nfe_budget"] == nfe and info["nfe"] == used


def test_a_level_indexed_network_is_refused_by_the_samplers_between_levels(tmp_path, capsys):
    from ncsn import cli
    from ncsn.models.registry import build_model

    sigmas = geometric_sigmas(1.0, 0.01, 3)
    kwargs = {"sigmas": sigmas.tolist(), "width": 4, "channels": 1, "dropout": 0.0}
    net = build_model("refinenet", **dict(kwargs, sigmas=sigmas))
    torch.save(
        {"arch": "refinenet", "model_kwargs": kwargs, "model": net.state_dict(), "ema": net.state_dict()},
        tmp_path / "r.pt",
    )
    assert (
        cli.main(
            [
                "sample",
                "--checkpoint",
                str(tmp_path / "r.pt"),
                "--method",
                "cas",
                "--nfe",
                "10",
                "--n-samples",
                "2",
                "--device",
                "cpu",
                "--out",
                str(tmp_path / "s.pt"),
                "--grid",
                str(tmp_path / "s.png"),
            ]
        )
        == 1
    )
    assert "level-indexed refinenet" in capsys.readouterr().err

"""The samplers of ncsn.sampling on exact scores, and the sampling side of ncsn.sampling.driver.

Annealed Langevin recovers the poster's mode weight where plain Langevin does not, and its fast loop is
the textbook one; Tweedie's formula gives the posterior mean. The samplers beyond the poster (consistent
annealed sampling, predictor-corrector, probability-flow ODE) recover a Gaussian's mean and spread and
the two-mode mixture's weights at 300 score evaluations, the NFE each reports is the number of calls it
made, and a drift off by the factor of 2 that the literature's conventions disagree on is caught by the
same tolerances. The score function the sample command hands the samplers: torch.compile behind a switch
with a fallback to eager, bf16 only on CUDA."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import uniform_points
from torch import nn

from ncsn.data.toy import POSTER_MIXTURE
from ncsn.errors import NcsnError
from ncsn.noise import geometric_sigmas
from ncsn.sampling import (
    annealed_langevin,
    cas_eta_range,
    consistent_annealed,
    langevin,
    predictor_corrector,
    probability_flow,
    tweedie_denoise,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small tensors: threads only add overhead

MU, S0, DIM, N = 0.5, 0.3, 16, 4000
SIGMA_MAX, SIGMA_MIN = 10.0, 0.01
NFE = 300
STD_TOLERANCE = 0.03  # relative; the estimate's own standard error is ~0.3% here
WEIGHT_TOLERANCE = 0.03  # absolute; the estimate's standard error is 0.006 at N = 4000


def mode_weight(x: torch.Tensor) -> float:
    """Share of the samples on the (5, 5) side of the line x + y = 0."""
    return (x.sum(dim=1) > 0).float().mean().item()


# --- annealed and plain Langevin, Tweedie's formula -----------------------------------------------------


def _uniform_start(n, seed):
    return (2 * torch.rand(n, 2, generator=torch.Generator().manual_seed(seed)) - 1) * 8


def test_annealed_langevin_recovers_the_mode_weight_and_plain_langevin_does_not():
    # Settings of config/quick.yaml (the official toy runner's alpha_i / sigma_i^2 = 0.1 and T = 100).
    start = _uniform_start(4000, seed=0)
    sigmas = geometric_sigmas(20.0, 0.1, 16)
    annealed = annealed_langevin(
        POSTER_MIXTURE.score, start, sigmas, step_lr=1e-3, n_steps_each=100, generator=torch.Generator().manual_seed(1)
    )
    plain = langevin(
        POSTER_MIXTURE.score, start, step_size=0.1, n_steps=1000, generator=torch.Generator().manual_seed(2)
    )
    assert abs(mode_weight(annealed) - 0.2) < 0.03, mode_weight(annealed)
    assert abs(mode_weight(plain) - 0.2) > 0.15, mode_weight(plain)
    # both end in the modes, not in between
    assert (annealed.sum(dim=1).abs() > 4).float().mean() > 0.95


def test_fast_annealed_langevin_is_the_textbook_loop():
    sigmas = torch.tensor([1.0, 0.5, 0.25])

    def score_fn(x, sigma):
        return -x / (1 + sigma[:, None, None, None] ** 2)

    x0 = torch.rand(5, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    fast = annealed_langevin(score_fn, x0, sigmas, 0.1, 3, generator=torch.Generator().manual_seed(0))
    g, x = torch.Generator().manual_seed(0), x0.clone()
    for sigma in sigmas.tolist():
        alpha = 0.1 * sigma**2 / sigmas[-1].item() ** 2
        for _ in range(3):
            x = x + alpha / 2 * score_fn(x, torch.full((5,), sigma)) + alpha**0.5 * torch.randn(x.shape, generator=g)
    torch.testing.assert_close(fast, x, rtol=1e-6, atol=1e-6)


def test_tweedie_gives_the_gaussian_posterior_mean():
    # x0 ~ N(mu, s0^2 I), x = x0 + sigma z: E[x0 | x] = mu + s0^2 / (s0^2 + sigma^2) (x - mu).
    mu, s0, sigma, n = torch.tensor([1.0, -2.0]), 1.5, 0.8, 200_000
    gen = torch.Generator().manual_seed(0)
    x0 = mu + s0 * torch.randn(n, 2, generator=gen)
    x = x0 + sigma * torch.randn(n, 2, generator=gen)

    def score(y, s):
        return -(y - mu) / (s0**2 + s.view(-1, 1) ** 2)

    denoised = tweedie_denoise(score, x, sigma)
    shrink = s0**2 / (s0**2 + sigma**2)
    assert torch.allclose(denoised, mu + shrink * (x - mu), atol=1e-5)
    # and it is the posterior mean of the simulated pairs: residuals uncorrelated with x, Bayes MSE
    residual = x0 - denoised
    assert residual.mean(dim=0).abs().max() < 0.01
    assert (residual * (x - mu)).mean(dim=0).abs().max() < 0.02
    bayes_mse = 2 * s0**2 * sigma**2 / (s0**2 + sigma**2)
    assert residual.pow(2).sum(dim=1).mean().item() == pytest.approx(bayes_mse, rel=0.01)


@pytest.mark.parametrize("sigma", [0.5, 3.0])
def test_tweedie_with_the_mixture_score_gives_its_posterior_mean(sigma):
    x = uniform_points(200, scale=10.0).float()
    assert torch.allclose(
        tweedie_denoise(POSTER_MIXTURE.score, x, sigma), POSTER_MIXTURE.posterior_mean(x, sigma), atol=1e-4
    )


# --- consistent annealed sampling, predictor-corrector, probability-flow ODE ------------------------------


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
    weight = mode_weight(out.x)
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


# --- the score function of the sample command ------------------------------------------------------------


def test_compile_switch_and_fallback_to_eager(monkeypatch):
    from ncsn.models.compiled import compile_score_fn

    def model(x, sigma):
        return 2 * x

    assert compile_score_fn(model, enabled=False) is model

    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(torch, "compile", lambda model, **kwargs: broken)
    messages = []
    score_fn = compile_score_fn(model, log=messages.append)
    x = torch.ones(2)
    assert torch.equal(score_fn(x, x), 2 * x) and torch.equal(score_fn(x, x), 2 * x)
    assert len(messages) == 1 and "running uncompiled" in messages[0]


def test_a_compile_that_takes_too_long_falls_back_to_eager_within_its_time_limit(monkeypatch):
    """A compiler that stalls (as inductor did on the reference network) is cut off after timeout_s, in
    the first call; that call and every later one return the eager scores, with one warning line."""
    import time

    from ncsn.models.compiled import compile_score_fn

    def model(x, sigma):
        return 2 * x

    def stalling(x, sigma):
        time.sleep(30)  # interrupted by the time limit's SIGALRM after 0.5 s
        return x

    monkeypatch.setattr(torch, "compile", lambda model, **kwargs: stalling)
    messages = []
    score_fn = compile_score_fn(model, log=messages.append, timeout_s=0.5)
    x = torch.ones(2)
    start = time.perf_counter()
    assert torch.equal(score_fn(x, x), 2 * x)
    assert time.perf_counter() - start < 5
    assert torch.equal(score_fn(x, x), 2 * x)
    assert messages == ["warning: torch.compile did not finish within 0.5 s; running uncompiled"]


def test_bf16_sampling_needs_cuda():
    from ncsn.sampling.driver import score_function

    with pytest.raises(NcsnError, match="--bf16 needs a CUDA device"):
        score_function(nn.Identity(), torch.device("cpu"), bf16=True)


def test_sample_grid_has_torchvisions_layout_without_importing_it(tmp_path):
    """The PNG grid is written with Pillow (importing torchvision cost every sampling job 2.4 s); its
    pixels are those torchvision's make_grid + save_image gave."""
    import numpy as np
    from PIL import Image
    from torchvision.utils import make_grid

    from ncsn.sampling.sets import image_grid

    images = torch.randint(0, 256, (10, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    image_grid(images, tmp_path / "grid.png", nrow=4)
    expected = make_grid(images.float() / 255, nrow=4, padding=2, pad_value=1.0).mul(255).add_(0.5).to(torch.uint8)
    written = torch.from_numpy(np.array(Image.open(tmp_path / "grid.png")))
    assert torch.equal(written, expected[0])

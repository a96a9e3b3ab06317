"""Toy distributions (exact scores of every perturbed density), the samplers on them, Tweedie's
formula, the toy score network and the three toy commands at the smallest size."""

from __future__ import annotations

import json
import math

import pytest
import torch

from ncsn.data.toy import POSTER_MIXTURE, Circle, GaussianMixture
from ncsn.models.mlp import NoiseConditionalMLP
from ncsn.noise import geometric_sigmas
from ncsn.sampling import annealed_langevin, langevin, tweedie_denoise

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small tensors: threads only add overhead


def _autograd_score(log_density, x, sigma):
    x = x.clone().double().requires_grad_(True)
    return torch.autograd.grad(log_density(x, sigma).sum(), x)[0]


def _points(n=400, scale=8.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (2 * torch.rand(n, 2, generator=gen, dtype=torch.float64) - 1) * scale


@pytest.mark.parametrize("sigma", [0.0, 0.3, 2.0, 10.0])
def test_mixture_score_is_the_gradient_of_its_log_density(sigma):
    x = _points()
    assert torch.allclose(
        POSTER_MIXTURE.score(x, sigma), _autograd_score(POSTER_MIXTURE.log_density, x, sigma), rtol=1e-8, atol=1e-10
    )


@pytest.mark.parametrize("sigma", [0.0, 1.0, 5.0])
def test_mixture_log_density_is_the_widened_mixture(sigma):
    std = math.sqrt(1 + sigma**2)
    components = torch.distributions.Independent(
        torch.distributions.Normal(
            torch.tensor([[5.0, 5.0], [-5.0, -5.0]], dtype=torch.float64), torch.full((2, 2), std, dtype=torch.float64)
        ),
        1,
    )
    reference = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.tensor([0.2, 0.8], dtype=torch.float64)), components
    )
    x = _points()
    assert torch.allclose(POSTER_MIXTURE.log_density(x, sigma), reference.log_prob(x), rtol=1e-10, atol=1e-10)


def test_mixture_takes_one_sigma_per_sample():
    x = _points(6)
    sigma = torch.tensor([0.0, 0.5, 1.0, 2.0, 4.0, 8.0], dtype=torch.float64)
    expected = torch.stack([POSTER_MIXTURE.score(x[i : i + 1], s.item())[0] for i, s in enumerate(sigma)])
    assert torch.allclose(POSTER_MIXTURE.score(x, sigma), expected)


def test_mixture_samples_have_the_weights():
    samples = POSTER_MIXTURE.sample(20_000, generator=torch.Generator().manual_seed(0))
    assert abs((samples.sum(dim=1) > 0).float().mean().item() - 0.2) < 0.01
    assert samples[samples.sum(dim=1) > 0].mean(dim=0).sub(5).abs().max() < 0.1


def test_mixture_rejects_bad_weights():
    with pytest.raises(ValueError, match="sum to 1"):
        GaussianMixture(weights=(0.5, 0.6), means=((0.0, 0.0), (1.0, 1.0)))


@pytest.mark.parametrize("sigma", [0.1, 0.5, 2.0])
def test_circle_score_is_the_gradient_of_its_log_density(sigma):
    circle = Circle(radius=2.0)
    x = torch.cat(
        [_points(300, scale=4.0), torch.tensor([[1e-7, -2e-7], [0.0, 0.03], [2.0, 0.0]], dtype=torch.float64)]
    )
    assert torch.allclose(circle.score(x, sigma), _autograd_score(circle.log_density, x, sigma), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("sigma", [0.1, 0.5, 2.0])
def test_circle_log_density_is_the_convolution(sigma):
    # p_sigma(x) = mean over the circle's angle of N(x; r u(theta), sigma^2 I), by quadrature.
    circle = Circle(radius=2.0)
    x = _points(50, scale=4.0)
    angle = torch.linspace(0, 2 * math.pi, 8193, dtype=torch.float64)[:-1]
    on_circle = 2.0 * torch.stack([angle.cos(), angle.sin()], dim=1)
    log_kernel = -(x.unsqueeze(1) - on_circle).pow(2).sum(-1) / (2 * sigma**2) - math.log(2 * math.pi * sigma**2)
    reference = torch.logsumexp(log_kernel, dim=1) - math.log(len(angle))
    assert torch.allclose(circle.log_density(x, sigma), reference, rtol=1e-8, atol=1e-8)


def test_circle_score_at_the_centre_and_far_away():
    circle = Circle(radius=2.0)
    assert torch.equal(circle.score(torch.zeros(1, 2), 0.5), torch.zeros(1, 2))
    far = torch.tensor([[30.0, 40.0]])  # distance 48 from the circle: s ~ -(rho - r) / sigma^2 radially
    score = circle.score(far, 0.05)
    assert torch.isfinite(score).all()
    assert torch.allclose(score.norm(), torch.tensor(48 / 0.05**2), rtol=0.01)


def test_circle_has_no_data_score():
    with pytest.raises(ValueError, match="sigma > 0"):
        Circle(2.0).score(torch.ones(3, 2), 0.0)


def test_circle_samples_lie_on_the_circle():
    samples = Circle(3.0).sample(1000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(samples.norm(dim=1), torch.full((1000,), 3.0), atol=1e-5)


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
    weight = lambda x: (x.sum(dim=1) > 0).float().mean().item()
    assert abs(weight(annealed) - 0.2) < 0.03, weight(annealed)
    assert abs(weight(plain) - 0.2) > 0.15, weight(plain)
    # both end in the modes, not in between
    assert (annealed.sum(dim=1).abs() > 4).float().mean() > 0.95


def test_tweedie_gives_the_gaussian_posterior_mean():
    # x0 ~ N(mu, s0^2 I), x = x0 + sigma z: E[x0 | x] = mu + s0^2 / (s0^2 + sigma^2) (x - mu).
    mu, s0, sigma, n = torch.tensor([1.0, -2.0]), 1.5, 0.8, 200_000
    gen = torch.Generator().manual_seed(0)
    x0 = mu + s0 * torch.randn(n, 2, generator=gen)
    x = x0 + sigma * torch.randn(n, 2, generator=gen)
    score = lambda y, s: -(y - mu) / (s0**2 + s.view(-1, 1) ** 2)
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
    x = _points(200, scale=10.0).float()
    assert torch.allclose(
        tweedie_denoise(POSTER_MIXTURE.score, x, sigma), POSTER_MIXTURE.posterior_mean(x, sigma), atol=1e-4
    )


def test_noise_conditional_mlp_scales_its_output_by_one_over_sigma():
    torch.manual_seed(0)
    model = NoiseConditionalMLP(dim=2, width=8, data_std=2.0)
    x = torch.randn(5, 2)
    sigma = torch.full((5,), 0.5)
    out = model(x, sigma)
    assert out.shape == (5, 2)
    assert torch.allclose(out, model(x, 0.5))
    net_out = model.net(torch.cat([x / math.sqrt(0.25 + 4.0), torch.full((5, 1), math.log(0.5))], dim=1))
    assert torch.allclose(out, net_out / 0.5)


# --- the commands, at the tiny profile's size ---------------------------------------------------------------


def _tiny(repo, section):
    import yaml

    return json.dumps(yaml.safe_load((repo / "config/tiny.yaml").read_text())["toy"][section])


def test_score_field_command(repo, tmp_path):
    from ncsn.cli import main

    assert (
        main(
            [
                "toy-score-field",
                "--settings",
                _tiny(repo, "score_field"),
                "--device",
                "cpu",
                "--threads",
                "1",
                "--out-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "score_field.json").read_text())
    assert set(summary["smallest_sigma"]) >= {"near", "far", "far_over_near_relative_error"}
    assert (tmp_path / "field.png").stat().st_size > 0 and (tmp_path / "errors.png").stat().st_size > 0
    header = (tmp_path / "errors.csv").read_text().splitlines()[0]
    assert "relative_error" in header and "mean_cosine" in header


def test_mixing_command(repo, tmp_path):
    import pandas as pd

    from ncsn.cli import main

    assert (
        main(
            [
                "toy-mixing",
                "--settings",
                _tiny(repo, "mixing"),
                "--device",
                "cpu",
                "--threads",
                "1",
                "--out-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    table = pd.read_csv(tmp_path / "mode_weights_summary.csv")
    assert sorted(zip(table["score"], table["sampler"])) == [
        ("analytic", "annealed"),
        ("analytic", "langevin"),
        ("learned", "annealed"),
        ("learned", "langevin"),
    ]
    assert (table["n_seeds"] == 2).all() and (table["true_weight"] == 0.2).all()
    assert len(pd.read_csv(tmp_path / "mode_weights.csv")) == 8


def test_objective_cost_command(repo, tmp_path):
    from ncsn.cli import main

    assert (
        main(
            [
                "toy-objective-cost",
                "--settings",
                _tiny(repo, "objective_cost"),
                "--device",
                "cpu",
                "--threads",
                "1",
                "--out-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "cost.json").read_text())
    assert set(summary["seconds_per_step_at_largest_dim"]) == {"ism", "ssm", "dsm"}
    assert (tmp_path / "cost.png").stat().st_size > 0


@pytest.mark.parametrize(
    "command, settings, message",
    [
        ("toy-score-field", {"radius": 1.0}, "lacks band_edges, extent, noise, train"),
        ("toy-score-field", "not json", "not valid JSON"),
        ("toy-mixing", [], "must be a JSON object"),
    ],
)
def test_bad_settings_are_user_errors(command, settings, message, capsys, tmp_path):
    from ncsn.cli import main

    text = settings if isinstance(settings, str) else json.dumps(settings)
    assert main([command, "--settings", text, "--out-dir", str(tmp_path)]) == 1
    assert message in capsys.readouterr().err


def test_band_edges_must_start_at_zero(repo, tmp_path, capsys):
    from ncsn.cli import main

    settings = json.loads(_tiny(repo, "score_field"))
    settings["band_edges"] = [0.5, 1.0, 2.0]
    assert (
        main(["toy-score-field", "--settings", json.dumps(settings), "--device", "cpu", "--out-dir", str(tmp_path)])
        == 1
    )
    assert "band_edges must start at 0" in capsys.readouterr().err


def test_samplers_command_at_the_quick_settings(repo):
    """Exact score: CAS recovers the weight with few evaluations, ALD only at its full 1600 (the numbers
    the report quotes for the quick and laptop profiles, from the same settings)."""
    import yaml

    from ncsn.noise import geometric_sigmas
    from ncsn.toy.samplers import weights_table

    toy = yaml.safe_load((repo / "config/quick.yaml").read_text())["toy"]
    settings = {
        **toy["samplers"],
        **{k: toy["mixing"][k] for k in ("n_samples", "init_bound", "annealed")},
        "n_seeds": 2,
        "nfe": [48, 1600],
        "methods": {m: toy["samplers"]["methods"][m] for m in ("ald", "cas")},
    }
    annealed = toy["mixing"]["annealed"]
    table = weights_table(
        settings, 0, geometric_sigmas(annealed["sigma_max"], annealed["sigma_min"], annealed["n_levels"])
    )
    error = table.groupby(["method", "nfe_budget"])["abs_error"].mean()
    assert error[("cas", 48)] < 0.03 and error[("ald", 1600)] < 0.03
    assert error[("ald", 48)] > 0.1  # 3 steps per level are far too few

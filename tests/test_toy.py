"""Toy distributions (exact scores of every perturbed density), the toy score network and the toy
commands at the smallest size (the samplers on the toy distributions: test_sampling.py)."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from helpers import uniform_points

from ncsn.data.toy import POSTER_MIXTURE, Circle, GaussianMixture
from ncsn.models.mlp import NoiseConditionalMLP

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small tensors: threads only add overhead


def _autograd_score(log_density, x, sigma):
    x = x.clone().double().requires_grad_(True)
    return torch.autograd.grad(log_density(x, sigma).sum(), x)[0]


@pytest.mark.parametrize("sigma", [0.0, 0.3, 2.0, 10.0])
def test_mixture_score_is_the_gradient_of_its_log_density(sigma):
    x = uniform_points()
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
    x = uniform_points()
    assert torch.allclose(POSTER_MIXTURE.log_density(x, sigma), reference.log_prob(x), rtol=1e-10, atol=1e-10)


def test_mixture_takes_one_sigma_per_sample():
    x = uniform_points(6)
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
        [uniform_points(300, scale=4.0), torch.tensor([[1e-7, -2e-7], [0.0, 0.03], [2.0, 0.0]], dtype=torch.float64)]
    )
    assert torch.allclose(circle.score(x, sigma), _autograd_score(circle.log_density, x, sigma), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("sigma", [0.1, 0.5, 2.0])
def test_circle_log_density_is_the_convolution(sigma):
    # p_sigma(x) = mean over the circle's angle of N(x; r u(theta), sigma^2 I), by quadrature.
    circle = Circle(radius=2.0)
    x = uniform_points(50, scale=4.0)
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


def _tiny(tiny_config, section):
    return json.dumps(tiny_config["toy"][section])


def test_score_field_command(tiny_config, tmp_path):
    import pandas as pd

    from ncsn.cli import main
    from ncsn.toy.score_field import GRID

    assert (
        main(
            [
                "toy-score-field",
                "--settings",
                _tiny(tiny_config, "score_field"),
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
    table = pd.read_csv(tmp_path / "errors.csv")
    settings = json.loads(_tiny(tiny_config, "score_field"))
    edges, n_levels = settings["band_edges"], settings["noise"]["n_levels"]
    # one row per level and distance band; every point of the grid lies in one band (the box's corners
    # are 4 sqrt(2) - 2 < 4 from the circle)
    assert len(table) == n_levels * (len(edges) - 1)
    assert (table.groupby("level")["n_points"].sum() == GRID**2).all()
    # the exact density p_sigma: at sigma << radius, the mass within d of the circle is that of |N(0, sigma^2)| < d
    smallest = table[table["level"] == n_levels - 1]
    sigma = smallest["sigma"].iloc[0]
    within = [math.erf(d / (sigma * math.sqrt(2))) for d in edges]
    assert smallest["density_mass"].tolist() == pytest.approx([b - a for a, b in zip(within, within[1:])], abs=0.01)
    for level_sigma, mass in table.groupby("sigma")["density_mass"]:
        if settings["radius"] + 4 * level_sigma <= settings["extent"]:  # the box holds all but 1e-4 of p_sigma
            assert mass.sum() == pytest.approx(1.0, abs=1e-3), level_sigma
    # the summary reports the table's nearest and farthest band at the smallest sigma
    near, far = smallest.iloc[0], smallest.iloc[-1]
    for band, row in (("near", near), ("far", far)):
        assert summary["smallest_sigma"][band]["relative_error"] == pytest.approx(row["relative_error"])
        assert summary["smallest_sigma"][band]["density_mass"] == pytest.approx(row["density_mass"])
    assert summary["smallest_sigma"]["far_over_near_relative_error"] == pytest.approx(
        far["relative_error"] / near["relative_error"]
    )
    assert summary["claim_holds"] == bool(far["relative_error"] > near["relative_error"])
    assert (tmp_path / "field.png").stat().st_size > 0 and (tmp_path / "errors.png").stat().st_size > 0


def test_mixing_command(tiny_config, tmp_path):
    import pandas as pd

    from ncsn.cli import main

    assert (
        main(
            [
                "toy-mixing",
                "--settings",
                _tiny(tiny_config, "mixing"),
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
    settings = json.loads(_tiny(tiny_config, "mixing"))
    by_seed = pd.read_csv(tmp_path / "mode_weights.csv")
    assert sorted(zip(by_seed["seed_index"], by_seed["score"], by_seed["sampler"])) == [
        (seed, score, sampler)
        for seed in range(settings["n_seeds"])
        for score in ("analytic", "learned")
        for sampler in ("annealed", "langevin")
    ]
    # a weight is the share of the n_samples chains on the (5, 5) side: a whole number of chains
    chains = by_seed["weight"] * settings["n_samples"]
    assert (chains - chains.round()).abs().max() < 1e-4 and (by_seed["nonfinite"] == 0).all()
    # the summary is the by-seed table's mean, spread and range against the true weight 0.2
    table = pd.read_csv(tmp_path / "mode_weights_summary.csv").set_index(["score", "sampler"]).sort_index()
    grouped = by_seed.groupby(["score", "sampler"])["weight"]
    pd.testing.assert_series_equal(table["mean"], grouped.mean(), check_names=False)
    pd.testing.assert_series_equal(table["std"], grouped.std(), check_names=False)
    pd.testing.assert_series_equal(table["min"], grouped.min(), check_names=False)
    pd.testing.assert_series_equal(table["max"], grouped.max(), check_names=False)
    assert (table["n_seeds"] == settings["n_seeds"]).all()
    pd.testing.assert_series_equal(table["abs_error"], (grouped.mean() - 0.2).abs(), check_names=False)


def test_objective_cost_command(tiny_config, tmp_path):
    import pandas as pd

    from ncsn.cli import main

    assert (
        main(
            [
                "toy-objective-cost",
                "--settings",
                _tiny(tiny_config, "objective_cost"),
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
    settings = json.loads(_tiny(tiny_config, "objective_cost"))
    table = pd.read_csv(tmp_path / "cost.csv")
    assert sorted(zip(table["objective"], table["dim"])) == [
        (objective, dim) for objective in ("dsm", "ism", "ssm") for dim in sorted(settings["dims"])
    ]
    # each objective trains the same MLP, D -> width -> D: 2 D width + width + D parameters
    width = settings["width"]
    assert (table["params"] == 2 * table["dim"] * width + width + table["dim"]).all()
    assert (table["timed_steps"] == settings["steps"]).all() and (table["seconds_per_step"] > 0).all()
    # the summary reports the table's times at the largest D
    summary = json.loads((tmp_path / "cost.json").read_text())
    at_largest = table[table["dim"] == max(settings["dims"])].set_index("objective")["seconds_per_step"]
    assert summary["seconds_per_step_at_largest_dim"] == pytest.approx(at_largest.to_dict())
    assert summary["ism_over_dsm_time_at_largest_dim"] == pytest.approx(at_largest["ism"] / at_largest["dsm"])
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


def test_band_edges_must_start_at_zero(tiny_config, tmp_path, capsys):
    from ncsn.cli import main

    settings = json.loads(_tiny(tiny_config, "score_field"))
    settings["band_edges"] = [0.5, 1.0, 2.0]
    assert (
        main(["toy-score-field", "--settings", json.dumps(settings), "--device", "cpu", "--out-dir", str(tmp_path)])
        == 1
    )
    assert "band_edges must start at 0" in capsys.readouterr().err


def test_samplers_command_at_the_quick_settings(quick):
    """Exact score: CAS recovers the weight with few evaluations, ALD only at its full 1600 (the numbers
    the report quotes for the quick and laptop profiles, from the same settings)."""
    from ncsn.noise import geometric_sigmas
    from ncsn.toy.samplers import weights_table

    toy = copy.deepcopy(quick["toy"])
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

"""The compute parts of the commands, called with plain values and checked in memory: no file is read
or written (the command tests in test_toy.py go through the CLI and its files)."""

from __future__ import annotations

import math

import matplotlib.pyplot as pyplot
import pandas as pd
import pytest
import torch
import yaml

from ncsn.toy import mixing, objective_cost, score_field
from ncsn.toy import samplers as toy_samplers

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small tensors: threads only add overhead

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny_toy(repo) -> dict:
    """The `toy` section of config/tiny.yaml (the sizes the command tests use)."""
    return yaml.safe_load((repo / "config/tiny.yaml").read_text())["toy"]


@pytest.fixture(scope="module")
def score_field_result(tiny_toy):
    return score_field.compute(tiny_toy["score_field"], seed=0, device=CPU, profile="test")


def test_score_field_compute_gives_the_table_fields_and_summary(tiny_toy, score_field_result):
    settings = tiny_toy["score_field"]
    result = score_field_result
    n_levels = settings["noise"]["n_levels"]
    assert len(result.sigmas) == n_levels and len(result.losses) == settings["train"]["steps"]
    assert all(math.isfinite(loss) for loss in result.losses)
    # every level has every band (the tiny grid reaches all of them), in order
    edges = settings["band_edges"]
    assert len(result.table) == n_levels * (len(edges) - 1)
    assert result.table.groupby("level")["band_lo"].apply(list).tolist() == [edges[:-1]] * n_levels
    # the derived columns are what their names say
    table = result.table
    assert (table["relative_error"] - table["mean_abs_error"] / table["mean_true_norm"]).abs().max() < 1e-9
    assert (table["sigma_scaled_error"] - table["sigma"] * table["mean_abs_error"]).abs().max() < 1e-9
    assert table["mean_cosine"].between(-1, 1).all()
    # at the middle level (sigma ~ 0.45) p_sigma lies inside the box: its mass over the bands is ~1
    middle = table[table["level"] == 1]
    assert middle["density_mass"].sum() == pytest.approx(1.0, abs=0.02)
    # the fields shown: largest, middle, smallest level, arrows grid and density image
    assert [f["sigma"] for f in result.fields] == pytest.approx(result.sigmas.tolist())
    for field in result.fields:
        assert field["true"].shape == field["learned"].shape == (score_field.ARROWS**2, 2)
        assert field["density"].shape == (120, 120)
    summary = result.summary
    assert summary["profile"] == "test" and summary["seed"] == 0
    near, far = summary["smallest_sigma"]["near"], summary["smallest_sigma"]["far"]
    assert (near["band_lo"], far["band_hi"]) == (edges[0], edges[-1])
    assert summary["claim_holds"] == (far["relative_error"] > near["relative_error"])


def test_score_field_plots_are_figures_not_files(score_field_result, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    errors = score_field.plot_errors(score_field_result.table)
    fields = score_field.plot_fields(score_field_result.fields, radius=2.0, extent=4.0)
    assert len(errors.axes) == 2 and len(fields.axes) >= 6  # 2 x 3 panels and their colour bars
    assert list(tmp_path.iterdir()) == []
    for fig in (errors, fields):
        pyplot.close(fig)


def test_score_field_compute_rejects_bad_bands(tiny_toy):
    settings = dict(tiny_toy["score_field"], band_edges=[0.5, 1.0, 2.0])
    with pytest.raises(Exception, match="band_edges must start at 0"):
        score_field.compute(settings, seed=0, device=CPU)


def test_mixing_compute_annealed_langevin_recovers_the_weight_and_langevin_does_not(tiny_toy):
    """Exact score, the quick profile's sampler settings (16 levels x 100 steps; 1000 plain steps of 0.1),
    one seed of 2000 chains: annealed Langevin gives the (5, 5) mode a weight within 0.05 of 0.2, plain
    Langevin stays over 0.15 away (it keeps the uniform start's split, ~0.5)."""
    settings = {
        **tiny_toy["mixing"],
        "n_samples": 2000,
        "n_seeds": 1,
        "langevin": {"step_size": 0.1, "n_steps": 1000},
        "annealed": {"sigma_max": 20.0, "sigma_min": 0.1, "n_levels": 16, "step_lr": 1e-3, "n_steps_each": 100},
    }
    lines = []
    result = mixing.compute(settings, seed=0, device=CPU, log=lines.append)
    weight = result.first_weights
    assert abs(weight[("analytic", "annealed")] - 0.2) < 0.05, weight
    assert abs(weight[("analytic", "langevin")] - 0.2) > 0.15, weight
    assert len(lines) == 1 and "analytic/annealed=" in lines[0]
    # the returned pieces agree with each other
    assert len(result.by_seed) == 4 and (result.table["n_seeds"] == 1).all()
    assert {k: mixing.mode_weight(x) for k, x in result.first_samples.items()} == weight
    assert all(x.shape == (2000, 2) for x in result.first_samples.values())
    assert len(result.first_losses) == settings["train"]["steps"]
    summary = mixing.summary(result, settings, profile="test", seed=0)
    assert summary["weights"]["analytic/annealed"]["abs_error"] == pytest.approx(
        abs(weight[("analytic", "annealed")] - 0.2)
    )
    assert summary["sigmas"] == pytest.approx(result.sigmas.tolist()) and len(summary["sigmas"]) == 16


def test_mixing_compute_is_reproducible_and_seed_dependent(tiny_toy):
    settings = tiny_toy["mixing"]
    first = mixing.compute(settings, seed=3, device=CPU)
    again = mixing.compute(settings, seed=3, device=CPU)
    other = mixing.compute(settings, seed=4, device=CPU)
    pd.testing.assert_frame_equal(first.by_seed, again.by_seed)
    assert first.first_losses == again.first_losses
    assert first.first_losses != other.first_losses
    assert sorted(zip(first.table["score"], first.table["sampler"])) == [
        ("analytic", "annealed"),
        ("analytic", "langevin"),
        ("learned", "annealed"),
        ("learned", "langevin"),
    ]
    assert (first.table["n_seeds"] == settings["n_seeds"]).all()


def test_objective_cost_measure_in_process(tiny_toy):
    settings = tiny_toy["objective_cost"]
    sizes = {k: settings[k] for k in ("width", "depth", "batch_size", "steps", "max_seconds", "n_projections")}
    rows = [objective_cost.measure(o, 8, **sizes, device="cpu", seed=0) for o in objective_cost.OBJECTIVES]
    assert {r["objective"] for r in rows} == set(objective_cost.OBJECTIVES)
    # one MLP R^8 -> R^8 of the given width and depth for every objective
    width, depth = settings["width"], settings["depth"]
    expected_params = (8 * width + width) + (depth - 1) * (width * width + width) + (width * 8 + 8)
    assert all(r["params"] == expected_params for r in rows)
    assert all(1 <= r["timed_steps"] <= settings["steps"] and r["seconds_per_step"] > 0 for r in rows)


def test_objective_cost_compute_and_summary(tiny_toy):
    settings = tiny_toy["objective_cost"]
    lines = []
    table = objective_cost.compute(settings, threads=1, device="cpu", seed=0, log=lines.append)
    dims = sorted(settings["dims"])
    assert len(table) == len(lines) == len(dims) * len(objective_cost.OBJECTIVES)
    assert sorted(set(zip(table["objective"], table["dim"]))) == sorted(
        (o, d) for o in objective_cost.OBJECTIVES for d in dims
    )
    params = table.groupby("dim")["params"].agg(["min", "max"])
    assert (params["min"] == params["max"]).all() and params["min"].is_monotonic_increasing
    summary = objective_cost.summary(table, settings, device="cpu", threads=1, profile="test")
    assert summary["largest_dim"] == dims[-1]
    assert set(summary["seconds_per_step_at_largest_dim"]) == set(objective_cost.OBJECTIVES)
    at_largest = table[table["dim"] == dims[-1]].set_index("objective")["seconds_per_step"]
    assert summary["ism_over_dsm_time_at_largest_dim"] == pytest.approx(at_largest["ism"] / at_largest["dsm"])
    figure = objective_cost.plot(table)
    assert [ax.get_ylabel() for ax in figure.axes] == ["seconds per training step", "peak memory (MiB)"]
    pyplot.close(figure)


def test_objective_cost_slope_of_a_power_law():
    table = pd.DataFrame(
        {"objective": "ism", "dim": [2, 4, 8, 16], "seconds_per_step": [3 * d**2 for d in (2, 4, 8, 16)]}
    )
    assert objective_cost.slope(table, "ism", "seconds_per_step", 4) == pytest.approx(2.0)
    assert objective_cost.slope(table, "ism", "seconds_per_step", 16) is None


def test_toy_samplers_first_nfe_within_tolerance():
    table = pd.DataFrame(
        {
            "method": ["ald"] * 4 + ["cas"] * 4,
            "nfe": [16, 16, 48, 48] * 2,
            "abs_error": [0.2, 0.1, 0.02, 0.03, 0.01, 0.02, 0.0, 0.01],
        }
    )
    settings = {"methods": {"ald": {}, "cas": {}, "pc": {}}}
    assert toy_samplers.first_within_tolerance(table, settings) == {"ald": 48, "cas": 16, "pc": None}
    assert toy_samplers.first_within_tolerance(table, {**settings, "tolerance": 0.02})["ald"] is None

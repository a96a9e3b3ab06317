"""Figure 1's sweep cells: the full grid, or a cross through the sampler's own (epsilon, T)."""

import pytest

from ncsn.config import validate_config
from ncsn.errors import ConfigError
from ncsn.sweep_design import sweep_cells

SAMPLER = {"step_lr": 1e-5, "n_steps_each": 100}


def test_grid_is_every_pair():
    cells = sweep_cells({"step_lrs": [1e-6, 1e-5], "n_steps_each": [10, 100]}, SAMPLER)
    assert cells == [(1e-6, 10), (1e-6, 100), (1e-5, 10), (1e-5, 100)]


def test_cross_passes_through_the_sampler_once():
    sweep = {"design": "cross", "step_lrs": [1e-6, 1e-5, 1e-4, 1e-3], "n_steps_each": [10, 30, 100, 200]}
    cells = sweep_cells(sweep, SAMPLER)
    assert len(cells) == 7 and cells.count((1e-5, 100)) == 1
    assert {eps for eps, t in cells if t == 100} == {1e-6, 1e-5, 1e-4, 1e-3}
    assert {t for eps, t in cells if eps == 1e-5} == {10, 30, 100, 200}
    # the cost the design is for: score evaluations per level, summed over cells
    assert (
        sum(t for _, t in cells) == 640 and sum(t for _, t in sweep_cells({**sweep, "design": "grid"}, SAMPLER)) == 1360
    )


def test_cross_off_the_sampler_still_brackets_it():
    cells = sweep_cells({"design": "cross", "step_lrs": [1e-4], "n_steps_each": [10]}, SAMPLER)
    assert cells == [(1e-4, 100), (1e-5, 10)]


def test_unknown_design_is_refused_by_the_schema(repo):
    from ncsn.config import load_yaml

    config = load_yaml(repo / "config/laptop.yaml")
    config["sweep"]["design"] = "diagonal"
    with pytest.raises(ConfigError, match="sweep.design"):
        validate_config(config)

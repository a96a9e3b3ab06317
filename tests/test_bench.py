"""The benchmark command: one measured step and the table it prints."""

from __future__ import annotations

from ncsn.bench import format_table, measure, sizes_of
from ncsn.config import load_config


def test_sizes_cover_every_distinct_variant_size(repo):
    config = load_config(repo / "config/quick.yaml", repo / "workflow/schemas/config.schema.yaml")
    sizes = sizes_of(config)
    assert {(s["arch"], s["width"], s["dropout"]) for s in sizes} == \
        {(v["arch"], v["width"], v["dropout"]) for v in config["variants"].values()}


def test_measure_reports_throughput_and_memory():
    noise = {"sigma_max": 1.0, "sigma_min": 0.01, "n_levels": 10}
    row = measure("unet", 4, 0.0, 8, noise, "cpu", steps=2, seconds=10.0)
    assert row["steps"] == 2 and row["images_per_s"] > 0 and row["params"] == 9_569 and row["peak_mib"] >= 0
    table = format_table([dict(row, profile="quick")])
    assert "images/s" in table.splitlines()[0] and "9,569" in table

"""The benchmark command: one measured step and the table it prints."""

from __future__ import annotations

from ncsn.bench import format_table, measure_alone, size_rows, sizes_of
from ncsn.config import load_config


def test_sizes_cover_every_distinct_variant_size(repo):
    config = load_config(repo / "config/quick.yaml", repo / "workflow/schemas/config.schema.yaml")
    sizes = sizes_of(config)
    assert {(s["arch"], s["width"], s["dropout"]) for s in sizes} == \
        {(v["arch"], v["width"], v["dropout"]) for v in config["variants"].values()}


def test_measure_reports_throughput_and_memory():
    size = {"profile": "quick", "arch": "unet", "width": 4, "dropout": 0.0,
            "noise": {"sigma_max": 1.0, "sigma_min": 0.01, "n_levels": 10}}
    memory, speed = measure_alone(size, "cpu", train_batch=8, sample_batch=8, rounds=2)
    assert memory["params"] == 9_569 and memory["peak_mib"] >= 0 and memory["gflop_per_image"] > 0
    assert speed["ours"]["train_images_per_s"] > 0 and speed["ours"]["sample_evals_per_s"] > 0
    table = format_table(size_rows(size, speed, {"ours": memory}, peak_gflops=100.0, common={"device": "cpu"}))
    assert "images/s" in table.splitlines()[0] and "9,569" in table

"""The benchmark command: one measured step and the table it prints."""

from __future__ import annotations

from ncsn.config import load_config
from ncsn.perf.bench import format_table, measure_alone, size_rows, sizes_of


def test_sizes_cover_every_distinct_variant_size(repo):
    config = load_config(repo / "config/quick.yaml", repo / "workflow/schemas/config.schema.yaml")
    sizes = sizes_of(config)
    assert {(s["arch"], s["width"], s["dropout"]) for s in sizes} == {
        (v["arch"], v["width"], v["dropout"]) for v in config["variants"].values()
    }


def test_measure_reports_throughput_and_memory():
    size = {
        "profile": "quick",
        "arch": "unet",
        "width": 4,
        "dropout": 0.0,
        "noise": {"sigma_max": 1.0, "sigma_min": 0.01, "n_levels": 10},
    }
    memory, speed = measure_alone(size, "cpu", train_batch=8, sample_batch=8, rounds=2)
    assert memory["params"] == 9_569 and memory["peak_mib"] >= 0 and memory["gflop_per_image"] > 0
    assert speed["ours"]["train_images_per_s"] > 0 and speed["ours"]["sample_evals_per_s"] > 0
    table = format_table(size_rows(size, speed, {"ours": memory}, peak_gflops=100.0, common={"device": "cpu"}))
    assert "images/s" in table.splitlines()[0] and "9,569" in table


def test_official_network_is_timed_in_turn_with_ours(tmp_path):
    import textwrap

    from ncsn.perf.bench import measure_speed

    (tmp_path / "models").mkdir()
    (tmp_path / "models/cond_refinenet_dilated.py").write_text(
        textwrap.dedent("""
        import torch
        class CondRefineNetDilated(torch.nn.Module):  # a stand-in with the official constructor and call
            def __init__(self, config):
                super().__init__()
                self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)
            def forward(self, x, y):
                return self.conv(x)
    """)
    )
    size = {
        "profile": "cli",
        "arch": "refinenet",
        "width": 8,
        "dropout": 0.0,
        "noise": {"sigma_max": 1.0, "sigma_min": 0.01, "n_levels": 10},
    }
    speed = measure_speed(["ours", "official"], size, "cpu", tmp_path, train_batch=4, sample_batch=4, rounds=3)
    ours = speed["ours"]
    for what in ("train", "sample"):
        assert 0 < ours[f"{what}_vs_official_min"] <= ours[f"{what}_vs_official_max"]
    assert "train_vs_official_min" not in speed["official"] and speed["official"]["train_images_per_s"] > 0
    rows = size_rows(
        size,
        speed,
        {n: {"params": 1, "gflop_per_image": 1.0, "peak_mib": 1.0} for n in speed},
        peak_gflops=100.0,
        common={"device": "cpu"},
    )
    assert ours["train_vs_official_min"] <= rows[0]["train_vs_official"] <= ours["train_vs_official_max"]

"""The benchmark command: one measured step and the table it prints."""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

from ncsn.models.forms import plain_forms
from ncsn.models.registry import build_model
from ncsn.noise import geometric_sigmas
from ncsn.perf import side_by_side
from ncsn.perf.bench import (
    DEFAULT_NOISE,
    format_table,
    in_fresh_process,
    measure_alone,
    measure_memory,
    ours_calls,
    size_rows,
    sizes_of,
)

UNET4 = {
    "profile": "quick",
    "arch": "unet",
    "width": 4,
    "dropout": 0.0,
    "noise": {"sigma_max": 1.0, "sigma_min": 0.01, "n_levels": 10},
}


def test_sizes_cover_every_distinct_variant_size(quick):
    sizes = sizes_of(quick)
    assert {(s["arch"], s["width"], s["dropout"]) for s in sizes} == {
        (v["arch"], v["width"], v["dropout"]) for v in quick["variants"].values()
    }


def _hooked_flops_per_image(model: nn.Module, sigmas: torch.Tensor) -> float:
    """2 x multiply-adds of every convolution and linear layer of one forward pass, counted by hooks on
    PyTorch's forms of the layers (a native kernel computes a convolution without calling its module)."""
    total = 0

    def count(module, inputs, out):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1]
            total += 2 * out.numel() * module.in_channels // module.groups * kernel
        elif isinstance(module, nn.Linear):
            total += 2 * out.numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    with torch.inference_mode(), plain_forms():
        model(torch.rand(2, 1, 28, 28), sigmas[:2])
    for hook in hooks:
        hook.remove()
    return total / 2


def test_measure_reports_throughput_and_memory():
    # each measurement in a fresh process, as the command takes it (a process's peak resident set only grows)
    memory, speed = in_fresh_process(
        1, measure_alone, names=["ours"], size=UNET4, device="cpu", train_batch=8, sample_batch=8, rounds=2
    )
    bigger = in_fresh_process(
        1, measure_memory, name="ours", size=UNET4, device="cpu", official=None, train_batch=8, sample_batch=1024
    )
    sigmas = geometric_sigmas(1.0, 0.01, 10)
    assert memory["params"] == bigger["params"] == 9_569
    assert memory["gflop_per_image"] == pytest.approx(
        _hooked_flops_per_image(build_model("unet", sigmas=sigmas, width=4), sigmas) / 1e9
    )
    # the 1016 more images evaluated at once hold at least their inputs and their scores more (4 bytes a pixel)
    assert bigger["peak_mib"] - memory["peak_mib"] >= 2 * 1016 * 28 * 28 * 4 / 2**20, (memory, bigger)
    assert memory["peak_mib"] < 1024  # MiB, not KiB or bytes: a width-4 U-Net on 8 images
    # a training step (forward, backward, Adam, EMA) costs more per image than an evaluation
    ours = speed["ours"]
    assert 0 < ours["train_images_per_s"] < ours["sample_evals_per_s"]
    rows = size_rows(UNET4, speed, {"ours": memory}, peak_gflops=100.0, common={"device": "cpu"})
    train_gflops = 3 * memory["gflop_per_image"] * ours["train_images_per_s"]  # a step counts 3 forward passes
    sample_gflops = memory["gflop_per_image"] * ours["sample_evals_per_s"]
    header, rule, row = format_table(rows).splitlines()
    assert header.split()[:6] == ["profile", "arch", "width", "dropout", "network", "params"]
    assert row.split() == [
        "quick",
        "unet",
        "4",
        "0",
        "ours",
        "9,569",
        f"{memory['peak_mib']:.0f}",
        f"{memory['gflop_per_image']:.3f}",
        f"{ours['train_images_per_s']:.1f}",
        f"{train_gflops:.1f}",
        f"{100 * train_gflops / 100.0:.0f}",  # % of the 100 GFLOP/s peak
        "-",  # no plain twin timed
        "-",  # no official network timed
        f"{ours['sample_evals_per_s']:.1f}",
        f"{sample_gflops:.1f}",
        f"{100 * sample_gflops / 100.0:.0f}",
        "-",
        "-",  # no traced twin timed
        "-",
    ]


def test_official_network_is_timed_in_turn_with_ours(tmp_path):
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
        # the stand-in is one 1-channel convolution: in every round far faster than a whole RefineNet
        assert 0 < ours[f"{what}_vs_official_min"] <= ours[f"{what}_vs_official_max"] < 1
    assert "train_vs_official_min" not in speed["official"] and speed["official"]["train_images_per_s"] > 0
    rows = size_rows(
        size,
        speed,
        {n: {"params": 1, "gflop_per_image": 1.0, "peak_mib": 1.0} for n in speed},
        peak_gflops=100.0,
        common={"device": "cpu"},
    )
    # the table's ratio of medians lies within the single rounds' range (up to the rounding of two divisions)
    low, high = ours["train_vs_official_min"], ours["train_vs_official_max"]
    assert low * (1 - 1e-12) <= rows[0]["train_vs_official"] <= high * (1 + 1e-12)


def test_bf16_and_compile_competitors_wrap_our_network():
    from ncsn.perf.bench import competitors, memory_key, wrapped_score_fn

    assert competitors(UNET4, None, compile_ours=True, bf16=True) == [
        "ours",
        "ours+plain",
        "ours+trace",
        "ours+compile",
        "ours+bf16",
        "ours+compile+bf16",
    ]
    assert competitors(UNET4, None, compile_ours=False, bf16=True, plain=False, trace=False) == ["ours", "ours+bf16"]
    assert [memory_key(n) for n in ("ours+compile", "ours+compile+bf16", "ours+bf16", "ours+plain", "ours+trace")] == [
        "ours",
        "ours+bf16",
        "ours+bf16",
        "ours",
        "ours",
    ]
    torch.manual_seed(0)
    sigmas = geometric_sigmas(1.0, 0.01, 10)
    model = build_model("unet", sigmas=sigmas, width=4).eval()
    x, sigma = torch.rand(4, 1, 28, 28), sigmas[[0, 3, 6, 9]]
    assert wrapped_score_fn("ours", model, torch.device("cpu")) is None  # timed as the module itself
    with torch.inference_mode():
        exact = model(x, sigma)
        bf16 = wrapped_score_fn("ours+bf16", model, torch.device("cpu"))(x, sigma)
    # evaluated in bf16 (8 bits of mantissa: not the float32 scores), handed back in float32
    assert bf16.dtype == torch.float32 and not torch.equal(bf16, exact)
    assert (bf16 - exact).norm() <= 0.05 * exact.norm()


def test_bench_csv_keeps_the_sizes_measured_before_an_interruption(tmp_path, monkeypatch):
    import csv

    from ncsn.perf import bench

    def measured_or_killed(size, names, settings):
        if size["width"] == 8:
            raise KeyboardInterrupt  # the timeout of make gpu-check, in the middle of the second size
        speed = {n: {"train_images_per_s": 10.0, "sample_evals_per_s": 20.0} for n in names}
        return {"ours": {"params": 1, "gflop_per_image": 0.5, "peak_mib": 3.0}}, speed

    monkeypatch.setattr(bench, "measure_size", measured_or_killed)
    monkeypatch.setattr(bench, "in_fresh_process", lambda threads, function, **kw: {"conv_peak_gflops": 100.0})
    settings = dict(device="cpu", threads=1, official=None, compile=False, bf16=False, rounds=1)
    settings.update(train_batch=2, sample_batch=2)
    path = tmp_path / "bench.csv"
    with pytest.raises(KeyboardInterrupt):
        bench.compute([UNET4, dict(UNET4, width=8)], settings, measured=lambda rows: bench.write_csv(rows, path))
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["width"], r["network"], r["train_images_per_s"]) for r in rows] == [
        ("4", "ours", "10.0"),
        ("4", "ours+plain", "10.0"),
        ("4", "ours+trace", "10.0"),
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["bench.csv"]  # no temporary file left behind


def test_our_network_is_timed_in_turn_with_its_plain_twin():
    """ours+plain computes PyTorch's forms of the native layers (ncsn.models.forms): timed round by round
    with ours, in the same process; ours's row carries the speed ratio and its range over the rounds."""
    from ncsn.perf.bench import measure_speed, plain_score_fn

    torch.manual_seed(0)
    sigmas = geometric_sigmas(1.0, 0.01, 10)
    model = build_model("unet", sigmas=sigmas, width=8).eval()
    x, sigma = torch.rand(4, 1, 28, 28), sigmas[[0, 3, 6, 9]]
    with torch.inference_mode():
        fast, plain = model(x, sigma), plain_score_fn(model)(x, sigma)
    assert not torch.equal(fast, plain)  # two computations ...
    assert (fast - plain).norm() <= 1e-5 * plain.norm()  # ... of the same scores (float32 rounding)

    speed = measure_speed(["ours", "ours+plain"], UNET4, "cpu", None, train_batch=4, sample_batch=4, rounds=3)
    ours = speed["ours"]
    for what in ("train", "sample"):
        assert 0 < ours[f"{what}_vs_plain_min"] <= ours[f"{what}_vs_plain_max"]
    assert "sample_vs_plain_min" not in speed["ours+plain"]
    memory = {"ours": {"params": 1, "gflop_per_image": 1.0, "peak_mib": 1.0}}
    rows = size_rows(UNET4, speed, memory, peak_gflops=100.0, common={"device": "cpu"})
    assert [r["network"] for r in rows] == ["ours", "ours+plain"]
    assert rows[0]["sample_vs_plain"] == pytest.approx(
        ours["sample_evals_per_s"] / speed["ours+plain"]["sample_evals_per_s"]
    )
    assert "sample_vs_plain" not in rows[1]
    table_row = format_table(rows).splitlines()[2]
    assert f"{rows[0]['sample_vs_plain']:.2f} (" in table_row  # the ratio with its range over the rounds


def test_the_traced_network_is_timed_in_turn_with_ours_and_carries_x_eager():
    """ours+trace is the CPU's sampling path: its row has the sampling speed over ours's (eager) with the
    range over the rounds; ours's row has no such ratio."""
    from ncsn.perf.bench import measure_speed

    speed = measure_speed(["ours", "ours+trace"], UNET4, "cpu", None, train_batch=4, sample_batch=4, rounds=3)
    traced = speed["ours+trace"]
    assert 0 < traced["sample_vs_eager_min"] <= traced["sample_vs_eager_max"]
    assert "sample_vs_eager_min" not in speed["ours"]
    memory = {"ours": {"params": 1, "gflop_per_image": 1.0, "peak_mib": 1.0}}
    rows = size_rows(UNET4, speed, memory, peak_gflops=100.0, common={"device": "cpu"})
    assert [r["network"] for r in rows] == ["ours", "ours+trace"]
    assert rows[1]["sample_vs_eager"] == pytest.approx(
        traced["sample_evals_per_s"] / speed["ours"]["sample_evals_per_s"]
    )
    assert f"{rows[1]['sample_vs_eager']:.2f} (" in format_table(rows).splitlines()[3]


def _failing_setup(**_):
    raise RuntimeError("setup failed on purpose")


def test_side_by_side_times_both_splits_of_the_same_work_and_hands_back_worker_errors():
    size = {"arch": "unet", "width": 4, "dropout": 0.0, "noise": DEFAULT_NOISE}
    result = side_by_side.measure(ours_calls, 2, 4, 4, 2, size=size, device="cpu")
    for what in ("train", "sample"):
        assert result[f"one_{what}"] > 0 and result[f"side_{what}"] > 0
        assert 0 < result[f"{what}_ratio_min"] <= result[f"{what}_ratio_max"]
    line = side_by_side.describe(size, 2, result)
    assert line.startswith("unet width 4: one job x 2 threads -> 2 jobs x 1 thread: training images/s")
    with pytest.raises(RuntimeError, match="setup failed on purpose"):
        side_by_side.measure(_failing_setup, 2, 4, 4, 1)

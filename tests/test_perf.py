"""The benchmark's pieces: loading the official network from a checkout by path, FLOP counts, the
speed ratios it reports; and the allocator setting that keeps freed memory."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from ncsn.errors import NcsnError
from ncsn.perf.bench import format_table, size_rows, write_csv
from ncsn.perf.flops import forward_flops_per_image
from ncsn.perf.official import LevelIndexed, build_official

SIGMAS = torch.tensor([1.0, 0.5, 0.25])


def test_official_checkout_is_loaded_from_its_path(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models/cond_refinenet_dilated.py").write_text(
        textwrap.dedent("""
        import torch
        class CondRefineNetDilated(torch.nn.Module):
            def __init__(self, config):
                super().__init__()
                self.ngf, self.levels = config.model.ngf, config.model.num_classes
            def forward(self, x, y):
                return y.float()[:, None, None, None] + 0 * x
    """)
    )
    net = build_official(tmp_path, width=16, n_levels=3)
    assert (net.ngf, net.levels) == (16, 3)
    labels = LevelIndexed(net, SIGMAS)(torch.zeros(3, 1, 2, 2), SIGMAS[[2, 0, 1]])
    assert labels[:, 0, 0, 0].tolist() == [2, 0, 1]


def test_missing_official_checkout_is_a_user_error(tmp_path):
    with pytest.raises(NcsnError, match="point it at a checkout of ermongroup/ncsn"):
        build_official(tmp_path, width=16, n_levels=3)


def test_forward_flops_count_the_convolutions():
    class Conv(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1, bias=False)

        def forward(self, x, sigma):
            return self.conv(x)

    assert forward_flops_per_image(Conv(), SIGMAS) == 2 * 4 * 9 * 28 * 28


@pytest.mark.skipif(not torch.backends.nnpack.is_available(), reason="this PyTorch build has no NNPACK")
def test_nnpack_convolutions_count_as_the_convolutions_they_compute():
    from ncsn.models.convolution import Conv3x3

    class Wide(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = Conv3x3(128, 64, bias=False)

        def forward(self, x, sigma):
            return self.conv(x.expand(-1, 128, -1, -1))

    model = Wide()
    assert model.conv.takes_nnpack(torch.zeros(2, 128, 28, 28))  # the counted pass takes NNPACK
    assert forward_flops_per_image(model, SIGMAS) == 2 * 64 * 128 * 9 * 28 * 28


def test_rows_carry_ratios_to_the_official_network():
    size = {"profile": "cli", "arch": "refinenet", "width": 16, "dropout": 0.0}
    speed = {
        "ours": {"train_images_per_s": 30.0, "sample_evals_per_s": 90.0},
        "official": {"train_images_per_s": 20.0, "sample_evals_per_s": 45.0},
    }
    memory = {name: {"params": 10, "gflop_per_image": 0.5, "peak_mib": 1.0} for name in speed}
    rows = size_rows(size, speed, memory, peak_gflops=100.0, common={"device": "cpu"})
    ours = rows[0]
    assert ours["train_vs_official"] == pytest.approx(1.5) and ours["sample_vs_official"] == pytest.approx(2.0)
    assert ours["train_gflops"] == pytest.approx(45.0) and ours["train_pct_peak"] == pytest.approx(45.0)
    assert "train_vs_official" not in rows[1]
    assert "1.50" in format_table(rows) and "2.00" in format_table(rows)
    ours.update(train_vs_official_min=1.25, train_vs_official_max=1.625)
    assert "1.50 (1.25-1.62)" in format_table(rows)


def test_ratio_range_is_taken_round_by_round():
    from ncsn.perf.bench import _round_ratio_range

    # medians 2.0 s vs 3.0 s give 1.5; single rounds give 4/2 = 2.0 and 3/3 = 1.0
    ratios = _round_ratio_range("train_vs_official", ours=[1.0, 2.0, 3.0], baseline=[2.0, 3.0, 3.0])
    assert ratios == {"train_vs_official_min": pytest.approx(1.0), "train_vs_official_max": pytest.approx(2.0)}


def test_report_shows_the_benchmark_csv_with_its_ratios(tmp_path):
    from ncsn.report.provenance import throughput

    size = {"profile": "quick", "arch": "refinenet", "width": 8, "dropout": 0.0}
    speed = {
        "ours": {
            "train_images_per_s": 30.0,
            "sample_evals_per_s": 90.0,
            "train_vs_official_min": 1.25,
            "train_vs_official_max": 1.75,
        },
        "official": {"train_images_per_s": 20.0, "sample_evals_per_s": 60.0},
    }
    memory = {name: {"params": 10, "gflop_per_image": 0.5, "peak_mib": 1.0} for name in speed}
    write_csv(
        size_rows(size, speed, memory, peak_gflops=100.0, common={"device": "cpu", "threads": 2}),
        tmp_path / "throughput.csv",
    )
    table = throughput(tmp_path / "throughput.csv")
    assert table["network"].tolist() == ["ours", "official"]
    assert table["train x official"].iloc[0] == pytest.approx(1.5) and pd.isna(table["train x official"].iloc[1])
    assert table["train x official, lowest round"].iloc[0] == pytest.approx(1.25)
    assert table["sample % of conv peak"].iloc[0] == pytest.approx(45.0)
    assert throughput(tmp_path / "missing.csv") is None


REPEATED_STEPS = """
import ctypes, ctypes.util, resource
from ncsn.allocator import keep_freed_memory
tuned = keep_freed_memory()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
SIZES = [25 * 2**20] * 4 + [50 * 2**20] * 4  # MiB-scale activations, some above glibc's largest mmap threshold
def step():  # like a training step: blocks written, then all freed at the end
    blocks = [libc.malloc(size) for size in SIZES]
    for block, size in zip(blocks, SIZES):
        ctypes.memset(block, 1, size)
    for block in reversed(blocks):
        libc.free(block)
step()
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    step()
print(int(tuned), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


def _page_faults_of_repeated_steps(tuning: str) -> tuple[bool, int]:
    env = dict(os.environ, NCSN_MALLOC_TUNING=tuning)
    out = subprocess.run(
        [sys.executable, "-c", REPEATED_STEPS], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0] == "1", int(out[1])


def test_freed_memory_is_kept_for_the_next_step():
    tuned, faults_tuned = _page_faults_of_repeated_steps("1")
    if not tuned:
        pytest.skip("no glibc mallopt on this platform")
    untuned, faults_default = _page_faults_of_repeated_steps("0")
    assert not untuned
    pages = 4 * (4 * 25 + 4 * 50) * 2**20 // 4096
    assert faults_default > pages / 2  # glibc's default hands the blocks back and every step faults them in
    assert faults_tuned < pages / 100  # kept: reused without a fault


HUGE_PAGES = """
import ctypes, ctypes.util
from ncsn.allocator import ask_for_huge_pages, huge_pages_asked, keep_freed_memory
ask_for_huge_pages()  # restarts this very script once, as `python -m ncsn` restarts itself
keep_freed_memory()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
size = 64 * 2**20
ctypes.memset(libc.malloc(size), 1, size)
huge = [int(line.split()[1]) for line in open("/proc/self/smaps_rollup") if line.startswith("AnonHugePages:")]
print(int(huge_pages_asked()), huge[0] // 1024)
"""


def _huge_page_mib(tuning: str) -> tuple[bool, int]:
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    out = subprocess.run(
        [sys.executable, "-c", HUGE_PAGES],
        env={**env, "NCSN_MALLOC_TUNING": tuning},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[0] == "1", int(out[1])


def test_malloc_hands_out_huge_pages_after_the_restart():
    from ncsn.allocator import huge_pages_environment

    if huge_pages_environment({}) is None or not Path("/proc/self/smaps_rollup").exists():
        pytest.skip("transparent huge pages are not handed out on request here (THP mode, C library)")
    asked, huge_mib = _huge_page_mib("1")
    assert asked and huge_mib >= 32  # most of the 64 MiB block in 2 MiB pages
    asked, huge_mib = _huge_page_mib("0")
    assert not asked and huge_mib < 8


def test_the_huge_page_tunable_joins_the_users_tunables_once(monkeypatch):
    from ncsn import allocator

    monkeypatch.setattr(allocator, "_thp_mode", lambda: "madvise")
    monkeypatch.setattr(allocator, "_glibc_at_least", lambda major, minor: True)
    env = allocator.huge_pages_environment({"GLIBC_TUNABLES": "glibc.malloc.tcache_count=0", "HOME": "/h"})
    assert env == {"GLIBC_TUNABLES": "glibc.malloc.tcache_count=0:glibc.malloc.hugetlb=1", "HOME": "/h"}
    assert allocator.huge_pages_environment(env) is None  # no second restart
    assert allocator.huge_pages_environment({"NCSN_MALLOC_TUNING": "0"}) is None
    monkeypatch.setattr(allocator, "_thp_mode", lambda: "always")  # the kernel gives them unasked
    assert allocator.huge_pages_environment({}) is None

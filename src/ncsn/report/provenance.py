"""Where the numbers of a report come from: config, code version, packages, machine, seeds, cost."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

import pandas as pd
import torch

PACKAGES = ("torch", "torchvision", "torch-fidelity", "snakemake", "snakemake-executor-plugin-slurm",
            "numpy", "pandas", "seaborn", "matplotlib")


def git_revision(repo: Path = Path(__file__).parent) -> str:
    """Commit hash, with ``+dirty`` when tracked files differ from it; ``unknown`` outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def device_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"CPU: {cpu}, {torch.get_num_threads()} torch threads"
    if torch.cuda.is_available():
        text += f"; GPU: {torch.cuda.get_device_name(0)}"
    return text


def rule_costs(benchmark_dir: Path) -> pd.DataFrame:
    """One row per Snakemake ``benchmark:`` file: rule/job, wall time (s) and peak memory (MiB)."""
    rows = []
    for path in sorted(Path(benchmark_dir).rglob("*.tsv")):
        table = pd.read_csv(path, sep="\t")
        if table.empty or "s" not in table:
            continue
        rows.append({"job": str(path.relative_to(benchmark_dir).with_suffix("")),
                     "wall_s": float(table["s"].iloc[-1]),
                     "peak_rss_mib": float(table["max_rss"].iloc[-1]) if "max_rss" in table else float("nan")})
    return pd.DataFrame(rows, columns=["job", "wall_s", "peak_rss_mib"])


THROUGHPUT_COLUMNS = {  # column of `python -m ncsn bench --csv` -> column of the report
    "arch": "arch", "width": "width", "dropout": "dropout", "network": "network", "params": "params",
    "peak_mib": "peak MiB", "train_images_per_s": "train images/s", "train_pct_peak": "train % of conv peak",
    "train_vs_official": "train x official", "train_vs_official_min": "train x official, lowest round",
    "train_vs_official_max": "train x official, highest round", "sample_evals_per_s": "sample evals/s",
    "sample_pct_peak": "sample % of conv peak", "sample_vs_official": "sample x official",
    "sample_vs_official_min": "sample x official, lowest round", "sample_vs_official_max": "sample x official, highest round",
    "conv_peak_gflops": "conv peak GFLOP/s", "device": "device", "threads": "threads",
}


def throughput(table_csv: Path) -> pd.DataFrame | None:
    """The throughput rule's table (ncsn.bench) with the columns a reader compares, or None without it."""
    if not Path(table_csv).exists():
        return None
    table = pd.read_csv(table_csv)
    columns = [c for c in THROUGHPUT_COLUMNS if c in table]
    return table[columns].rename(columns=THROUGHPUT_COLUMNS)

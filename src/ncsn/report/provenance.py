"""Where the numbers of a report come from: config, code version, packages, machine, seeds, cost."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import subprocess
from pathlib import Path

import pandas as pd
import torch

PACKAGES = (
    "torch",
    "torchvision",
    "torch-fidelity",
    "snakemake",
    "snakemake-executor-plugin-slurm",
    "numpy",
    "pandas",
    "seaborn",
    "matplotlib",
)


def git_revision(repo: Path = Path(__file__).parent) -> str:
    """Commit hash, with ``+dirty`` when tracked files differ from it; ``unknown`` outside git. The
    published reports under reports/ are tracked, and regenerating one changes it: they do not count."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        top = git("rev-parse", "--show-toplevel")
        dirty = bool(git("-C", top, "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)reports"))
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
        rows.append(
            {
                "job": str(path.relative_to(benchmark_dir).with_suffix("")),
                "wall_s": float(table["s"].iloc[-1]),
                "peak_rss_mib": float(table["max_rss"].iloc[-1]) if "max_rss" in table else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=["job", "wall_s", "peak_rss_mib"])


def stage_costs(jobs: pd.DataFrame) -> pd.DataFrame:
    """Wall time per stage (the first folder of a benchmark file: train, sample, evaluate, ...): jobs, total
    and largest single job, and the share of the whole run; the last row is the total."""
    if jobs.empty:
        return pd.DataFrame(columns=["stage", "jobs", "wall_min", "largest_job_min", "share"])
    stage = jobs["job"].str.split("/").str[0]
    grouped = jobs.assign(stage=stage).groupby("stage")["wall_s"].agg(["count", "sum", "max"]).reset_index()
    total = grouped["sum"].sum()
    table = pd.DataFrame(
        {
            "stage": grouped["stage"],
            "jobs": grouped["count"],
            "wall_min": grouped["sum"] / 60,
            "largest_job_min": grouped["max"] / 60,
            "share": grouped["sum"] / total,
        }
    )
    table = table.sort_values("wall_min", ascending=False)
    total_row = pd.DataFrame(
        [
            {
                "stage": "all jobs",
                "jobs": int(grouped["count"].sum()),
                "wall_min": total / 60,
                "largest_job_min": grouped["max"].max() / 60,
                "share": 1.0,
            }
        ]
    )
    return pd.concat([table, total_row], ignore_index=True)


def training_seconds(metrics_files: dict[str, Path]) -> dict[str, float]:
    """Training time of each variant (name -> its metrics.csv) summed over every segment of a resumed run
    (metrics.csv keeps each epoch's time across resumes, where Snakemake's benchmark file holds the last
    segment only)."""
    out = {}
    for name, metrics in metrics_files.items():
        table = pd.read_csv(metrics)
        if "seconds" in table and len(table):
            out[name] = float(table["seconds"].sum())
    return out


def with_resumed_training(jobs: pd.DataFrame, training: dict[str, float]) -> pd.DataFrame:
    """`rule_costs` rows with each train job's wall time raised to its training time summed over every
    segment (`training`: job -> seconds, from `training_seconds`), where the benchmark file, which holds
    the last segment only, records less."""
    jobs = jobs.copy()
    summed = jobs["job"].map(training)
    jobs["wall_s"] = jobs["wall_s"].where(summed.isna() | (jobs["wall_s"] >= summed), summed)
    return jobs


def config_hash(config: dict) -> str:
    """Short hash of the run's config (keys sorted), to tell two reports' configs apart at a glance."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


THROUGHPUT_COLUMNS = {  # column of `python -m ncsn bench --csv` -> column of the report
    "arch": "arch",
    "width": "width",
    "dropout": "dropout",
    "network": "network",
    "params": "params",
    "peak_mib": "peak MiB",
    "train_images_per_s": "train images/s",
    "train_pct_peak": "train % of conv peak",
    "train_vs_plain": "train x plain layers",
    "train_vs_plain_min": "train x plain layers, lowest round",
    "train_vs_plain_max": "train x plain layers, highest round",
    "train_vs_official": "train x official",
    "train_vs_official_min": "train x official, lowest round",
    "train_vs_official_max": "train x official, highest round",
    "sample_evals_per_s": "sample evals/s",
    "sample_pct_peak": "sample % of conv peak",
    "sample_vs_plain": "sample x plain layers",
    "sample_vs_plain_min": "sample x plain layers, lowest round",
    "sample_vs_plain_max": "sample x plain layers, highest round",
    "sample_vs_eager": "sample x eager (traced network)",
    "sample_vs_eager_min": "sample x eager, lowest round",
    "sample_vs_eager_max": "sample x eager, highest round",
    "sample_vs_official": "sample x official",
    "sample_vs_official_min": "sample x official, lowest round",
    "sample_vs_official_max": "sample x official, highest round",
    "conv_peak_gflops": "conv peak GFLOP/s",
    "device": "device",
    "threads": "threads",
}


def throughput(table_csv: Path) -> pd.DataFrame | None:
    """The throughput rule's table (ncsn.bench) with the columns a reader compares, or None without it."""
    if not Path(table_csv).exists():
        return None
    table = pd.read_csv(table_csv)
    # one value for the whole table: said in the caption, not in every row
    columns = [c for c in THROUGHPUT_COLUMNS if c in table and c not in SHARED_COLUMNS]
    return table[columns].rename(columns=THROUGHPUT_COLUMNS)


SHARED_COLUMNS = ("device", "threads", "conv_peak_gflops")


def throughput_setting(table_csv: Path) -> str:
    """'cpu, 2 threads, dense 3x3 conv peak 137 GFLOP/s': what every row of the throughput table shares."""
    table = pd.read_csv(table_csv)
    first = table.iloc[0]
    parts = [str(first["device"])] if "device" in table else []
    if "threads" in table:
        parts.append(f"{int(first['threads'])} threads")
    if "conv_peak_gflops" in table:
        parts.append(f"dense 3x3 conv peak {first['conv_peak_gflops']:.0f} GFLOP/s")
    return ", ".join(parts)

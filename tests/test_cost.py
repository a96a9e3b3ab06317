"""The study's cost on paper: its job list is the workflow's (same counts per rule as a Snakemake dry
run), its FLOPs are the networks' own, and the SLURM profile asks for at least the estimated runtimes."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from ncsn.config import load_config
from ncsn.perf import cost


@pytest.mark.parametrize("name", ["config", "laptop"])
def test_job_counts_match_a_snakemake_dry_run(repo, snakemake_cmd, tmp_path, name):
    config = load_config(repo / f"config/{name}.yaml")
    proc = subprocess.run(
        snakemake_cmd
        + [
            "-n",
            "--snakefile",
            str(repo / "Snakefile"),
            "--configfile",
            str(repo / f"config/{name}.yaml"),
            "--directory",
            str(tmp_path),
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    planned = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", proc.stdout, re.M)}
    counted = cost.cost_table(config).set_index("rule")["jobs"]
    for rule, jobs in counted.items():
        if rule != "all":
            assert planned[rule] == jobs, (rule, planned.get(rule), jobs)


def test_training_flops_are_three_forward_passes_per_image_seen(repo):
    config = load_config(repo / "config/config.yaml")
    rows = {r["job"]: r for r in cost.jobs(config) if r["rule"] == "train"}
    v = config["variants"]["mnist_unet"]
    steps = v["epochs"] * -(-60000 // v["batch_size"])
    expected = 3 * cost.forward_flops("unet", v["width"], v["dropout"], 10) * v["batch_size"] * steps
    assert rows["mnist_unet"]["flops"] == pytest.approx(expected)
    assert cost.forward_flops("refinenet", 96, 0.0, 10) > 2 * cost.forward_flops("refinenet", 64, 0.0, 10)


def test_slurm_profile_covers_the_estimated_runtimes(repo):
    profile = yaml.safe_load((repo / "profiles/slurm/config.yaml").read_text())["set-resources"]
    needed = cost.slurm_runtime_minutes(load_config(repo / "config/config.yaml"))
    for rule, minutes in needed.items():
        assert profile[rule]["runtime"] >= minutes, (rule, profile[rule]["runtime"], minutes)
        assert profile[rule]["gpu"] == 1

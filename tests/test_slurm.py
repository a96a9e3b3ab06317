"""The workflow on a real SLURM cluster (single node on localhost, tests/slurm/cluster.sh).

Needs root and Debian's slurm-wlm + munge (`make test` installs them); skipped otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

pytestmark = pytest.mark.slow

# Jobs that must never reach sbatch (the Snakefile's localrules).
LOCAL_RULES = {
    "all",
    "data",
    "report",
    "train_checkpoint",
    "inception_weights",
    "table1",
    "figure1",
    "figure2",
    "samplers",
}


@pytest.fixture(scope="module")
def slurm_env(repo):
    if os.geteuid() != 0 or not shutil.which("slurmctld") or not shutil.which("munged"):
        pytest.skip("needs root and Debian's slurm-wlm + munge (`make test` installs them as root)")
    cluster = str(repo / "tests/slurm/cluster.sh")
    subprocess.run([cluster, "start"], check=True, timeout=180)
    yield dict(os.environ, NCSN_SLURM_PARTITION="gpu", NCSN_SLURM_ACCOUNT="")
    subprocess.run([cluster, "stop"], check=False, timeout=60)  # leave no daemons behind the test run


@pytest.fixture(scope="module")
def test_profile(repo, tmp_path_factory) -> Path:
    """profiles/slurm as shipped, with per-rule resources shrunk to fit the 2-core test node."""
    profile = yaml.safe_load((repo / "profiles/slurm/config.yaml").read_text())
    for resources in [profile["default-resources"], *profile.get("set-resources", {}).values()]:
        resources["cpus_per_task"] = 1  # two jobs at a time on the 2-core test node
        resources["mem_mb"] = min(int(resources.get("mem_mb", 1000)), 3000)
        resources["runtime"] = min(int(resources.get("runtime", 30)), 30)
    # One thread per job as well: two 2-thread PyTorch jobs on two cores slow each other down ~50x.
    profile["set-threads"] = {rule: 1 for rule in profile.get("set-resources", {})}
    profile["slurm-init-seconds-before-status-checks"] = 1
    directory = tmp_path_factory.mktemp("slurm-profile")
    (directory / "config.yaml").write_text(yaml.safe_dump(profile))
    return directory


def _job_stats(log_text: str) -> dict[str, int]:
    """The 'Job stats' table Snakemake prints before running: rule -> number of jobs."""
    block = log_text.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    stats = {}
    for line in block.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            stats[parts[0]] = int(parts[1])
    return stats


def _scheduler_view(job_ids: list[str], env: dict) -> dict[str, tuple[str, str, str]]:
    """job id -> (state, comment, GPU request) as squeue reports them."""
    out = subprocess.run(
        ["squeue", "-h", "-t", "all", "-j", ",".join(job_ids), "-O", "JobID:12,State:14,Comment:100,tres-per-job:30"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    return {fields[0]: tuple((fields + ["", "", ""])[1:4]) for fields in map(str.split, out.splitlines())}


def test_tiny_study_through_sbatch_matches_local_run(
    repo, snakemake_cmd, slurm_env, test_profile, tiny_study, tmp_path
):
    proc = subprocess.run(
        snakemake_cmd
        + [
            "--profile",
            str(test_profile),
            "--snakefile",
            str(repo / "Snakefile"),
            "--configfile",
            str(repo / "config/tiny.yaml"),
            "--directory",
            str(tmp_path),
        ],
        cwd=repo,
        env=slurm_env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]

    remote = {rule: n for rule, n in _job_stats(log).items() if rule not in LOCAL_RULES}
    assert remote, "the tiny study has no job for the cluster"
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", log)
    assert len(submitted) == sum(remote.values())
    # Ask the scheduler itself (finished jobs stay visible for MinJobAge, tests/slurm/cluster.sh): every job
    # ran to completion, under the rule Snakemake says, with the GPU the profile requests.
    jobs = _scheduler_view(submitted, slurm_env)
    assert set(jobs) == set(submitted), f"squeue has forgotten jobs {sorted(set(submitted) - set(jobs))}"
    gpu_rules = {
        rule
        for rule, res in yaml.safe_load((repo / "profiles/slurm/config.yaml").read_text())["set-resources"].items()
        if res.get("gpu")
    }
    assert all(state == "COMPLETED" for state, _, _ in jobs.values()), jobs
    per_rule = {}
    for _, comment, gres in jobs.values():
        # The plugin's job comment: rule_<name>_wildcards_<values>, or rule_<name> for a rule without wildcards.
        rule = re.fullmatch(r"rule_(.+?)(?:_wildcards_.*)?", comment).group(1)
        per_rule[rule] = per_rule.get(rule, 0) + 1
        if rule in gpu_rules:
            assert "gpu:1" in gres, f"{comment} did not request a GPU ({gres})"
    assert per_rule == remote

    # Same seeds, same CPU: the cluster run computes exactly what the local run computed.
    local, cluster = tiny_study / "results/train", tmp_path / "results/train"
    checkpoints = sorted(p.relative_to(local) for p in local.rglob("checkpoints/epoch_*.pt"))
    assert checkpoints
    for relative in checkpoints:
        a, b = torch.load(local / relative), torch.load(cluster / relative)
        for key in ("model", "ema"):
            for name, tensor in a[key].items():
                assert torch.equal(tensor, b[key][name]), f"{relative}: {key}.{name} differs"
    samples = sorted(p.relative_to(tiny_study) for p in (tiny_study / "results/samples").rglob("*.pt"))
    assert samples
    for relative in samples:
        a, b = torch.load(tiny_study / relative), torch.load(tmp_path / relative)
        assert torch.equal(a["images"], b["images"]), f"{relative}: samples differ"
    assert (tmp_path / "reports/tiny/index.html").is_file()


def test_cancelled_training_job_is_retried_and_resumes(repo, snakemake_cmd, slurm_env, test_profile, tmp_path):
    config = yaml.safe_load((repo / "config/tiny.yaml").read_text())
    name = "mnist_refinenet"
    # Long enough (~130 steps) that the job is still running when it is cancelled.
    variant = dict(config["variants"][name], width=8, train_subset=2048, batch_size=32, epochs=2, checkpoint_epochs=[2])
    config["variants"][name] = variant  # the other variants stay: evaluation and sweep refer to them
    config["training"]["save_every_steps"] = 5
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    target = f"results/train/{name}/seed_0/metrics.csv"

    def snakemake(workdir: Path, *extra: str) -> list[str]:
        return snakemake_cmd + [
            "--snakefile",
            str(repo / "Snakefile"),
            "--configfile",
            str(configfile),
            "--directory",
            str(workdir),
            *extra,
            target,
        ]

    # The uninterrupted reference, run locally.
    reference = tmp_path / "local"
    local = subprocess.run(
        snakemake(reference, "--cores", "2", "--max-threads", "1"),
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert local.returncode == 0, local.stderr[-5000:]

    cluster = tmp_path / "cluster"
    runner = subprocess.Popen(
        snakemake(cluster, "--profile", str(test_profile)),
        cwd=repo,
        env=slurm_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        last = cluster / f"results/train/{name}/seed_0/state/last.pt"
        deadline = time.time() + 600
        while not last.exists() and time.time() < deadline and runner.poll() is None:
            time.sleep(0.5)
        assert last.exists(), "training never wrote a checkpoint"
        running = subprocess.run(
            ["squeue", "-h", "-t", "RUNNING", "-o", "%i"], capture_output=True, text=True, env=slurm_env
        ).stdout.split()
        assert running, "no SLURM job is running"
        subprocess.run(["scancel", running[0]], check=True, env=slurm_env)
        output, _ = runner.communicate(timeout=900)
    finally:
        if runner.poll() is None:
            runner.send_signal(signal.SIGINT)
            runner.wait(timeout=60)
    assert runner.returncode == 0, output[-5000:]
    assert len(re.findall(r"submitted with SLURM jobid", output)) >= 2, "the cancelled job was not resubmitted"
    train_log = (cluster / f"results/logs/train/{name}_seed_0.log").read_text()
    assert "resuming" in train_log, train_log[-2000:]

    ours = torch.load(cluster / f"results/train/{name}/seed_0/state/epoch_2.pt")
    theirs = torch.load(reference / f"results/train/{name}/seed_0/state/epoch_2.pt")
    for key in ("model", "ema"):
        for param, tensor in theirs[key].items():
            assert torch.equal(tensor, ours[key][param]), f"{key}.{param} differs after resume"

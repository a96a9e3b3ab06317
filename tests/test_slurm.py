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
LOCAL_RULES = {"all", "data", "report", "train_checkpoint"}


@pytest.fixture(scope="module")
def slurm_env(repo):
    if os.geteuid() != 0 or not shutil.which("slurmctld") or not shutil.which("munged"):
        pytest.skip("needs root and Debian's slurm-wlm + munge (`make test` installs them as root)")
    subprocess.run([str(repo / "tests/slurm/cluster.sh"), "start"], check=True, timeout=180)
    return dict(os.environ, NCSN_SLURM_PARTITION="gpu", NCSN_SLURM_ACCOUNT="")


@pytest.fixture(scope="module")
def test_profile(repo, tmp_path_factory) -> Path:
    """profiles/slurm as shipped, with per-rule resources shrunk to fit the 2-core test node."""
    profile = yaml.safe_load((repo / "profiles/slurm/config.yaml").read_text())
    cpus = os.cpu_count() or 1
    for resources in [profile["default-resources"], *profile.get("set-resources", {}).values()]:
        resources["cpus_per_task"] = min(int(resources.get("cpus_per_task", 1)), cpus)
        resources["mem_mb"] = min(int(resources.get("mem_mb", 1000)), 3000)
        resources["runtime"] = min(int(resources.get("runtime", 30)), 30)
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


def test_tiny_study_through_sbatch_matches_local_run(repo, snakemake_cmd, slurm_env, test_profile, tiny_study,
                                                      tmp_path):
    proc = subprocess.run(
        snakemake_cmd + ["--profile", str(test_profile), "--snakefile", str(repo / "Snakefile"),
                         "--configfile", str(repo / "config/tiny.yaml"), "--directory", str(tmp_path)],
        cwd=repo, env=slurm_env, capture_output=True, text=True, timeout=1500)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]

    remote = {rule: n for rule, n in _job_stats(log).items() if rule not in LOCAL_RULES}
    assert remote, "the tiny study has no job for the cluster"
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", log)
    assert len(submitted) == sum(remote.values())
    for rule in remote:
        slurm_logs = list((tmp_path / ".snakemake/slurm_logs" / f"rule_{rule}").rglob("*.log"))
        assert len(slurm_logs) == remote[rule], f"rule {rule}: {len(slurm_logs)} SLURM logs"

    # Same seeds, same CPU: the cluster run computes exactly what the local run computed.
    local, cluster = tiny_study / "results/train", tmp_path / "results/train"
    checkpoints = sorted(p.relative_to(local) for p in local.rglob("checkpoints/epoch_*.pt"))
    assert checkpoints
    for relative in checkpoints:
        a, b = torch.load(local / relative), torch.load(cluster / relative)
        for key in ("model", "ema"):
            for name, tensor in a[key].items():
                assert torch.equal(tensor, b[key][name]), f"{relative}: {key}.{name} differs"
    assert (tmp_path / "reports/index.html").is_file()


def test_cancelled_training_job_is_retried_and_resumes(repo, snakemake_cmd, slurm_env, test_profile, tmp_path):
    config = yaml.safe_load((repo / "config/tiny.yaml").read_text())
    name, variant = next(iter(config["variants"].items()))
    variant.update(epochs=2, checkpoint_epochs=[2])
    config["variants"] = {name: variant}
    config["training"]["save_every_steps"] = 5
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    target = f"results/train/{name}/metrics.csv"

    def snakemake(workdir: Path, *extra: str, **kwargs):
        return snakemake_cmd + ["--snakefile", str(repo / "Snakefile"), "--configfile", str(configfile),
                                "--directory", str(workdir), *extra, target]

    # The uninterrupted reference, run locally.
    reference = tmp_path / "local"
    subprocess.run(snakemake(reference, "--cores", "2"), cwd=repo, check=True, capture_output=True, timeout=900)

    cluster = tmp_path / "cluster"
    runner = subprocess.Popen(snakemake(cluster, "--profile", str(test_profile)), cwd=repo, env=slurm_env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        last = cluster / f"results/train/{name}/state/last.pt"
        deadline = time.time() + 600
        while not last.exists() and time.time() < deadline and runner.poll() is None:
            time.sleep(0.5)
        assert last.exists(), "training never wrote a checkpoint"
        job_ids = subprocess.run(["squeue", "-h", "-o", "%i", "-n", ""], capture_output=True, text=True).stdout
        running = subprocess.run(["squeue", "-h", "-o", "%i %j"], capture_output=True, text=True,
                                 env=slurm_env).stdout.split()
        assert running, f"no SLURM job is running ({job_ids!r})"
        subprocess.run(["scancel", running[0]], check=True, env=slurm_env)
        output, _ = runner.communicate(timeout=900)
    finally:
        if runner.poll() is None:
            runner.send_signal(signal.SIGINT)
            runner.wait(timeout=60)
    assert runner.returncode == 0, output[-5000:]
    assert len(re.findall(r"submitted with SLURM jobid", output)) >= 2, "the cancelled job was not resubmitted"
    train_log = (cluster / f"results/logs/train/{name}.log").read_text()
    assert "resuming" in train_log, train_log[-2000:]

    ours = torch.load(cluster / f"results/train/{name}/state/epoch_2.pt")
    theirs = torch.load(reference / f"results/train/{name}/state/epoch_2.pt")
    for key in ("model", "ema"):
        for param, tensor in theirs[key].items():
            assert torch.equal(tensor, ours[key][param]), f"{key}.{param} differs after resume"

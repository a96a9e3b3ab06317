"""The study's cost on paper: its job list is the workflow's (same counts per rule as a Snakemake dry
run), its FLOPs are the networks' own, and the SLURM profile asks for at least the estimated runtimes."""

from __future__ import annotations

import csv
import re
import subprocess

import pytest
import yaml

from ncsn import layout
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
    config = load_config(repo / "config/config.yaml")
    needed, memory = cost.slurm_runtime_minutes(config), cost.slurm_mem_mb(config)
    assert needed.keys() == memory.keys()
    for rule, minutes in needed.items():
        assert profile[rule]["runtime"] >= minutes, (rule, profile[rule]["runtime"], minutes)
        assert profile[rule]["mem_mb"] >= memory[rule], (rule, profile[rule]["mem_mb"], memory[rule])
        assert profile[rule]["gpu"] == 1


def test_host_memory_counts_the_data_a_job_holds(repo):
    """Evaluation holds the features (float64) of its samples, of the reference and of one bootstrap
    resample; a training job the dataset, its float32 copy and four host copies of the weights."""
    config = load_config(repo / "config/config.yaml")
    rows = cost.jobs(config)
    evaluate = next(r for r in rows if r["rule"] == "evaluate")
    n, dims = config["evaluation"]["n_samples"], cost.FEATURE_DIMS[config["evaluation"]["extractor"]]
    assert evaluate["host_mb"] == pytest.approx(
        (n * 784 + 8 * dims * (2 * n + config["evaluation"]["n_reference"])) / 2**20
    )
    train = {r["job"]: r["host_mb"] for r in rows if r["rule"] == "train"}
    assert train["fashion_refinenet_big"] > train["fashion_refinenet"] > train["mnist_unet"]  # the weights grow
    assert cost.slurm_mem_mb(config)["train"] == 1000 * -(-(cost.PROCESS_HOST_MB + max(train.values())) * 2 // 1000)


@pytest.fixture(scope="module")
def full_study_plan(repo, snakemake_cmd, tmp_path_factory):
    """What `snakemake --summary` prints for config/config.yaml in an empty folder (every file pending)."""
    proc = subprocess.run(
        snakemake_cmd
        + ["--summary", "--quiet", "all", "--snakefile", str(repo / "Snakefile")]
        + ["--configfile", str(repo / "config/config.yaml"), "--directory", str(tmp_path_factory.mktemp("plan"))],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_every_costed_job_is_named_by_a_file_its_rule_writes(repo, full_study_plan):
    written_by = {
        row["output_file"]: row["rule"] for row in csv.DictReader(full_study_plan.splitlines(), delimiter="\t")
    }
    config = load_config(repo / "config/config.yaml")
    for job in cost.jobs(config):
        assert written_by.get(f"results/{job['output']}") == job["rule"], job
    assert cost.pending_jobs(config, cost.planned_outputs(full_study_plan)) == cost.jobs(config)


def test_the_plan_keeps_only_the_jobs_left_to_run(repo, full_study_plan):
    """A study with one network trained and one sample set drawn: the estimate drops exactly those jobs."""
    config = load_config(repo / "config/config.yaml")
    one_set = [j for j in cost.jobs(config) if j["rule"] == "sample_shard"][: config["sampler"]["shards"]]
    done = {"results/" + layout.training_metrics("mnist_unet", 0)} | {f"results/{j['output']}" for j in one_set}
    lines = full_study_plan.splitlines()
    plan = "\n".join(
        [lines[0]]
        + [line.replace("update pending", "no update") if line.split("\t")[0] in done else line for line in lines[1:]]
    )
    before = cost.cost_table(config).set_index("rule")["jobs"]
    after = cost.cost_table(config, cost.pending_jobs(config, cost.planned_outputs(plan))).set_index("rule")["jobs"]
    assert before["train"] - after["train"] == 1 and before["sample_shard"] - after["sample_shard"] == 4
    assert (before.drop(["train", "sample_shard", "all"]) == after.drop(["train", "sample_shard", "all"])).all()
    assert after["all"] == before["all"] - 5


def test_cost_refuses_a_plan_that_is_not_a_snakemake_summary(repo, tmp_path):
    from ncsn.errors import NcsnError

    config = load_config(repo / "config/config.yaml")
    (tmp_path / "plan.tsv").write_text("Building DAG of jobs...\nJob stats:\n")
    with pytest.raises(NcsnError, match="snakemake --summary"):
        cost.selected_jobs(config, str(tmp_path / "plan.tsv"))
    with pytest.raises(NcsnError, match="no such file"):
        cost.selected_jobs(config, str(tmp_path / "missing.tsv"))

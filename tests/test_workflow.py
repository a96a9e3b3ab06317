"""The Snakemake workflow itself, through the real CLI."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from ncsn.config import load_config
from ncsn.perf import cost


def expected_jobs(config: dict) -> dict[str, int]:
    """rule -> the number of jobs a run from an empty folder needs, from the config alone: the heavy
    rules as ncsn.perf.cost counts them, the light ones (one per dataset, checkpoint or stage) here."""
    jobs = {rule: int(n) for rule, n in cost.cost_table(config).set_index("rule")["jobs"].items() if rule != "all"}
    jobs["data"] = len(config["data"]["datasets"])
    jobs["train_checkpoint"] = sum(len(v["checkpoint_epochs"]) for v in config["variants"].values())
    if "toy" in config:
        jobs.update(dict.fromkeys(["toy_score_field", "toy_mixing", "toy_objective_cost", "toy_samplers"], 1))
    if "throughput" in config:
        jobs["throughput"] = 1
    if "evaluation" in config:
        evaluated = config["evaluation"]["variants"] + config.get("fashion", {}).get("variants", [])
        jobs["classifier"] = len({config["variants"][v]["dataset"] for v in evaluated})
        jobs["table1"] = 1
        if config["evaluation"]["extractor"] == "inception":
            jobs["inception_weights"] = 1
        if config["sampler"].get("shards", 1) > 1:
            jobs["sample"] = jobs["evaluate"]  # the local job merging each set's shards
        jobs.update(
            {
                rule: 1
                for rule, section in [("figure1", "sweep"), ("figure2", "fashion"), ("samplers", "samplers")]
                if section in config
            }
        )
    jobs["report"] = jobs["all"] = 1
    return jobs


@pytest.mark.parametrize("configfile", ["config/quick.yaml", "config/laptop.yaml", "config/config.yaml"])
def test_dry_run_succeeds(repo, snakemake_cmd, configfile, tmp_path):
    # --directory keeps the dry run independent of results/ in the working tree.
    proc = subprocess.run(
        snakemake_cmd
        + [
            "-n",
            "--snakefile",
            str(repo / "Snakefile"),
            "--configfile",
            str(repo / configfile),
            "--directory",
            str(tmp_path),
            "--quiet",
            "rules",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the job stats table: every rule with its number of jobs, then the total
    planned = {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", proc.stdout + proc.stderr, flags=re.M)}
    total = planned.pop("total")
    expected = expected_jobs(load_config(repo / configfile))
    assert planned == expected
    assert total == sum(expected.values())


def test_every_rule_has_a_log(repo, snakemake_cmd):
    proc = subprocess.run(snakemake_cmd + ["--list-rules"], cwd=repo, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rules = [line.split()[0] for line in proc.stdout.splitlines() if line.strip() and not line.startswith(" ")]
    assert "data" in rules
    text = "\n".join(p.read_text() for p in (repo / "workflow/rules").glob("*.smk"))
    for rule in rules:
        if rule == "all":
            continue
        head = f"rule {rule}:" if f"rule {rule}:" in text else f" as {rule} with:"  # `use rule ... as` too
        body = text.split(head, 1)[1].split("\nrule ", 1)[0]
        assert "log:" in body, f"rule {rule} has no log: directive"


def test_sampler_speed_switches_reach_the_sample_jobs(repo, snakemake_cmd, tmp_path):
    """sampler.compile / sampler.bf16 are off by default and, when set, become the sample command's flags."""

    def sample_commands(**sampler):
        config = yaml.safe_load((repo / "config/tiny.yaml").read_text())
        config["sampler"].update(sampler)
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
        proc = subprocess.run(
            snakemake_cmd
            + [
                "-n",
                "-p",
                "--snakefile",
                str(repo / "Snakefile"),
                "--configfile",
                str(tmp_path / "config.yaml"),
                "--directory",
                str(tmp_path),
            ],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return [line for line in proc.stdout.splitlines() if " -m ncsn sample " in line]

    default = sample_commands()
    assert default and not any("--compile" in c or "--bf16" in c for c in default)
    switched = sample_commands(compile=True, bf16=True)
    assert switched and all("--compile" in c and "--bf16" in c for c in switched)

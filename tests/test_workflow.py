"""The Snakemake workflow itself, through the real CLI."""

from __future__ import annotations

import subprocess

import pytest
import yaml


@pytest.mark.parametrize("configfile", ["config/quick.yaml", "config/laptop.yaml", "config/config.yaml"])
def test_dry_run_succeeds(repo, snakemake_cmd, configfile, tmp_path):
    # --directory keeps the dry run independent of results/ in the working tree.
    proc = subprocess.run(
        snakemake_cmd + ["-n", "--snakefile", str(repo / "Snakefile"), "--configfile", str(repo / configfile),
                         "--directory", str(tmp_path), "--quiet", "rules"],
        cwd=repo, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "data" in proc.stdout + proc.stderr


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
            snakemake_cmd + ["-n", "-p", "--snakefile", str(repo / "Snakefile"), "--configfile",
                             str(tmp_path / "config.yaml"), "--directory", str(tmp_path)],
            cwd=repo, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return [line for line in proc.stdout.splitlines() if " -m ncsn sample " in line]

    default = sample_commands()
    assert default and not any("--compile" in c or "--bf16" in c for c in default)
    switched = sample_commands(compile=True, bf16=True)
    assert switched and all("--compile" in c and "--bf16" in c for c in switched)

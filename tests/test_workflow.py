"""The Snakemake workflow itself, through the real CLI."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers import side_by_side

from ncsn import layout, plan
from ncsn.config import load_config
from ncsn.perf import cost


def expected_jobs(config: dict) -> dict[str, int]:
    """rule -> the number of jobs a run from an empty folder needs, from the config alone: the heavy
    rules as ncsn.perf.cost counts them, the light ones (one per dataset, checkpoint or stage) here."""
    jobs = {rule: int(n) for rule, n in cost.cost_table(config).set_index("rule")["jobs"].items() if rule != "all"}
    jobs["data"] = len(config["data"]["datasets"])
    jobs["train_checkpoint"] = len(plan.checkpoints(config))  # every kept epoch and step of every training run
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


def _job_stats(text: str) -> dict[str, int]:
    """rule -> jobs of the job stats table Snakemake prints (with its total)."""
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", text, flags=re.M)}


def test_dry_runs_plan_the_jobs_each_config_implies(repo, snakemake_cmd, tmp_path):
    configfiles = ["config/quick.yaml", "config/laptop.yaml", "config/config.yaml"]
    # --directory keeps each dry run independent of results/ in the working tree.
    commands = {
        configfile: snakemake_cmd
        + ["-n", "--snakefile", str(repo / "Snakefile"), "--configfile", str(repo / configfile)]
        + ["--directory", str(tmp_path / Path(configfile).stem), "--quiet", "rules"]
        for configfile in configfiles
    }
    for configfile, (code, text) in side_by_side(commands, repo).items():
        assert code == 0, text
        planned = _job_stats(text)
        total = planned.pop("total")
        expected = expected_jobs(load_config(repo / configfile))
        assert planned == expected, configfile
        assert total == sum(expected.values()), configfile


CONFIGS = ["config/tiny.yaml", "config/quick.yaml", "config/laptop.yaml", "config/config.yaml"]


def test_snakemake_lint_is_clean(repo, snakemake_cmd, tmp_path):
    """Every rule has a log and a conda env, values reach shell commands through params:, helpers live in
    common.smk: Snakemake's own linter finds nothing, for any config (it exits 1 on any finding). The four
    runs go side by side: each is mostly Snakemake starting up."""
    commands = {
        configfile: snakemake_cmd
        + ["--lint", "--configfile", configfile, "--directory", str(tmp_path / Path(configfile).stem)]
        for configfile in CONFIGS
    }
    failed = {configfile: text for configfile, (code, text) in side_by_side(commands, repo).items() if code != 0}
    assert not failed, "\n".join(f"--- {configfile}\n{text}" for configfile, text in failed.items())


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@pytest.mark.parametrize(
    "command",
    [["snakefmt", "--check", "."], ["ruff", "check", "."], ["ruff", "format", "--check", "."]],
    ids=["snakefmt", "ruff-check", "ruff-format"],
)
def test_code_is_formatted_and_lint_free(repo, command):
    """The Snakefile and rules as snakefmt writes them; Python as ruff formats it, with no ruff finding
    (settings in pyproject.toml)."""
    proc = subprocess.run([_tool(command[0]), *command[1:]], cwd=repo, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def fake_study(repo, snakemake_cmd, tmp_path_factory) -> Path:
    """Every output of the tiny profile as an empty file, with Snakemake's records up to date, so that a dry
    run shows what a changed file or config value alone makes it rerun (nothing is computed). Tests copy it."""
    workdir = tmp_path_factory.mktemp("fake-study")
    base = _study_command(repo, snakemake_cmd, workdir)
    summary = subprocess.run(base + ["--summary"], cwd=repo, capture_output=True, text=True, timeout=300)
    assert summary.returncode == 0, summary.stderr
    for line in summary.stdout.splitlines()[1:]:
        path = workdir / line.split("\t")[0]
        if "." in path.name:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        else:
            path.mkdir(parents=True, exist_ok=True)  # a directory() output
    # --forceall: every job's record (params, code, inputs), not only those of the jobs that look outdated
    touched = subprocess.run(
        base + ["--touch", "--forceall", "--cores", "1"], cwd=repo, capture_output=True, text=True, timeout=300
    )
    assert touched.returncode == 0, touched.stderr
    return workdir


def _study_command(repo, snakemake_cmd, workdir, configfile="config/tiny.yaml") -> list[str]:
    return snakemake_cmd + [
        "--snakefile",
        str(repo / "Snakefile"),
        "--configfile",
        str(configfile if Path(configfile).is_absolute() else repo / configfile),
        "--directory",
        str(workdir),
    ]


def _copy_of(fake_study: Path, tmp_path: Path) -> Path:
    """The fake study with its files' times and Snakemake's records, for a test to change."""
    return Path(shutil.copytree(fake_study, tmp_path / "study", symlinks=True))


def _planned(base, repo, rules, targets=("all",)) -> dict[str, int]:
    """rule -> jobs of a dry run for `targets` that may run only `rules`: a job is planned only when a file
    it declares itself has changed, not because a job upstream of it reruns."""
    proc = subprocess.run(
        base + ["-n", "--quiet", "rules", "--allowed-rules", "all", *rules, "--", *targets],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    planned = _job_stats(proc.stdout + proc.stderr)
    planned.pop("total", None)
    planned.pop("all", None)
    return planned


def test_a_changed_file_reruns_the_jobs_that_read_it(repo, snakemake_cmd, fake_study, tmp_path):
    """Figures read sample tensors and `evaluate` reads the dataset: both are declared inputs, so a changed
    file reruns the jobs that read it even when nothing between them reruns."""
    study = _copy_of(fake_study, tmp_path)
    base = _study_command(repo, snakemake_cmd, study)
    config = load_config(repo / "config/tiny.yaml")
    results = study / "results"
    mnist_sets = [
        str(p.relative_to(study))
        for p in results.glob("evaluation/*/seed_*/epoch_*/*/*.json")  # the poster's sampler's sets
        if config["variants"][p.parts[-5]]["dataset"] == "mnist"
    ]
    assert mnist_sets and _planned(base, repo, ["figure1", "figure2", "table1", "evaluate"]) == {}

    def change(path, at):  # new content and a later time (Snakemake also compares checksums of small files)
        path.write_bytes(b"changed")
        os.utime(path, (at, at))

    change(results / layout.sample_set("fashion_refinenet", 0, "step_3", "ema", 1e-5, 2), time.time() + 60)
    assert _planned(base, repo, ["figure1", "figure2", "table1"]) == {"figure2": 1}
    change(results / layout.dataset_tensors("mnist"), time.time() + 120)
    assert _planned(base, repo, ["evaluate"], targets=mnist_sets) == {"evaluate": len(mnist_sets)}


def test_a_config_edit_reruns_only_the_jobs_whose_output_it_changes(repo, snakemake_cmd, fake_study, tmp_path):
    """Each rule receives only the config values its command uses: a KID setting reruns the evaluations and
    what reads them, never a sample set or a training run; a new step size draws the new sets."""
    study = _copy_of(fake_study, tmp_path)
    edits = {"kid_subsets": ("evaluation", {"kid_subsets": 7}), "step_lr": ("sampler", {"step_lr": 2.0e-5})}
    commands = {}
    for name, (section, values) in edits.items():
        config = yaml.safe_load((repo / "config/tiny.yaml").read_text())
        config[section].update(values)
        edited = tmp_path / f"{name}.yaml"
        edited.write_text(yaml.safe_dump(config))
        commands[name] = _study_command(repo, snakemake_cmd, study, edited) + ["-n", "--quiet", "rules"]
    plans = {}
    for name, (code, text) in side_by_side(commands, repo).items():
        assert code == 0, text
        plans[name] = {rule: n for rule, n in _job_stats(text).items() if rule != "total"}

    images = {"train", "train_checkpoint", "sample", "sample_shard", "sample_method", "classifier", "data"}
    kid = plans["kid_subsets"]
    assert kid.get("evaluate") and kid.get("fid_reference") and kid.get("table1") and kid.get("report"), kid
    assert not images & set(kid), kid
    step = plans["step_lr"]
    assert step.get("sample") and step.get("evaluate") and step.get("table1"), step
    assert not {"train", "train_checkpoint", "classifier", "fid_reference", "data"} & set(step), step


def test_sampler_speed_switches_reach_the_sample_jobs(repo, snakemake_cmd, tmp_path):
    """sampler.compile / sampler.bf16 are off by default and, when set, become the sample command's flags."""
    commands = {}
    for name, sampler in {"default": {}, "switched": {"compile": True, "bf16": True}}.items():
        config = yaml.safe_load((repo / "config/tiny.yaml").read_text())
        config["sampler"].update(sampler)
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(config))
        commands[name] = _study_command(repo, snakemake_cmd, tmp_path / name, tmp_path / f"{name}.yaml")
        commands[name] += ["-n", "-p"]
    sample_commands = {}
    for name, (code, text) in side_by_side(commands, repo).items():
        assert code == 0, text
        sample_commands[name] = [line for line in text.splitlines() if " -m ncsn sample " in line]
    default, switched = sample_commands["default"], sample_commands["switched"]
    assert default and not any("--compile" in c or "--bf16" in c for c in default)
    assert switched and all("--compile" in c and "--bf16" in c for c in switched)

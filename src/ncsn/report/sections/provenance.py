"""Where the numbers come from: config, code version, packages, device, seeds, and each job's cost."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import yaml

from ncsn import layout, plan
from ncsn.report import provenance
from ncsn.report.html import Section


def provenance_section(results: Path, config: dict) -> Section:
    versions = provenance.package_versions()
    text = (
        f"<p>Code version <code>{html.escape(provenance.git_revision())}</code>; config hash "
        f"<code>{provenance.config_hash(config)}</code>; {html.escape(provenance.device_description())}; master "
        f"seed {config['seed']} (every random choice of every rule derives from it).</p>"
        f"<h3>Config</h3><pre>{html.escape(yaml.safe_dump(config, sort_keys=False))}</pre>"
    )
    packages = pd.DataFrame({"package": list(versions), "version": list(versions.values())})
    costs = provenance.rule_costs(results / layout.BENCHMARKS)
    trained = provenance.training_seconds(
        {
            name if len(plan.seeds(config, name)) == 1 else f"{name} seed {seed}": results
            / layout.training_metrics(name, seed)
            for name, seed in plan.runs(config)
        }
    )
    if trained:
        text += (
            "<p>Training time summed over every resumed segment: "
            + ", ".join(f"{name} {seconds / 60:.1f} min" for name, seconds in trained.items())
            + " (a train job's benchmark "
            "file holds its last segment only; the stage table counts the sum).</p>"
        )
    threads = plan.job_threads(config)
    text += (
        f"<p>This config runs each training and sampling job on {threads} thread{'s' if threads > 1 else ''} "
        "(<code>threads_per_job</code>; Snakemake runs as many side by side as the cores allow), the evaluation "
        "and throughput jobs on 2. The stage table sums each job's own wall time: for jobs that ran side by "
        "side, that is more than the time they took together.</p>"
    )
    per_job_training = provenance.training_seconds(
        {f"train/{name}_seed_{seed}": results / layout.training_metrics(name, seed) for name, seed in plan.runs(config)}
    )
    stages = provenance.stage_costs(provenance.with_resumed_training(costs, per_job_training))
    tables = [
        ("Wall time per stage (Snakemake benchmark files; minutes)", stages),
        ("Package versions", packages),
        ("Wall time and peak memory per job (Snakemake benchmark files)", costs),
    ]
    speed = provenance.throughput(results / layout.THROUGHPUT) if "throughput" in config else None
    if speed is not None:
        setting = provenance.throughput_setting(results / layout.THROUGHPUT)
        tables.append(
            (
                "Score-network throughput on this machine (rule throughput, python -m ncsn bench; "
                f"{setting}): training images/s of one DSM step, sampling score evaluations/s, peak memory, "
                "and the achieved rate as a share of a dense 3x3 convolution's (a training step counts 3 "
                "forward passes); ours+plain is the same network with PyTorch's forms of the layers that "
                "run native here (the U-Net's group norm + SiLU, its 3 x 3 convolutions when sampling and its last "
                "convolution, the reference network's "
                "normalisation + ELU and mean pooling), timed round by round with ours (x plain: ours's speed "
                "over it, lowest and highest round); ours+trace is the frozen trace that sampling runs",
                speed,
            )
        )
    return Section("Provenance", text, tables=tables)

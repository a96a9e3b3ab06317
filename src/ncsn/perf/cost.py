"""The cost of a study on paper, before it is submitted: for every heavy rule of a config, the number
of jobs, the floating-point work of each (torch.utils.flop_counter on the real networks) and the
GPU-hours at a stated share of an A100's and an H100's peak.

The job list mirrors the workflow's heavy rules (train, sample or its shards sample_shard,
sample_method, evaluate, evaluate_method, fid_reference); tests/test_cost.py checks it against the job
counts of a Snakemake dry run. What is counted: convolutions and matrix products (the counter ignores
elementwise work); a training step is 3 forward passes (backward ~ 2x forward); sampling is NFE forward
passes per image; an evaluation is one extractor pass per sample image (reference features are cached
per dataset, counted once).

Every job is named by its first output (a path of ncsn.layout), so that `--plan` can keep the jobs that
a given run would do: those whose output `snakemake --summary` plans to update (`make dry-run`).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from functools import cache
from pathlib import Path

import pandas as pd
import torch

from ncsn import layout, plan
from ncsn.config import load_config
from ncsn.errors import NcsnError
from ncsn.models.registry import build_model, count_parameters
from ncsn.noise import geometric_sigmas
from ncsn.perf.flops import forward_flops_per_image

TRAIN_IMAGES = 60000  # MNIST and Fashion-MNIST training splits
INCEPTION_FLOPS = 5.71e9  # torch-fidelity's InceptionV3 (299 x 299), one forward pass, multiply-add = 2
DOMAIN_FLOPS = 2.5e6  # the small classifier of ncsn.metrics.classifier at 28 x 28 (order of magnitude)
# Dense peaks in TFLOP/s (vendor data sheets, without sparsity): TF32 tensor cores and bf16.
PEAKS = {"A100 TF32": 156.0, "A100 bf16": 312.0, "H100 TF32": 494.7, "H100 bf16": 989.4}
UTILISATION = 0.25  # assumed share of peak for 28 x 28 conv nets at these batch sizes (small kernels)
MARGIN = 3.0  # SLURM runtime = estimate on an A100 at TF32 x MARGIN + 15 min (start-up, data, I/O)
# Host memory (SLURM mem_mb): a job's own data in host RAM (the `host_mb` of its row) on top of a PyTorch
# process with a CUDA context (interpreter, torch, the CUDA, cuDNN and cuBLAS libraries; an assumption:
# the CPU-only process is ~0.5 GB, the CUDA libraries and context add 1-2.5 GB), x HOST_MARGIN.
PROCESS_HOST_MB = 3000
HOST_MARGIN = 2.0
IMAGE_BYTES = 28 * 28  # one uint8 image; float32 is 4x
TEST_IMAGES = 10000
FEATURE_DIMS = {"inception": 2048, "domain": 128}  # FID / KID features per image, held as float64


@cache
def _network(arch: str, width: int, dropout: float, n_levels: int) -> tuple[torch.nn.Module, torch.Tensor]:
    sigmas = geometric_sigmas(1.0, 0.01, n_levels)
    torch.manual_seed(0)
    return build_model(arch, sigmas=sigmas, width=width, dropout=dropout).eval(), sigmas


@cache
def forward_flops(arch: str, width: int, dropout: float, n_levels: int) -> float:
    return forward_flops_per_image(*_network(arch, width, dropout, n_levels))


def _size(config: dict, variant: str) -> tuple[str, int, float, int]:
    v = config["variants"][variant]
    return v["arch"], v["width"], v["dropout"], v.get("noise", config["noise"])["n_levels"]


def _net_flops(config: dict, variant: str) -> float:
    return forward_flops(*_size(config, variant))


JOB_FIELDS = ("rule", "job", "output", "flops", "host_mb")


def _job(rule: str, job: str, output: str, flops: float, host_mb: float) -> dict:
    """A row of the job list: rule, what it is, its first output (a layout path), FLOPs, host data in MiB."""
    return dict(zip(JOB_FIELDS, (rule, job, output, flops, host_mb), strict=True))


def _train_host_mb(config: dict, variant: str) -> float:
    """The dataset file, the training images as float32, and the weights, EMA and Adam moments that a
    checkpoint copies to the host."""
    data = (TRAIN_IMAGES + TEST_IMAGES) * IMAGE_BYTES + 4 * TRAIN_IMAGES * IMAGE_BYTES
    return (data + 4 * 4 * count_parameters(_network(*_size(config, variant))[0])) / 2**20


def _evaluation_host_mb(config: dict, n_images: int) -> float:
    """The images, their features and the reference's (float64), and one bootstrap resample."""
    ev = config["evaluation"]
    dims = FEATURE_DIMS[ev["extractor"]]
    return (n_images * IMAGE_BYTES + 8 * dims * (2 * ev["n_samples"] + ev["n_reference"])) / 2**20


def _sampling_host_mb(n_images: int) -> float:
    return 5 * n_images * IMAGE_BYTES / 2**20  # the set in float32 and as uint8


def _sample_nfe(config: dict, n_steps_each: int) -> int:
    return config["noise"]["n_levels"] * n_steps_each + int(config["sampler"]["denoise"])


def _train_jobs(config: dict) -> list[dict]:
    rows = []
    for name, seed in plan.runs(config):
        v = config["variants"][name]
        n_train = v["train_subset"] or TRAIN_IMAGES
        steps = v["epochs"] * math.ceil(n_train / v["batch_size"])
        flops = 3 * _net_flops(config, name) * v["batch_size"] * steps
        label = name if len(plan.seeds(config, name)) == 1 else f"{name} seed {seed}"
        rows.append(_job("train", label, layout.training_metrics(name, seed), flops, _train_host_mb(config, name)))
    return rows


def _sample_jobs(config: dict, extractor: float) -> list[dict]:
    """sample (or its shards) and evaluate, per sample set."""
    rows = []
    shards = config["sampler"].get("shards", 1)
    for the_set in sorted(plan.sample_sets(config), key=lambda s: str(tuple(s))):
        variant, seed, point, weights, eps, t = the_set
        n_samples = plan.set_size(config, config["variants"][variant]["dataset"])
        flops = _net_flops(config, variant) * _sample_nfe(config, t) * n_samples
        label = f"{variant} seed {seed} {layout.point_label(point)} {weights} eps {eps:g} T {t}"
        if shards == 1:
            rows.append(_job("sample", label, layout.sample_set(*the_set), flops, _sampling_host_mb(n_samples)))
        else:  # the merging `sample` job is light (a local rule)
            shard_mb = _sampling_host_mb(math.ceil(n_samples / shards))
            rows += [
                _job("sample_shard", f"{label} shard {k}", layout.sample_shard(*the_set, k), flops / shards, shard_mb)
                for k in range(shards)
            ]
        evaluation = layout.evaluation(*the_set)
        rows.append(_job("evaluate", label, evaluation, extractor * n_samples, _evaluation_host_mb(config, n_samples)))
    return rows


def _method_jobs(config: dict, extractor: float) -> list[dict]:
    """sample_method and evaluate_method of the samplers study."""
    rows = []
    for the_set in plan.method_sets(config):
        n_samples = plan.set_size(config, config["variants"][the_set.variant]["dataset"])
        label = f"{the_set.variant} {layout.point_label(the_set.point)} {the_set.method} NFE {the_set.nfe}"
        flops = _net_flops(config, the_set.variant) * the_set.nfe * n_samples
        rows += [
            _job("sample_method", label, layout.method_sample_set(*the_set), flops, _sampling_host_mb(n_samples)),
            _job(
                "evaluate_method",
                label,
                layout.method_evaluation(*the_set),
                extractor * n_samples,
                _evaluation_host_mb(config, n_samples),
            ),
        ]
    return rows


def _reference_jobs(config: dict, extractor: float) -> list[dict]:
    """fid_reference, once per dataset evaluated."""
    ev = config["evaluation"]
    n_images = ev["n_reference"] + ev["n_samples"]
    return [
        _job(
            "fid_reference",
            dataset,
            layout.fid_reference(dataset, extractor_name),
            extractor * n_images,
            _evaluation_host_mb(config, n_images),
        )
        for dataset, extractor_name in plan.fid_references(config)
    ]


def jobs(config: dict) -> list[dict]:
    """One row per heavy job: rule, what it is, its first output (under the results folder), its FLOPs and
    the MiB of data it holds in host memory."""
    rows = _train_jobs(config)
    if "evaluation" not in config:
        return rows
    extractor = INCEPTION_FLOPS if config["evaluation"]["extractor"] == "inception" else DOMAIN_FLOPS
    return rows + _sample_jobs(config, extractor) + _method_jobs(config, extractor) + _reference_jobs(config, extractor)


def gpu_hours(flops: float, peak_tflops: float, utilisation: float = UTILISATION) -> float:
    return flops / (peak_tflops * 1e12 * utilisation) / 3600


def planned_outputs(summary: str) -> set[str]:
    """The files that `snakemake --summary` (tab-separated, as it prints it) plans to update."""
    rows = csv.DictReader(summary.splitlines(), delimiter="\t")
    if rows.fieldnames is None or not {"output_file", "plan"} <= set(rows.fieldnames):
        raise ValueError("not the output of `snakemake --summary`: no output_file and plan columns")
    return {row["output_file"] for row in rows if row["plan"] == "update pending"}


def pending_jobs(config: dict, planned: set[str], results: str = "results") -> list[dict]:
    """The heavy jobs whose first output (as `results/...`) is among the files a run plans to update."""
    return [job for job in jobs(config) if f"{results}/{job['output']}" in planned]


def cost_table(config: dict, selected: list[dict] | None = None) -> pd.DataFrame:
    """Per rule: jobs, PFLOP per job (largest) and in all, GPU-hours at each peak; the last row the total.
    Of the whole study, or of the `selected` jobs (e.g. pending_jobs) only."""
    frame = pd.DataFrame(jobs(config) if selected is None else selected, columns=list(JOB_FIELDS))
    grouped = frame.groupby("rule", sort=False)["flops"].agg(["count", "max", "sum"]).reset_index()
    table = pd.DataFrame(
        {
            "rule": grouped["rule"],
            "jobs": grouped["count"],
            "largest_job_pflop": grouped["max"] / 1e15,
            "total_pflop": grouped["sum"] / 1e15,
        }
    )
    for name, peak in PEAKS.items():
        table[f"gpu_h {name}"] = grouped["sum"].map(lambda f, p=peak: gpu_hours(f, p))
    total = {
        "rule": "all",
        "jobs": int(table["jobs"].sum()),
        "largest_job_pflop": table["largest_job_pflop"].max(),
        "total_pflop": table["total_pflop"].sum(),
        **{c: table[c].sum() for c in table if c.startswith("gpu_h")},
    }
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def slurm_runtime_minutes(config: dict) -> dict[str, int]:
    """Per rule: the runtime its largest job needs on an A100 at TF32 and UTILISATION, x MARGIN + 15 min."""
    frame = pd.DataFrame(jobs(config))
    largest = frame.groupby("rule")["flops"].max()
    return {rule: int(math.ceil(gpu_hours(f, PEAKS["A100 TF32"]) * 60 * MARGIN + 15)) for rule, f in largest.items()}


def slurm_mem_mb(config: dict) -> dict[str, int]:
    """Per rule: (PROCESS_HOST_MB + the largest job's host data) x HOST_MARGIN, rounded up to 1000 MB."""
    largest = pd.DataFrame(jobs(config)).groupby("rule")["host_mb"].max()
    return {rule: int(math.ceil((PROCESS_HOST_MB + mb) * HOST_MARGIN / 1000) * 1000) for rule, mb in largest.items()}


def format_table(table: pd.DataFrame) -> str:
    return table.to_string(index=False, float_format=lambda v: f"{v:.3g}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("configfile", help="the study's config, e.g. config/config.yaml")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (for the README)")
    parser.add_argument(
        "--plan",
        default=None,
        metavar="FILE",
        help="the output of `snakemake --summary` for this config ('-': standard input): count only the jobs "
        "that run would do (what `make dry-run` prints)",
    )


def selected_jobs(config: dict, plan: str | None) -> tuple[list[dict] | None, str]:
    """(the jobs to count, None for all; how to title them)."""
    if plan is None:
        return None, "the whole study"
    if plan != "-" and not Path(plan).is_file():
        raise NcsnError(f"--plan {plan}: no such file; write it with `snakemake --summary --configfile ... > {plan}`.")
    summary = sys.stdin.read() if plan == "-" else Path(plan).read_text()
    try:
        selected = pending_jobs(config, planned_outputs(summary))
    except ValueError as err:
        raise NcsnError(f"--plan {plan}: {err}; pass what `snakemake --summary` prints for this config.") from err
    return selected, f"the {len(selected)} of {len(jobs(config))} heavy jobs that this run would do"


def run(args: argparse.Namespace) -> int:
    config = load_config(args.configfile)
    selected, what = selected_jobs(config, args.plan)
    if selected == []:
        print(f"Cost of {args.configfile}: no heavy job left to run (training, sampling and evaluation are done).")
        return 0
    table = cost_table(config, selected)
    print(
        f"Cost of {args.configfile}, {what}, on paper (FLOPs counted on its networks; GPU-hours at "
        f"{UTILISATION:.0%} of each dense peak; one GPU per job):"
    )
    print(table.to_markdown(index=False, floatfmt=".3g") if args.markdown else format_table(table))
    runtimes, memory = slurm_runtime_minutes(config), slurm_mem_mb(config)
    print(
        "SLURM runtime of the largest job per rule (A100 TF32 estimate x "
        f"{MARGIN:g} + 15 min): " + ", ".join(f"{r} {m} min" for r, m in sorted(runtimes.items()))
    )
    print(
        f"SLURM mem_mb of the largest job per rule ((process {PROCESS_HOST_MB} MB + its data) x {HOST_MARGIN:g}): "
        + ", ".join(f"{r} {m}" for r, m in sorted(memory.items()))
    )
    return 0

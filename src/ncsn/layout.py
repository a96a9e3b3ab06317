"""Where each file of a study lives under its results folder: the one definition that the workflow's
rules (workflow/rules/*.smk) and the report (ncsn.report) both use.

Every function returns a path relative to the results root, as a string. Called with wildcard names in
braces (``checkpoint("{variant}", "{epoch}")``) it gives the Snakemake pattern of the same files.
"""

from __future__ import annotations

import math

LOGS = "logs"
BENCHMARKS = "benchmarks"
FID_CACHE = "fid_cache"
INCEPTION_WEIGHTS = "fid/inception-v3-compat.pth"
THROUGHPUT = "throughput/throughput.csv"

# The files each toy command writes into its folder (toy/<experiment>/), by role.
TOY_FILES = {
    "score_field": {"field": "field.png", "errors": "errors.png", "table": "errors.csv", "summary": "score_field.json"},
    "mixing": {
        "samples": "samples.png",
        "summary_table": "mode_weights_summary.csv",
        "table": "mode_weights.csv",
        "summary": "mixing.json",
    },
    "samplers": {"plot": "samplers.png", "table": "samplers.csv", "summary": "samplers.json"},
    "objective_cost": {"plot": "cost.png", "table": "cost.csv", "summary": "cost.json"},
}

# The files of each experiment (experiments/<name>/), by role.
EXPERIMENT_FILES = {
    "table1": {"csv": "table1.csv", "png": "table1.png", "samples": "table1_samples.png", "json": "table1.json"},
    "figure1": {
        "csv": "figure1.csv",
        "heatmap": "figure1_fid.png",
        "grid": "figure1_samples.png",
        "json": "figure1.json",
    },
    "figure2": {"csv": "figure2.csv", "png": "figure2.png", "shares": "figure2_shares.png", "json": "figure2.json"},
    "samplers": {"csv": "samplers.csv", "png": "samplers.png", "json": "samplers.json"},
}


def eps_tag(step_lr: float | str) -> str:
    """A step size as it appears in paths: the shortest decimal that reads back as the same float
    (1e-05, 0.0001, 1.2345678e-05), so a sampled epsilon is exactly the configured one. A string (a
    wildcard such as "{eps}") is kept as it is."""
    if isinstance(step_lr, str):
        return step_lr
    value = float(step_lr)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"a step size must be a finite number > 0, got {step_lr!r}")
    return repr(value)


def dataset_tensors(dataset: str) -> str:
    return f"data/{dataset}.pt"


def dataset_summary(dataset: str) -> str:
    return f"data/{dataset}.json"


def dataset_raw(dataset: str) -> str:
    return f"data/{dataset}"


# What a train job writes into its folder (train/<variant>/, its --out-dir).
TRAINING_METRICS = "metrics.csv"
TRAINING_LAST_STATE = "state/last.pt"


# A checkpoint of a training run is a point of it: the end of an epoch or an optimizer step count.
POINT_KINDS = ("epoch", "step")
POINT_PATTERN = r"(?:epoch|step)_\d+"


def epoch_point(epoch: int | str) -> str:
    return f"epoch_{epoch}"


def step_point(step: int | str) -> str:
    return f"step_{step}"


def parse_point(point: str) -> tuple[str, int]:
    """("epoch", 5) from "epoch_5", ("step", 30000) from "step_30000"."""
    kind, _, number = point.partition("_")
    if kind not in POINT_KINDS or not number.isdigit():
        raise ValueError(f"a checkpoint point is epoch_<n> or step_<n>, got {point!r}")
    return kind, int(number)


def point_label(point: str) -> str:
    """'epoch 5' or 'step 30000', for tables and figures."""
    kind, number = parse_point(point)
    return f"{kind} {number}"


def training_point_state(point: str) -> str:
    """A point's weights as the train job keeps them (state/ is the job's working folder)."""
    return f"state/{point}.pt"


def training_epoch_state(epoch: int | str) -> str:
    return training_point_state(epoch_point(epoch))


def training_step_state(step: int | str) -> str:
    """The weights after an optimizer step count as the train job keeps them (the `checkpoint_steps` setting)."""
    return training_point_state(step_point(step))


def training_dir(variant: str, seed: int | str) -> str:
    """The folder of one training run: a variant trained from one seed."""
    return f"train/{variant}/seed_{seed}"


def training_metrics(variant: str, seed: int | str) -> str:
    return f"{training_dir(variant, seed)}/{TRAINING_METRICS}"


def stored_checkpoint(variant: str, seed: int | str, point: str) -> str:
    """The train job's own copy of a point's weights, published as `checkpoint` by train_checkpoint."""
    return f"{training_dir(variant, seed)}/{training_point_state(point)}"


def checkpoint(variant: str, seed: int | str, point: str) -> str:
    return f"{training_dir(variant, seed)}/checkpoints/{point}.pt"


def _run_stem(variant: str, seed: int | str, point: str, weights: str) -> str:
    return f"{variant}/seed_{seed}/{point}/{weights}"


def _set_stem(variant, seed, point, weights, step_lr, n_steps_each) -> str:
    return f"{_run_stem(variant, seed, point, weights)}/eps{eps_tag(step_lr)}_T{n_steps_each}"


def sample_set(variant, seed, point, weights, step_lr, n_steps_each, ext: str = "pt") -> str:
    """A set of the poster's sampler (annealed Langevin at epsilon, T): .pt images or .png grid."""
    return f"samples/{_set_stem(variant, seed, point, weights, step_lr, n_steps_each)}.{ext}"


def sample_shard(variant, seed, point, weights, step_lr, n_steps_each, shard: int | str, ext: str = "pt") -> str:
    return f"samples/{_set_stem(variant, seed, point, weights, step_lr, n_steps_each)}.shard{shard}.{ext}"


def evaluation(variant, seed, point, weights, step_lr, n_steps_each) -> str:
    return f"evaluation/{_set_stem(variant, seed, point, weights, step_lr, n_steps_each)}.json"


def _method_stem(variant, seed, point, weights, method: str, nfe: int | str) -> str:
    return f"{_run_stem(variant, seed, point, weights)}/{method}_nfe{nfe}"


def method_sample_set(variant, seed, point, weights, method, nfe, ext: str = "pt") -> str:
    """A set of the samplers experiment: `method` at a budget of `nfe` score evaluations."""
    return f"samples/samplers/{_method_stem(variant, seed, point, weights, method, nfe)}.{ext}"


def method_evaluation(variant, seed, point, weights, method, nfe) -> str:
    return f"evaluation/samplers/{_method_stem(variant, seed, point, weights, method, nfe)}.json"


def classifier_weights(dataset: str) -> str:
    return f"classifier/{dataset}.pt"


def classifier_summary(dataset: str) -> str:
    return f"classifier/{dataset}.json"


def fid_reference(dataset: str, extractor: str) -> str:
    return f"{FID_CACHE}/{dataset}-{extractor}.json"


def toy(experiment: str, role: str) -> str:
    return f"toy/{experiment}/{TOY_FILES[experiment][role]}"


def experiment(name: str, role: str) -> str:
    return f"experiments/{name}/{EXPERIMENT_FILES[name][role]}"


def experiment_files(name: str) -> list[str]:
    return [experiment(name, role) for role in EXPERIMENT_FILES[name]]


def producer(relative: str) -> str:
    """The rule that writes a file of results/ (for messages about a missing one)."""
    prefixes = {
        "data/": "data",
        "classifier/": "classifier",
        "train/": "train",
        "toy/": "toy_*",
        "samples/samplers/": "sample_method",
        "samples/": "sample",
        "evaluation/samplers/": "evaluate_method",
        "evaluation/": "evaluate",
        f"{FID_CACHE}/": "fid_reference",
        "throughput/": "throughput",
        **{f"experiments/{name}/": name for name in EXPERIMENT_FILES},
    }
    for prefix, rule in sorted(prefixes.items(), key=lambda kv: -len(kv[0])):
        if relative.startswith(prefix):
            return rule
    return "?"

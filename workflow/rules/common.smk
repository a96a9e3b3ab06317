# Helpers of the rules: where files live (ncsn.layout, shared with the report), what the config implies
# (ncsn.plan: the sets, evaluations and final outputs, shared with the cost model and the report), the
# values a rule passes to its command, and the input functions. Rule files hold rules only.
import json
import os
import shlex
import sys
from pathlib import Path

from ncsn import layout, plan
from ncsn.training.settings import merged_settings

RESULTS = "results"
# PyTorch threads of each training and sampling job (README, "Speed": two one-thread jobs side by side draw
# more images per CPU-hour than one job on two threads).
JOB_THREADS = plan.job_threads(config)
# The project's environment, for every job: with `--sdm conda` Snakemake builds it from environment.yml;
# by default jobs run in the environment of the Snakemake process itself.
CONDA_ENV = "../../environment.yml"

# Jobs call `python -m ncsn <command>`. The interpreter running Snakemake comes first on PATH, so that by
# default a job runs on the same Python and packages as the workflow (a conda env, when used, is put in
# front of it); the package's source is on PYTHONPATH for environments that do not install it.
os.environ.update(
    PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    PYTHONPATH=os.pathsep.join(
        p for p in [str(Path(workflow.main_snakefile).parent / "src"), os.environ.get("PYTHONPATH", "")] if p
    ),
)


# What a complete run leaves: the final outputs of every stage and the report's page (rule all).
ALL_TARGETS = [f"{RESULTS}/{path}" for path in plan.final_outputs(config)] + [plan.report_page(config)]


def res(path):
    """A path of ncsn.layout (relative to the results folder) as the workflow writes it."""
    return f"{RESULTS}/{path}"


def log_of(*parts):
    return f"{RESULTS}/{layout.LOGS}/{'/'.join(parts)}.log"


def benchmark_of(*parts):
    return f"{RESULTS}/{layout.BENCHMARKS}/{'/'.join(parts)}.tsv"


def settings(*keys):
    """The config section at `keys`, as JSON for a command's --settings option."""
    node = config
    for key in keys:
        node = node[key]
    return json.dumps(node, sort_keys=True)


def one_of(names):
    """A wildcard constraint matching exactly one of `names`."""
    return "|".join(sorted(names, key=len, reverse=True))


# ---- training -----------------------------------------------------------------------------------------


def dataset_of(variant):
    return config["variants"][variant]["dataset"]


def training_data(wildcards):
    return res(layout.dataset_tensors(dataset_of(wildcards.variant)))


def training_settings(wildcards):
    return json.dumps(merged_settings(config, wildcards.variant), sort_keys=True)


def trained_point(wildcards):
    """The train job's own copy of a checkpoint; only the configured epochs and steps exist."""
    kept = plan.points(config, wildcards.variant)
    if wildcards.point not in kept:
        raise ValueError(
            f"variant {wildcards.variant} keeps no checkpoint {wildcards.point}; configured: {kept} "
            f"(variants.{wildcards.variant}.checkpoint_epochs and checkpoint_steps)"
        )
    return res(layout.stored_checkpoint(wildcards.variant, wildcards.seed, wildcards.point))


# ---- sampling -----------------------------------------------------------------------------------------


def set_size_of(wildcards):
    """Images per sample set of the variant's dataset (plan.set_size)."""
    return plan.set_size(config, dataset_of(wildcards.variant))


def sampler_flags(*, seeding=True):
    """Flags of every sample command: speed switches and, for the poster's sampler, the seeding
    (sampler.seeding; "set" is the default)."""
    sampler = config["sampler"]
    flags = [flag for key, flag in [("compile", "--compile"), ("bf16", "--bf16")] if sampler.get(key, False)]
    if seeding and sampler.get("seeding", "set") == "batch":
        flags.append("--seeding batch")
    return " ".join(flags)


def denoise_flag():
    return "--denoise" if config["sampler"]["denoise"] else ""


def sample_params():
    """The params of a job of the poster's sampler, whole set or shard (the `shard` flag apart)."""
    return dict(
        ev=evaluation_values("sample_batch_size", "init"),
        n=set_size_of,
        denoise=denoise_flag(),
        flags=sampler_flags(),
        seed=config["seed"],
        device=config["device"],
    )


# The command of a job of the poster's sampler: a whole set (params.shard empty) or one shard of it.
SAMPLE_COMMAND = (
    "python -m ncsn sample --checkpoint {input:q} --weights {wildcards.weights} "
    "--step-lr {wildcards.eps} --n-steps-each {wildcards.T} --n-samples {params.n} "
    "--batch-size {params.ev[sample_batch_size]} --init {params.ev[init]} {params.denoise} "
    "{params.flags} {params.shard} --seed {params.seed} --device {params.device} --threads {threads} "
    "--out {output.samples:q} --grid {output.grid:q} > {log} 2>&1"
)


def poster_set_of(wildcards):
    return layout.sample_set(
        wildcards.variant, wildcards.seed, wildcards.point, wildcards.weights, wildcards.eps, wildcards.T
    )


# ---- evaluation ---------------------------------------------------------------------------------------


def evaluation_values(*keys):
    """The keys of the evaluation section that a rule's command reads, and no others: Snakemake reruns a job
    when its params change, so a rule that received the whole section would rerun for any edit of it."""
    ev = config["evaluation"]
    return {key: ev[key] for key in keys}


def classifier_subset_flag():
    subset = config["evaluation"]["classifier_train_subset"]
    return f"--train-subset {subset}" if subset else ""


def extractor_weights(dataset):
    if config["evaluation"]["extractor"] == "inception":
        return res(layout.INCEPTION_WEIGHTS)
    return res(layout.classifier_weights(dataset))


def reference_of(wildcards):
    return res(layout.fid_reference(dataset_of(wildcards.variant), config["evaluation"]["extractor"]))


def evaluation_inputs(samples):
    """The inputs of an evaluate job of the sample set at `samples` (a layout function of wildcards)."""
    return {
        "samples": lambda w: res(samples(w)),
        "reference": reference_of,
        "classifier": lambda w: res(layout.classifier_weights(dataset_of(w.variant))),
        "data": lambda w: res(layout.dataset_tensors(dataset_of(w.variant))),
        "weights": lambda w: extractor_weights(dataset_of(w.variant)),
    }


def poster_inputs(cells):
    """The evaluation JSONs and the sample sets of the poster's sampler at (variant, epoch, weights, eps, T)
    cells: the inputs of a table or figure that reports the numbers and shows the images."""
    return {
        "evaluations": [res(layout.evaluation(*cell)) for cell in cells],
        "samples": [res(layout.sample_set(*cell)) for cell in cells],
    }


def setting_inputs(cells):
    """The evaluation JSONs and sample sets of Figure 2's other sampler settings (plan.figure2_setting_sets),
    as inputs named apart from the poster's sampler's; none without fashion.other_settings."""
    return {f"setting_{name}": paths for name, paths in poster_inputs(cells).items()}


def training_runs_of(variants):
    """(variant, seed) of every training run of `variants`, each variant's first seed first."""
    return [(v, seed) for v in variants for seed in plan.seeds(config, v)]


def training_metrics_args(variants):
    """VARIANT:SEED=metrics.csv of every training run of `variants` (the table1 command's --metrics)."""
    return " ".join(f"{v}:{seed}={res(layout.training_metrics(v, seed))}" for v, seed in training_runs_of(variants))


# ---- samplers experiment ------------------------------------------------------------------------------


def method_evaluations():
    """The evaluation JSONs of every method and budget of the samplers experiment."""
    return [res(layout.method_evaluation(*the_set)) for the_set in plan.method_sets(config)]


def method_set_of(wildcards):
    return layout.method_sample_set(
        wildcards.variant, wildcards.seed, wildcards.point, wildcards.weights, wildcards.method, wildcards.nfe
    )


# ---- throughput ---------------------------------------------------------------------------------------


def network_sizes(wildcards):
    """The part of the config that decides the sizes, as JSON for bench --config-json: editing a
    learning rate or another section does not rerun the timing."""
    variants = {
        name: {key: entry[key] for key in ("arch", "width", "dropout", "noise") if key in entry}
        for name, entry in config["variants"].items()
    }
    return json.dumps({"profile": config["profile"], "noise": config["noise"], "variants": variants}, sort_keys=True)


def official_flag(wildcards):
    official = config["throughput"].get("official")
    return f"--official {shlex.quote(official)}" if official else ""


# ---- toys ---------------------------------------------------------------------------------------------


def toy_samplers_settings():
    """toy.samplers with the chains, seeds and levels of toy.mixing, as JSON for --settings."""
    toy = config["toy"]
    shared = {k: toy["mixing"][k] for k in ("n_samples", "n_seeds", "init_bound", "annealed")}
    return json.dumps({**toy.get("samplers", {}), **shared}, sort_keys=True)

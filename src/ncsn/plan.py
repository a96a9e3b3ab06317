"""The study plan: everything a validated config implies, computed in one place.

Which networks are trained and which of their checkpoints are kept, which sample sets are drawn (with
their sampler settings), which evaluations, experiments and toy studies run, and which files the report
reads. The workflow's rules (workflow/rules/common.smk), the cost model (ncsn.perf.cost), the report's
input check (ncsn.report.inputs) and the config's cross-key checks (ncsn.config) read it from here;
none of them derives its own list. Pure functions of the config: nothing here touches a file.

Paths are relative to the results folder, as ncsn.layout writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from ncsn import layout
from ncsn.sweep_design import sweep_cells

Config = Mapping[str, Any]

# experiment -> the config section that makes the study run it (Table 1 and its sample sets need
# `evaluation`; the others need `evaluation` as well, for the sample size and the metrics).
EXPERIMENT_SECTIONS = {"table1": "evaluation", "figure1": "sweep", "figure2": "fashion", "samplers": "samplers"}
TOYS = ("score_field", "mixing", "objective_cost", "samplers")
WEIGHTS = ("raw", "ema")  # Table 1's default (evaluation.weights)
TRAIN_IMAGES = 60000  # the training split of MNIST and of Fashion-MNIST


class SampleSet(NamedTuple):
    """A set drawn by the poster's sampler (annealed Langevin) from one checkpoint's weights: the
    checkpoint of training run (variant, seed) at `point` (layout.epoch_point / step_point)."""

    variant: str
    seed: int
    point: str
    weights: str
    step_lr: float
    n_steps_each: int


class MethodSet(NamedTuple):
    """A set drawn by one method of the samplers experiment at a budget of `nfe` score evaluations."""

    variant: str
    seed: int
    point: str
    weights: str
    method: str
    nfe: int


class Request(NamedTuple):
    """A checkpoint that a section of the config asks for (checked against what is trained)."""

    variant: str
    seed: int
    point: str
    section: str


def _unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


# ---- training ---------------------------------------------------------------------------------------


def variants(config: Config) -> list[str]:
    """Every trained network, in config order."""
    return list(config["variants"])


def seeds(config: Config, variant: str) -> list[int]:
    """The training seeds of a variant: its `seeds`, else the study's `seed`. The first one is the run
    that every experiment but Table 1 samples from."""
    entry = config["variants"].get(variant, {})  # an unknown variant: the config check names it
    return list(entry.get("seeds") or [config["seed"]])


def first_seed(config: Config, variant: str) -> int:
    return seeds(config, variant)[0]


def runs(config: Config) -> list[tuple[str, int]]:
    """(variant, seed) of every training run, in config order."""
    return [(name, seed) for name in variants(config) for seed in seeds(config, name)]


def points(config: Config, variant: str) -> list[str]:
    """The kept checkpoints of a variant's runs: its checkpoint epochs, then its checkpoint steps."""
    entry = config["variants"][variant]
    return [layout.epoch_point(e) for e in sorted(entry["checkpoint_epochs"])] + [
        layout.step_point(s) for s in sorted(entry.get("checkpoint_steps", []))
    ]


def checkpoints(config: Config) -> list[tuple[str, int, str]]:
    """(variant, seed, point) of every published checkpoint."""
    return [(name, seed, point) for name, seed in runs(config) for point in points(config, name)]


# ---- sample sets --------------------------------------------------------------------------------------


def _poster_sampler(config: Config) -> tuple[float, int]:
    return config["sampler"]["step_lr"], config["sampler"]["n_steps_each"]


def table1_sets(config: Config) -> list[SampleSet]:
    """Raw and EMA weights of every evaluated variant, every training seed of it, at every evaluated epoch,
    at the poster's sampler."""
    if "evaluation" not in config:
        return []
    ev, (eps, t) = config["evaluation"], _poster_sampler(config)
    return [
        SampleSet(v, seed, layout.epoch_point(e), w, eps, t)
        for v in ev["variants"]
        for seed in seeds(config, v)
        for e in ev["epochs"]
        for w in ev.get("weights", WEIGHTS)
    ]


def figure1_sets(config: Config) -> list[SampleSet]:
    """One checkpoint's weights over the (epsilon, T) cells of the sweep."""
    if "evaluation" not in config or "sweep" not in config:
        return []
    sw = config["sweep"]
    run = (sw["variant"], first_seed(config, sw["variant"]), layout.epoch_point(sw["epoch"]))
    return [SampleSet(*run, sw["weights"], eps, t) for eps, t in sweep_cells(sw, config["sampler"])]


def fashion_points(config: Config, variant: str | None = None) -> list[str]:
    """The points of the Fashion-MNIST study (of `variant`): its epochs, then its steps, where
    `fashion.variant_steps` gives `variant` steps of its own instead of `fashion.steps`."""
    fa = config["fashion"]
    steps = fa.get("variant_steps", {}).get(variant, fa.get("steps", []))
    return [layout.epoch_point(e) for e in fa.get("epochs", [])] + [layout.step_point(s) for s in steps]


def figure2_sets(config: Config) -> list[SampleSet]:
    """The Fashion-MNIST variants at their points, at the poster's sampler."""
    if "evaluation" not in config or "fashion" not in config:
        return []
    fa, (eps, t) = config["fashion"], _poster_sampler(config)
    return [
        SampleSet(v, first_seed(config, v), point, fa["weights"], eps, t)
        for v in fa["variants"]
        for point in fashion_points(config, v)
    ]


def steps_per_epoch(config: Config, variant: str) -> int:
    """Optimizer steps of one epoch of a variant (the training loop's batches: the last one may be short)."""
    v = config["variants"][variant]
    return -(-(v.get("train_subset") or TRAIN_IMAGES) // v["batch_size"])


def point_steps(config: Config, variant: str, point: str) -> int:
    """The optimizer steps a variant has taken at one of its points."""
    kind, number = layout.parse_point(point)
    return number if kind == "step" else number * steps_per_epoch(config, variant)


def fashion_reference(config: Config) -> str:
    """The Fashion-MNIST study's reference network: its first variant that is not the custom U-Net."""
    names = config["fashion"]["variants"]
    arch = {name: config.get("variants", {}).get(name, {}).get("arch") for name in names}
    return next((name for name in names if arch[name] != "unet"), names[0])


def figure2_setting_sets(config: Config) -> list[SampleSet]:
    """Claim 4 of Figure 2 ("other sampler parameters did not improve stability"): the reference network's
    last Fashion point (in optimizer steps) drawn at the (epsilon, T) cells of `fashion.other_settings`
    (a cross through the poster's sampler by default, or a grid; sweep_design), the poster's own cell left
    out (it is a set of figure2_sets). None without `fashion.other_settings`."""
    if "evaluation" not in config or "fashion" not in config or "other_settings" not in config["fashion"]:
        return []
    fa, poster = config["fashion"], _poster_sampler(config)
    variant = fashion_reference(config)
    if variant not in config["variants"]:
        return []  # the config check names the unknown variant (figure2_sets asks for it)
    point = max(fashion_points(config, variant), key=lambda p: point_steps(config, variant, p))
    return [
        SampleSet(variant, first_seed(config, variant), point, fa["weights"], eps, t)
        for eps, t in sweep_cells({"design": "cross", **fa["other_settings"]}, config["sampler"])
        if (eps, t) != poster
    ]


def sample_sets(config: Config) -> list[SampleSet]:
    """Every set of the poster's sampler, each once (an experiment may reuse another's set)."""
    return _unique(table1_sets(config) + figure1_sets(config) + figure2_sets(config) + figure2_setting_sets(config))


def method_sets(config: Config) -> list[MethodSet]:
    """Every method and budget of the samplers experiment."""
    if "evaluation" not in config or "samplers" not in config:
        return []
    sa = config["samplers"]
    run = (sa["variant"], first_seed(config, sa["variant"]), layout.epoch_point(sa["epoch"]), sa["weights"])
    return [MethodSet(*run, m, nfe) for m in sa["methods"] for nfe in sa["nfe"]]


# ---- evaluation ---------------------------------------------------------------------------------------


def set_size(config: Config, dataset: str) -> int:
    """Images per sample set of `dataset` (and per data-floor and calibration set): `fashion.n_samples` for
    the Fashion study's dataset when given, else `evaluation.n_samples`."""
    fashion = config.get("fashion", {})
    variants = config["variants"]
    fashion_datasets = {variants[v]["dataset"] for v in fashion.get("variants", []) if v in variants}
    if "n_samples" in fashion and dataset in fashion_datasets:
        return fashion["n_samples"]
    return config["evaluation"]["n_samples"]


def evaluated_variants(config: Config) -> list[str]:
    """Variants whose samples are scored against their dataset (Table 1's and the Fashion study's)."""
    if "evaluation" not in config:
        return []
    return _unique(config["evaluation"]["variants"] + config.get("fashion", {}).get("variants", []))


def classifier_datasets(config: Config) -> list[str]:
    """Datasets whose domain classifier the study trains."""
    return sorted({config["variants"][v]["dataset"] for v in evaluated_variants(config)})


def fid_references(config: Config) -> list[tuple[str, str]]:
    """(dataset, extractor) of every reference statistics file."""
    if "evaluation" not in config:
        return []
    return [(d, config["evaluation"]["extractor"]) for d in classifier_datasets(config)]


def experiments(config: Config) -> list[str]:
    """The experiments (tables and figures) this config runs."""
    if "evaluation" not in config:
        return []
    return [name for name, section in EXPERIMENT_SECTIONS.items() if section in config]


def toys(config: Config) -> list[str]:
    """The toy studies this config runs (all of them, with a `toy` section)."""
    return list(TOYS) if "toy" in config else []


def requested_checkpoints(config: Config) -> list[Request]:
    """Every (variant, seed, point) that a section samples from, with the section that asks for it."""
    wanted = [Request(s.variant, s.seed, s.point, "evaluation") for s in table1_sets(config)]
    wanted += [Request(s.variant, s.seed, s.point, "sweep") for s in figure1_sets(config)]
    wanted += [Request(s.variant, s.seed, s.point, "fashion") for s in figure2_sets(config)]
    wanted += [Request(s.variant, s.seed, s.point, "fashion") for s in figure2_setting_sets(config)]
    wanted += [Request(s.variant, s.seed, s.point, "samplers") for s in method_sets(config)]
    return _unique(wanted)


# ---- files ----------------------------------------------------------------------------------------------


def report_inputs(config: Config) -> list[str]:
    """Every file of the results folder that the report opens."""
    files = [layout.dataset_summary(d) for d in config["data"]["datasets"]]
    files += [layout.classifier_summary(d) for d in classifier_datasets(config)]
    files += [layout.training_metrics(name, seed) for name, seed in runs(config)]
    files += [layout.toy(name, role) for name in toys(config) for role in layout.TOY_FILES[name]]
    files += [path for name in experiments(config) for path in layout.experiment_files(name)]
    files += [layout.fid_reference(*reference) for reference in fid_references(config)]
    if "throughput" in config:
        files.append(layout.THROUGHPUT)
    return files


def final_outputs(config: Config) -> list[str]:
    """The files a complete run leaves in the results folder (the report's page apart): data, trained
    networks and their checkpoints, classifiers, experiments, toy studies and the throughput table."""
    files = [layout.dataset_tensors(d) for d in config["data"]["datasets"]]
    files += [layout.checkpoint(*point) for point in checkpoints(config)]
    files += [layout.training_metrics(name, seed) for name, seed in runs(config)]
    files += [layout.classifier_summary(d) for d in classifier_datasets(config)]
    files += [path for name in experiments(config) for path in layout.experiment_files(name)]
    files += [layout.toy(name, "summary") for name in toys(config)]
    if "throughput" in config:
        files.append(layout.THROUGHPUT)
    return _unique(files + report_inputs(config))


def report_page(config: Config) -> str:
    """The report's page, relative to the checkout (each profile has its own folder under reports/)."""
    return f"reports/{config['profile']}/index.html"


def job_threads(config: Config) -> int:
    """PyTorch threads of each training and sampling job (`threads_per_job`, default 1: Snakemake then runs
    --cores of them side by side, which drew more images per CPU-hour than fewer jobs on more threads)."""
    return config.get("threads_per_job", 1)

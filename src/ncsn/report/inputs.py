"""Every file of results/ that the report reads, for a given config: the report rule declares them as
its inputs (so Snakemake reruns whatever produces a missing one), and ``build_report`` checks them all
before it writes anything. A section builder reads nothing that is not listed here (tests/test_end_to_end.py
builds the report from a folder holding these files only).

Not listed, on purpose: Snakemake's benchmark files (results/benchmarks/), which the provenance section
reads when they exist; a benchmark is part of the job that writes it, not a file another rule can ask for.
"""

from __future__ import annotations

from pathlib import Path

# Which rule writes each folder: named in the message about a missing file.
PRODUCERS = {
    "data": "data",
    "classifier": "classifier",
    "train": "train",
    "toy": "toy_*",
    "experiments/table1": "table1",
    "experiments/figure1": "figure1",
    "experiments/figure2": "figure2",
    "experiments/samplers": "samplers",
    "throughput": "throughput",
}


def classifier_datasets(config: dict) -> list[str]:
    """Datasets whose domain classifier the study trains (those of evaluated and Fashion variants)."""
    if "evaluation" not in config:
        return []
    names = config["evaluation"]["variants"] + config.get("fashion", {}).get("variants", [])
    return sorted({config["variants"][v]["dataset"] for v in names})


def mnist_variants(config: dict) -> list[str]:
    return [name for name, v in config["variants"].items() if v["dataset"] == "mnist"]


def report_inputs(config: dict, results: str | Path = "results") -> list[Path]:
    r = Path(results)
    files = [r / "data" / f"{d}.json" for d in config["data"]["datasets"]]
    files += [r / "classifier" / f"{d}.json" for d in classifier_datasets(config)]
    files += [r / "train" / name / "metrics.csv" for name in mnist_variants(config)]
    if "toy" in config:
        toy = r / "toy"
        files += [toy / "score_field" / n for n in ("score_field.json", "errors.csv", "field.png", "errors.png")]
        files += [toy / "mixing" / n for n in ("mixing.json", "mode_weights_summary.csv", "samples.png")]
        files += [toy / "objective_cost" / n for n in ("cost.json", "cost.csv", "cost.png")]
        if "samplers" in config["toy"]:
            files += [toy / "samplers" / n for n in ("samplers.json", "samplers.png")]
    if "evaluation" in config:
        files += [
            r / "experiments" / "table1" / n for n in ("table1.json", "table1.csv", "table1.png", "table1_samples.png")
        ]
    if "sweep" in config:
        files += [
            r / "experiments" / "figure1" / n
            for n in ("figure1.json", "figure1.csv", "figure1_samples.png", "figure1_fid.png")
        ]
    if "fashion" in config:
        files += [r / "experiments" / "figure2" / n for n in ("figure2.json", "figure2.csv", "figure2.png")]
    if "samplers" in config:
        files += [r / "experiments" / "samplers" / n for n in ("samplers.json", "samplers.csv", "samplers.png")]
    if "throughput" in config:
        files.append(r / "throughput" / "throughput.csv")
    return files


def producer(path: Path, results: Path) -> str:
    relative = Path(path).relative_to(results).as_posix()
    for prefix, rule in sorted(PRODUCERS.items(), key=lambda kv: -len(kv[0])):
        if relative.startswith(prefix + "/"):
            return rule
    return "?"


def missing_inputs_message(missing: list[Path], results: Path) -> str:
    listed = "; ".join(f"{p} (rule {producer(p, results)})" for p in missing)
    return (
        f"the report needs {len(missing)} file(s) that do not exist: {listed}. Nothing was written and the "
        f"previous report is untouched. Run the workflow (make study / make laptop), which reruns the rules "
        f"named, then the report."
    )
